from __future__ import annotations

import os

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp import catalog
from webapp.cases import attachments, intake, privacy, queries, search_filters, settlement
from webapp.cases.report_form import parse_report
from webapp.cases.versions import definition_of
from webapp.db import get_session
from webapp.errors import Invalid, NotFound
from webapp.models import ProcessVersion
from webapp.paging import page_arg
from webapp.templating import STAGES, locale
from webapp.transactions import atomic

bp = Blueprint("cases", __name__)


@bp.get("/cases")
@login_required
def index() -> ResponseReturnValue:
    status = request.args.get("status") or None
    query = request.args.get("q") or None
    page, limit, offset = page_arg()
    session = get_session()
    banks = search_filters.bank_names(session)
    processes = {key: spec.name(locale()) for key, spec in catalog.current().processes.items()}
    filters, errors = search_filters.from_args(request.args, banks=banks, stages=STAGES, processes=processes)
    cases = queries.list_cases(
        session,
        current_user,
        status=status,
        query=query,
        limit=limit,
        offset=offset,
        filters=search_filters.where(filters, current_app.config["BABEL_DEFAULT_TIMEZONE"]),
    )
    return render_template(
        "cases/index.html",
        cases=cases,
        status=status,
        q=query or "",
        page=page,
        more=len(cases) == limit,
        filters=filters,
        filter_errors=errors,
        banks=banks,
        stages=STAGES,
        processes=processes,
    )


@bp.post("/cases/by-identifier")
@login_required
def search_identifier() -> ResponseReturnValue:
    """The exact identifier search: posted, so that the identifier is in no URL; the list is
    then filtered by its digest."""
    try:
        digest = search_filters.digest_of(request.form.get("identifier", ""))
    except Invalid as err:
        flash(err.message, "error")
        return redirect(url_for("cases.index"), code=303)
    return redirect(url_for("cases.index", idh=digest), code=303)


@bp.route("/report", methods=["GET", "POST"])
@login_required
def report() -> ResponseReturnValue:
    session = get_session()
    form = intake.report_form(session, current_app.config["FORMS_DIR"])
    rows = min(max(request.args.get("rows", 3, type=int), 1), 50)
    if request.method == "GET":
        return render_template("cases/report.html", form=form, values={}, errors={}, rows=rows)
    payload = parse_report(form, request.form)
    try:
        result = atomic(
            session,
            lambda: intake.report_debtor(
                session,
                current_user,
                payload,
                forms_dir=current_app.config["FORMS_DIR"],
                processes_dir=current_app.config["PROCESSES_DIR"],
                form=form,
            ),
        )
    except Invalid as err:
        rows = max(rows, len(payload.get("loans", [])), 1)
        return render_template(
            "cases/report.html", form=form, values=request.form, errors=err.fields, error=err, rows=rows
        ), 422
    if result.created:
        flash(_("Case %(id)s opened.", id=result.case.id), "success")
    else:
        flash(
            _("The debtor already has an open case: the loans were added to case %(id)s.", id=result.case.id),
            "success",
        )
    return redirect(url_for("cases.show", case_id=result.case.id))


@bp.get("/cases/<int:case_id>")
@login_required
def show(case_id: int) -> ResponseReturnValue:
    return _case_page(case_id)


def _case_page(case_id: int, **extra: object) -> str:
    """The case page; the user's own unsettled loans feed the settlement form."""
    session = get_session()
    view = queries.case_view(session, current_user, case_id)
    own_unsettled = [
        ln for ln in view.loans if ln.bank_unit_code == current_user.unit_code and not ln.settled_at
    ]
    return render_template(
        "cases/show.html",
        view=view,
        case=view.case,
        own_unsettled=own_unsettled,
        may_reveal=privacy.may_reveal(session, current_user, view.case),
        **extra,
    )


@bp.get("/cases/<int:case_id>/diagram.bpmn")
@login_required
def diagram(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, current_user, case_id)
    version = session.get(ProcessVersion, case.process_version_id)
    if version is None:
        raise NotFound(_("Case not found."))
    return Response(definition_of(version).bpmn_xml, mimetype="application/xml")


@bp.post("/cases/<int:case_id>/settlement")
@login_required
def report_settlement(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, current_user, case_id)
    file = request.files.get("certificate_file")

    def work() -> settlement.SettlementResult:
        upload = None
        if file is not None and file.filename:
            upload = attachments.Upload(file.stream, file.filename, field="certificate_file")
        return settlement.report_settlement(
            session,
            current_user,
            case,
            request.form.get("certificate_no", ""),
            request.form.getlist("contract_nos") or None,
            upload,
            current_app.config["UPLOAD_DIR"],
        )

    try:
        result = atomic(session, work)
    except Invalid as err:
        return _case_page(case_id, settlement_errors=err.fields, error=err), 422
    if result.delivered:
        flash(
            _("Settlement reported: the office verifies the certificate, then the debtor is delisted."),
            "success",
        )
    elif result.all_settled:
        flash(_("Settlement recorded; the case is already being delisted."), "success")
    else:
        flash(_("Settlement recorded; other loans of the case are still outstanding."), "success")
    return redirect(url_for("cases.show", case_id=case_id))


@bp.get("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int) -> ResponseReturnValue:
    row = queries.readable_attachment(get_session(), current_user, attachment_id)
    # ?inline=1: a PDF or an image shown in the page (the task's submitted files); any other
    # type is always downloaded
    inline = request.args.get("inline") == "1" and row.content_type in attachments.PREVIEWABLE
    response = send_from_directory(
        os.path.abspath(current_app.config["UPLOAD_DIR"]),
        row.stored_name,
        mimetype=row.content_type,
        as_attachment=not inline,
        download_name=row.original_name,
    )
    if inline:
        # framed by this site's own pages only (the default headers forbid any frame)
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        # and nothing else: an uploaded file runs no script and loads nothing
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; object-src 'none'; "
            "frame-ancestors 'self'" + ("; sandbox" if row.content_type.startswith("image/") else "")
        )
    return response


@bp.post("/cases/<int:case_id>/reveal")
@login_required
def reveal(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, current_user, case_id)
    reason = request.form.get("reason", "")
    identifier = atomic(session, lambda: privacy.reveal_identifier(session, current_user, case, reason))
    return render_template("cases/revealed.html", case=case, identifier=identifier, reason=reason)
