"""Officials' monthly pay withholdings under "three stops, five nots" (三停五不扣划工资).

Once the organization unit has completed the case's ``three_stops`` task, the organization
unit or the official's employer records one entry a month: the salary and the amount
withheld to repay the loans. The official always keeps at least the local minimum living
wage (``[officials] minimum_living_wage`` in ``webapp/data/settings.toml``, set per county).
Entries stop when every loan of the case is settled or the case is closed.

What is withheld counts as repayment of the case's debt: it is recorded as repayments
(``webapp.cases.repayments``) of the unsettled loans, oldest overdue loan first, each taking
at most what it still owes; an amount above the whole outstanding debt is refused. Each entry
is one event of the case's history chain, naming the loans it repaid.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from webapp import catalog
from webapp.cases import history, repayments, steps
from webapp.cases.repayments import ZERO, parse_amount, parse_notes, refuse
from webapp.clock import now
from webapp.deadlines.calendar import LOCAL, local_today
from webapp.errors import Conflict, Forbidden, Invalid
from webapp.models import Case, Repayment, Task, User, Withholding
from webapp.models.progress import WITHHELD

ORGANIZATION = "organization"
THREE_STOPS = "three_stops"
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class WithholdingSummary:
    """The case's withholding entries (newest month first) and whether more may be recorded."""

    case_id: int
    entries: list[Withholding]
    total_withheld: Decimal
    minimum_wage: Decimal
    # the three_stops task is completed
    started: bool
    # started, the case open and a loan still unsettled
    accepting: bool


def minimum_living_wage() -> Decimal:
    """The county's minimum living wage (yuan a month) from settings.toml."""
    return Decimal(str(catalog.current().settings["officials"]["minimum_living_wage"]))


_THREE_STOPS_DONE = (
    select(Task.completed_at)
    .where(Task.case_id == bindparam("case_id"), Task.element_id == THREE_STOPS, Task.status == "completed")
    .order_by(Task.completed_at)
    .limit(1)
)
_ENTRIES = (
    select(Withholding).where(Withholding.case_id == bindparam("case_id")).order_by(Withholding.month.desc())
)


def three_stops_since(session: Session, case_id: int) -> str | None:
    """The month (YYYY-MM, China time) "three stops, five nots" was applied, or None."""
    done = session.scalar(_THREE_STOPS_DONE, {"case_id": case_id})
    return done.astimezone(LOCAL).strftime("%Y-%m") if done else None


def three_stops_done(session: Session, case_id: int) -> bool:
    return three_stops_since(session, case_id) is not None


def summary(session: Session, case_id: int) -> WithholdingSummary:
    """The case's entries; a plain read (the caller checked that its user sees the case)."""
    case = session.get(Case, case_id)
    entries = list(session.scalars(_ENTRIES, {"case_id": case_id}))
    started = three_stops_done(session, case_id)
    unsettled = any(p.outstanding > 0 for p in repayments.loan_progress(session, case_id))
    return WithholdingSummary(
        case_id=case_id,
        entries=entries,
        total_withheld=sum((Decimal(e.withheld) for e in entries), ZERO),
        minimum_wage=minimum_living_wage(),
        started=started,
        accepting=bool(case and case.status == "open" and started and unsettled),
    )


def may_record(user: User, case: Case) -> bool:
    """Caseworkers of the organization unit or of the official's employer."""
    return user.has_role("caseworker") and user.unit_code in {ORGANIZATION, case.debtor.employer_unit_code}


def _parse_month(value: object, errors: dict[str, list[str]]) -> str:
    month = str(value or "").strip()
    match = MONTH.match(month)
    if match is None:
        errors.setdefault("month", []).append(_("Enter the month as YYYY-MM."))
        return month
    today = local_today()
    if (int(match.group(1)), int(match.group(2))) > (today.year, today.month):
        errors.setdefault("month", []).append(_("The month cannot be in the future."))
    return month


