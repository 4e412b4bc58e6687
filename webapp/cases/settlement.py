"""Settlement (贷款结清): the creditor bank reports a loan settled with its certificate.

When every loan of the case is settled, the ``loan_settled`` message goes to the case,
whatever stage it is at; the diagram then goes to the office's verification and, if the
certificate is valid, to delisting. The units asked to lift sanctions come from the
sanctions table, which outlives the cancelled case body.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.cases import attachments, guarantees, history, steps
from webapp.cases.attachments import Upload
from webapp.clock import now
from webapp.errors import Conflict, Forbidden, Invalid, StepFailed
from webapp.models import Case, Loan, User


@dataclass(frozen=True)
class SettlementResult:
    settled_loans: list[str]
    all_settled: bool
    delivered: bool


def report_settlement(
    session: Session,
    user: User,
    case: Case,
    certificate_no: str,
    contract_nos: list[str] | None = None,
    upload: Upload | None = None,
    upload_dir: str = "",
) -> SettlementResult:
    """Record the settlement of the user's unit's loans (all, or those named); checks come
    before the certificate file is written."""
    # who may report comes before what was reported
    if not user.has_role("caseworker"):
        raise Forbidden(_("Only caseworkers report settlements."))
    own = list(
        session.scalars(select(Loan).where(Loan.case_id == case.id, Loan.bank_unit_code == user.unit_code))
    )
    if not own:
        raise Forbidden(_("Only a creditor of the case reports its settlement."))
    certificate_no = (certificate_no or "").strip()
    if not certificate_no or len(certificate_no) > 80:
        message = _("Enter the settlement certificate number.")
        raise Invalid(message, {"certificate_no": [message]})
    if upload is not None:
        attachments.check(upload)
    case = steps.lock_case(session, case.id)
    if case.status != "open":
        raise Conflict(_("The case is closed."))
    unsettled = [ln for ln in own if ln.settled_at is None]
    if contract_nos:
        unknown = set(contract_nos) - {ln.contract_no for ln in unsettled}
        if unknown:
            message = _("Not an unsettled loan of your unit: %(numbers)s", numbers=", ".join(sorted(unknown)))
            raise Invalid(message, {"contract_nos": [message]})
        unsettled = [ln for ln in unsettled if ln.contract_no in contract_nos]
    if not unsettled:
        raise Conflict(_("Every loan of your unit on this case is already settled."))
    attachment = attachments.store_on_case(session, upload_dir, upload, user, case)
    for loan in unsettled:
        loan.settled_at = now()
        loan.settlement_certificate_no = certificate_no
        loan.settlement_attachment_id = attachment.id if attachment else None
    numbers = [ln.contract_no for ln in unsettled]
    history.append(
        session,
        case,
        "settlement_reported",
        user,
        certificate_no=certificate_no,
        loans=numbers,
        attachment_id=attachment.id if attachment else None,
    )
    session.flush()
    remaining = session.scalar(select(Loan.id).where(Loan.case_id == case.id, Loan.settled_at.is_(None)))
    if remaining is not None:
        return SettlementResult(numbers, all_settled=False, delivered=False)
    lift_units = guarantees.units_to_lift(session, case.id)
    payload = {"certificate_no": certificate_no, "lift_units": lift_units}
    delivered = steps.deliver_settlement(session, case, payload, user)
    if not delivered and case.stage != "delisting":
        # rule 2: a settlement always wins; a diagram that does not take it is an incident
        raise StepFailed("rule 2: the case's diagram did not accept the settlement", case.id, user.id)
    return SettlementResult(numbers, all_settled=True, delivered=delivered)
