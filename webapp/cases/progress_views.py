"""Pages of the rectification progress on the case page: partial repayments and officials'
withholdings (routes on the cases blueprint; the rules live in ``webapp.cases.repayments``
and ``webapp.cases.withholdings``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.cases import attachments, queries, repayments, withholdings
from webapp.cases.views import _case_page, bp
from webapp.db import get_session
from webapp.errors import Invalid
from webapp.models import Case, Loan, Repayment, Withholding
from webapp.transactions import atomic


@dataclass(frozen=True)
class RepaymentPanel:
    summary: repayments.RepaymentSummary
    # the loans the user may record a repayment against now (empty: no form)
    loans: list[Loan]


@dataclass(frozen=True)
class WithholdingPanel:
    summary: withholdings.WithholdingSummary
    may_record: bool


def repayment_panel(case: Case) -> RepaymentPanel:
    session = get_session()
    loans = repayments.recordable_loans(session, current_user, case) if repayments.may_record(case) else []
    return RepaymentPanel(repayments.summary(session, case.id), loans)


def withholding_panel(case: Case) -> WithholdingPanel | None:
    """None for a debtor who is not a public official (the section is not shown)."""
    if case.debtor.kind != "official":
        return None
    session = get_session()
    found = withholdings.summary(session, case.id)
    return WithholdingPanel(found, found.accepting and withholdings.may_record(current_user, case))


@bp.context_processor
def progress_panels() -> dict[str, Any]:
    """Built only when the case page's sections ask for them."""
    return {"repayment_panel": repayment_panel, "withholding_panel": withholding_panel}


@bp.post("/cases/<int:case_id>/repayments")
@login_required
def record_repayment(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, current_user, case_id)
    file = request.files.get("evidence_file")

    def work() -> Repayment:
        upload = None
        if file is not None and file.filename:
            upload = attachments.Upload(file.stream, file.filename, field="evidence_file")
        return repayments.record_repayment(
            session,
            current_user,
            case,
            request.form.get("contract_no", ""),
            request.form.get("amount", ""),
            request.form.get("paid_on", ""),
            request.form.get("notes", ""),
            upload,
            current_app.config["UPLOAD_DIR"],
        )

    try:
        atomic(session, work)
    except Invalid as err:
        page = _case_page(case_id, repayment_errors=err.fields, repayment_values=request.form, error=err)
        return page, 422
    flash(_("Repayment recorded; the loan stays unsettled until its settlement is reported."), "success")
    return redirect(url_for("cases.show", case_id=case_id, _anchor="repayments"))


@bp.post("/cases/<int:case_id>/withholdings")
@login_required
def record_withholding(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, current_user, case_id)

    def work() -> Withholding:
        return withholdings.record_withholding(
            session,
            current_user,
            case,
            request.form.get("month", ""),
            request.form.get("salary", ""),
            request.form.get("withheld", ""),
            request.form.get("notes", ""),
        )

    try:
        atomic(session, work)
    except Invalid as err:
        page = _case_page(case_id, withholding_errors=err.fields, withholding_values=request.form, error=err)
        return page, 422
    flash(_("Withholding recorded and counted as repayment of the loans."), "success")
    return redirect(url_for("cases.show", case_id=case_id, _anchor="withholdings"))