def _paid_on(month: str) -> dt.date:
    """The month's last day, or today for the current month."""
    year, number = int(month[:4]), int(month[5:])
    last = dt.date(year, number, calendar.monthrange(year, number)[1])
    return min(last, local_today())


def record_withholding(
    session: Session,
    user: User,
    case: Case,
    month: object,
    salary: object,
    withheld: object,
    notes: object = None,
) -> Withholding:
    """Record one month's withholding and the repayments it makes (oldest loan first)."""
    # who may record comes before what was recorded
    if not may_record(user, case):
        raise Forbidden(
            _("Only the organization department or the official's employer records withholdings.")
        )
    if case.debtor.kind != "official":
        raise Conflict(_("Withholdings are recorded only on a public official's case."))
    errors: dict[str, list[str]] = {}
    month_text = _parse_month(month, errors)
    pay = parse_amount(salary, "salary", errors)
    kept_back = parse_amount(withheld, "withheld", errors, allow_zero=True)
    text = parse_notes(notes, errors)
    wage = minimum_living_wage()
    if "salary" not in errors and "withheld" not in errors:
        most = max(pay - wage, ZERO)
        if kept_back > pay:
            errors["withheld"] = [_("The amount withheld cannot be more than the salary.")]
        elif kept_back > most:
            errors["withheld"] = [
                _(
                    "The official must keep at least the local minimum living wage of %(wage)s yuan"
                    " a month: at most %(most)s yuan can be withheld from this salary.",
                    wage=f"{wage:,.2f}",
                    most=f"{most:,.2f}",
                )
            ]
    refuse(errors)
    case = steps.lock_case(session, case.id)
    if case.status != "open":
        raise Conflict(_("The case is closed."))
    since = three_stops_since(session, case.id)
    if since is None:
        raise Conflict(_('Withholdings are recorded once "three stops, five nots" has been applied.'))
    if month_text < since:
        message = _('Pay is withheld from %(month)s, when "three stops, five nots" was applied.', month=since)
        raise Invalid(message, {"month": [message]})
    loans = [p for p in repayments.loan_progress(session, case.id) if not p.settled]
    if not loans:
        raise Conflict(_("Every loan of the case is settled."))
    taken = session.scalar(
        select(Withholding.id).where(Withholding.case_id == case.id, Withholding.month == month_text)
    )
    if taken is not None:
        message = _("An entry for %(month)s is already recorded.", month=month_text)
        raise Invalid(message, {"month": [message]})
    owed = sum((p.outstanding for p in loans), ZERO)
    if kept_back > owed:
        message = _(
            "The amount withheld is above what is still owed on the case (%(owed)s yuan).",
            owed=f"{owed:,.2f}",
        )
        raise Invalid(message, {"withheld": [message]})
    entry = Withholding(
        case_id=case.id,
        month=month_text,
        salary=pay,
        withheld=kept_back,
        minimum_wage=wage,
        notes=text,
        unit_code=user.unit_code,
        recorded_by_id=user.id,
    )
    session.add(entry)
    session.flush()
    # oldest overdue loan first, each taking at most what it still owes
    left, shares = kept_back, []
    paid_on = _paid_on(month_text)
    for loan in sorted(loans, key=lambda p: (p.overdue_since, p.loan_id)):
        share = min(left, loan.outstanding)
        if share <= 0:
            continue
        session.add(
            Repayment(
                case_id=case.id,
                loan_id=loan.loan_id,
                amount=share,
                paid_on=paid_on,
                source=WITHHELD,
                withholding_id=entry.id,
                unit_code=user.unit_code,
                recorded_by_id=user.id,
            )
        )
        shares.append({"loan": loan.contract_no, "amount": str(share)})
        left -= share
    case.updated_at = now()
    history.append(
        session,
        case,
        "withholding_recorded",
        user,
        month=month_text,
        salary=str(pay),
        withheld=str(kept_back),
        minimum_wage=str(wage),
        repaid=shares,
    )
    session.flush()
    return entry
