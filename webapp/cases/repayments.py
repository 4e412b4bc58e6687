"""Partial repayments (部分还款): rectification progress kept in the case's own tables.

While the case is open and the debtor is on the blacklist, the creditor bank (its own loans)
or the group office (any loan of the case) records what the debtor paid back. A loan's
outstanding amount is its reported principal and interest less the sum of its repayments
(``repayments`` rows; an official's withholdings add rows too, see
``webapp.cases.withholdings``). A repayment never settles a loan, even when it pays all that
is outstanding: settlement goes through the certificate (``webapp.cases.settlement``).

Each repayment is an event of the case's history chain. The case row is locked (and its
version bumped) while one is recorded, so two writers never both spend the same outstanding
amount.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from webapp.cases import attachments, history, steps
from webapp.cases.attachments import Upload
from webapp.clock import now
from webapp.deadlines.calendar import local_today
from webapp.errors import Conflict, Forbidden, Invalid
from webapp.models import Case, Loan, Repayment, User
from webapp.models.progress import REPORTED

OFFICE = "office"
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
# Numeric(18, 2): at most 16 digits before the point
MAX_DIGITS_BEFORE_POINT = 16
MAX_NOTES = 2000


@dataclass(frozen=True)
class LoanProgress:
    """One loan: what was reported, what was repaid, what is still outstanding (zero once
    the loan is settled by its certificate)."""

    loan_id: int
    contract_no: str
    bank_unit_code: str
    overdue_since: dt.date
    reported: Decimal
    repaid: Decimal
    outstanding: Decimal
    settled: bool


@dataclass(frozen=True)
class RepaymentLine:
    """One recorded repayment; ``source`` is "reported" (bank or office) or "withholding"."""

    id: int
    loan_id: int
    contract_no: str
    amount: Decimal
    paid_on: dt.date
    source: str
    unit_code: str
    notes: str | None
    attachment_id: int | None
    withholding_id: int | None
    recorded_at: dt.datetime


@dataclass(frozen=True)
class RepaymentSummary:
    """The case's repayment progress: per loan, every repayment (oldest first), totals."""

    case_id: int
    loans: list[LoanProgress]
    repayments: list[RepaymentLine]
    total_reported: Decimal
    total_repaid: Decimal
    total_outstanding: Decimal

    def loan(self, contract_no: str) -> LoanProgress | None:
        return next((ln for ln in self.loans if ln.contract_no == contract_no), None)


_LOANS = select(Loan).where(Loan.case_id == bindparam("case_id")).order_by(Loan.id)
_REPAID = (
    select(Repayment.loan_id, func.sum(Repayment.amount))
    .where(Repayment.case_id == bindparam("case_id"))
    .group_by(Repayment.loan_id)
)
_REPAYMENTS = (
    select(Repayment)
    .where(Repayment.case_id == bindparam("case_id"))
    .order_by(Repayment.paid_on, Repayment.id)
)


def progress(loan: Loan, repaid: Decimal) -> LoanProgress:
    reported = Decimal(loan.principal) + Decimal(loan.interest)
    settled = loan.settled_at is not None
    outstanding = ZERO if settled else max(reported - repaid, ZERO)
    return LoanProgress(
        loan.id,
        loan.contract_no,
        loan.bank_unit_code,
        loan.overdue_since,
        reported,
        repaid,
        outstanding,
        settled,
    )


def loan_progress(session: Session, case_id: int) -> list[LoanProgress]:
    """Each loan of the case with its repaid and outstanding amounts (three short reads)."""
    by_case = {"case_id": case_id}
    repaid = {loan_id: Decimal(total or 0) for loan_id, total in session.execute(_REPAID, by_case)}
    return [progress(loan, repaid.get(loan.id, ZERO)) for loan in session.scalars(_LOANS, by_case)]


def summary(session: Session, case_id: int) -> RepaymentSummary:
    """The repayment progress of a case. A plain read: the caller has already checked that
    its user may see the case (``queries.get_case``)."""
    loans = loan_progress(session, case_id)
    numbers = {ln.loan_id: ln.contract_no for ln in loans}
    lines = [
        RepaymentLine(
            r.id,
            r.loan_id,
            numbers.get(r.loan_id, ""),
            Decimal(r.amount),
            r.paid_on,
            r.source,
            r.unit_code,
            r.notes,
            r.attachment_id,
            r.withholding_id,
            r.recorded_at,
        )
        for r in session.scalars(_REPAYMENTS, {"case_id": case_id})
    ]
    return RepaymentSummary(
        case_id=case_id,
        loans=loans,
        repayments=lines,
        total_reported=sum((ln.reported for ln in loans), ZERO),
        total_repaid=sum((ln.repaid for ln in loans), ZERO),
        total_outstanding=sum((ln.outstanding for ln in loans), ZERO),
    )


def recordable_loans(session: Session, user: User, case: Case) -> list[Loan]:
    """The case's unsettled loans the user may record repayments against: all of them for an
    office caseworker, its own for a creditor bank's caseworker, none for anyone else."""
    if not user.has_role("caseworker"):
        return []
    loans = [ln for ln in session.scalars(_LOANS, {"case_id": case.id}) if ln.settled_at is None]
    if user.unit_code == OFFICE:
        return loans
    return [ln for ln in loans if ln.bank_unit_code == user.unit_code]


def may_record(case: Case) -> bool:
    """Whether the case takes repayments now: open and its debtor on the blacklist."""
    return case.status == "open" and case.blacklisted


# --- input ----------------------------------------------------------------------------------


def parse_amount(
    value: object, field: str, errors: dict[str, list[str]], *, allow_zero: bool = False
) -> Decimal:
    """A money amount in yuan with at most two decimals (a string or a JSON number), added
    to ``errors`` under ``field`` when it is not one."""
    amount: Decimal | None = None
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            amount = Decimal(str(value).strip().replace(",", ""))
        except InvalidOperation:
            amount = None
    if amount is None or not amount.is_finite():
        errors.setdefault(field, []).append(_("Enter an amount in yuan, e.g. 1200.50."))
        return ZERO
    if amount < 0 or (amount == 0 and not allow_zero):
        message = (
            _("The amount cannot be negative.") if allow_zero else _("The amount must be more than zero.")
        )
        errors.setdefault(field, []).append(message)
        return ZERO
    if amount.adjusted() >= MAX_DIGITS_BEFORE_POINT:
        errors.setdefault(field, []).append(_("The amount is too large."))
        return ZERO
    if amount != amount.quantize(CENT):
        errors.setdefault(field, []).append(_("At most two decimals (fen)."))
        return ZERO
    return amount.quantize(CENT)


def parse_notes(value: object, errors: dict[str, list[str]]) -> str | None:
    notes = str(value or "").strip()
    if len(notes) > MAX_NOTES:
        errors.setdefault("notes", []).append(_("At most %(n)s characters.", n=MAX_NOTES))
    return notes or None


def _parse_date(value: object, errors: dict[str, list[str]]) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value or "").strip())
    except ValueError:
        errors.setdefault("paid_on", []).append(_("Enter the date paid as YYYY-MM-DD."))
        return None


def refuse(errors: Mapping[str, list[str]]) -> None:
    if errors:
        first = next(iter(errors.values()))[0]
        raise Invalid(first, dict(errors))


# --- recording ------------------------------------------------------------------------------


def record_repayment(
    session: Session,
    user: User,
    case: Case,
    contract_no: str,
    amount: object,
    paid_on: object,
    notes: object = None,
    upload: Upload | None = None,
    upload_dir: str = "",
) -> Repayment:
    """Record a partial repayment of one of the case's loans; checks come before the
    evidence file is written. The repayment lowers the loan's outstanding amount but does
    not settle it."""
    # who may record comes before what was recorded
    if not user.has_role("caseworker"):
        raise Forbidden(_("Only caseworkers record repayments."))
    allowed = recordable_loans(session, user, case)
    if user.unit_code != OFFICE and not any(ln.bank_unit_code == user.unit_code for ln in case.loans):
        raise Forbidden(_("Only a creditor bank of the case or the office records repayments."))
    errors: dict[str, list[str]] = {}
    contract_no = str(contract_no or "").strip()
    loan = next((ln for ln in allowed if ln.contract_no == contract_no), None)
    if loan is None:
        message = (
            _("Choose the loan repaid.")
            if not contract_no
            else _("Not an unsettled loan of the case you may record: %(no)s", no=contract_no)
        )
        errors["contract_no"] = [message]
    value = parse_amount(amount, "amount", errors)
    day = _parse_date(paid_on, errors)
    if day is not None:
        if day > local_today():
            errors.setdefault("paid_on", []).append(_("The date paid cannot be in the future."))
        elif loan is not None and day < loan.overdue_since:
            errors.setdefault("paid_on", []).append(
                _(
                    "The date paid is before the loan was overdue (%(day)s).",
                    day=loan.overdue_since.isoformat(),
                )
            )
    text = parse_notes(notes, errors)
    refuse(errors)
    assert loan is not None  # noqa: S101 - refused above otherwise
    assert day is not None  # noqa: S101
    if upload is not None:
        attachments.check(upload)
    case = steps.lock_case(session, case.id)
    if not may_record(case):
        raise Conflict(
            _("Repayments are recorded while the case is open and the debtor is on the blacklist.")
        )
    current = next((p for p in loan_progress(session, case.id) if p.loan_id == loan.id), None)
    if current is None or current.settled:
        raise Conflict(_("The loan is already settled."))
    if value > current.outstanding:
        message = _(
            "The amount is above what is still outstanding on the loan (%(left)s yuan).",
            left=f"{current.outstanding:,.2f}",
        )
        raise Invalid(message, {"amount": [message]})
    attachment = attachments.store_on_case(session, upload_dir, upload, user, case)
    repayment = Repayment(
        case_id=case.id,
        loan_id=loan.id,
        amount=value,
        paid_on=day,
        source=REPORTED,
        attachment_id=attachment.id if attachment else None,
        notes=text,
        unit_code=user.unit_code,
        recorded_by_id=user.id,
    )
    session.add(repayment)
    # a change of the case: its version catches a concurrent writer on SQLite too
    case.updated_at = now()
    history.append(
        session,
        case,
        "repayment_recorded",
        user,
        loan=loan.contract_no,
        amount=str(value),
        paid_on=day.isoformat(),
        outstanding=str(current.outstanding - value),
        attachment_id=attachment.id if attachment else None,
        sha256=attachment.sha256 if attachment else None,
    )
    session.flush()
    return repayment
