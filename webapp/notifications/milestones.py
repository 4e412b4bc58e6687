"""The reporting banks hear of every milestone of their cases.

The steps and the diagram are left as they are: the milestones are read from the history
events a step writes (``webapp.audit.chain.insert_events`` inserts them in one statement at
the step's end), and each becomes one notification per creditor bank, in the step's
transaction. Rejection, an invalid settlement certificate and the order to close without
settlement already notify the banks in the steps themselves; they are not repeated here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, event, select
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from webapp.deadlines.calendar import LOCAL
from webapp.models import Case, CaseEvent, Loan, Notification, User
from webapp.models.users import NOTIFY_EACH
from webapp.notifications import outbox

CONFIRMED = "case_confirmed"
DEADLINE_SET = "case_deadline_set"
SANCTIONS_STARTED = "case_sanctions_started"
REFERRED = "case_referred"
DELISTED = "case_delisted"
CLOSED = "case_closed"
KINDS = (CONFIRMED, DEADLINE_SET, SANCTIONS_STARTED, REFERRED, DELISTED, CLOSED)

# the steps that give the debtor a rectification deadline, and the field that holds its days
DEADLINE_STEPS = {
    "interview": "rectification_days",
    "official_talk": "rectification_days",
}
# the tasks that ask units to sanction (an official's employer: 三停五不), and those that ask
# another authority to answer a referral (the office's decision, or an official's discipline
# referral that follows the sanctions without one)
SANCTION_TASKS = frozenset({"apply_sanction", "three_stops"})
REFERRAL_TASKS = frozenset({"answer_referral", "tax_inspection"})
# the authorities a case is referred to: their unit codes are the referral decision's choices
REFERRALS = frozenset({"court", "police", "discipline", "tax"})
# outcomes the banks are already told of by the step that reaches them
TOLD_ALREADY = frozenset({"rejected"})
# the kinds of the events this module reads (a cheap test before anything else)
WATCHED = frozenset({"task_completed", "task_opened", "blacklist_left", "case_closed"})


EVENTS_TABLE = CaseEvent.__table__


def listen(maker: sessionmaker[Session]) -> None:
    """Watch the statements of the sessions ``maker`` makes (once per application)."""
    if not event.contains(maker, "do_orm_execute", _on_execute):
        event.listen(maker, "do_orm_execute", _on_execute)


def _on_execute(state: ORMExecuteState) -> None:
    # every statement passes here: the test is two attribute reads for all but an INSERT
    if not state.is_insert or getattr(state.statement, "table", None) is not EVENTS_TABLE:
        return
    params = state.parameters
    rows: Sequence[Any] = params if isinstance(params, list) else [params] if params else []
    if rows:
        notify(state.session, rows)


def _milestone(
    session: Session, row: Mapping[str, Any], seen: set[tuple[int, str]], sanctioning: Counter[int]
) -> tuple[str, dict[str, Any]] | None:
    """The milestone an event stands for, with its parameters, or None."""
    kind, case_id = row.get("kind"), int(row["case_id"])
    data: Mapping[str, Any] = row.get("data") or {}
    submitted: Mapping[str, Any] = data.get("submitted") or {}
    element = row.get("element_id")
    if kind == "task_completed":
        if element == "review" and submitted.get("review_decision") == "confirm":
            return CONFIRMED, {"classification": submitted.get("classification", "")}
        if element in DEADLINE_STEPS and submitted.get(DEADLINE_STEPS[element]):
            return DEADLINE_SET, {
                "days": submitted[DEADLINE_STEPS[element]],
                "step": element,
                **_due(session, case_id),
            }
        if element == "assess_rectification" and submitted.get("assessment") == "extend":
            return DEADLINE_SET, {
                "days": submitted.get("extension_days"),
                "step": "extension",
                **_due(session, case_id),
            }
        return None
    if kind == "task_opened":
        if element in REFERRAL_TASKS and row.get("unit_code") in REFERRALS:
            return REFERRED, {"decision": row["unit_code"]}
        # the sanctioning units' tasks open together: one notice for all
        if element not in SANCTION_TASKS or (case_id, SANCTIONS_STARTED) in seen:
            return None
        seen.add((case_id, SANCTIONS_STARTED))
        return SANCTIONS_STARTED, {"units": sanctioning[case_id]}
    case = session.get(Case, case_id)
    outcome = case.outcome if case is not None else None
    if kind == "blacklist_left":
        # a closing without settlement told the banks when it was ordered
        if outcome == "closed":
            return None
        return DELISTED, {"outcome": outcome or "delisted"}
    if kind == "case_closed":
        outcome = data.get("outcome") or outcome
        if outcome in TOLD_ALREADY or (outcome == "closed" and _closing_ordered_now(session, case_id)):
            return None
        return CLOSED, {"outcome": outcome}
    return None


def _due(session: Session, case_id: int) -> dict[str, str]:
    """The deadline's local date: the case's next timer once the step has set it."""
    case = session.get(Case, case_id)
    if case is None or case.next_timer_at is None:
        return {}
    return {"due": case.next_timer_at.astimezone(LOCAL).date().isoformat()}


def _closing_ordered_now(session: Session, case_id: int) -> bool:
    """Whether the closing was ordered in this very step (its event is the last one stored:
    the step's own events follow it): a case with nothing to lift closes at once, and the
    order's notice already says so."""
    last = session.scalar(
        select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq.desc()).limit(1)
    )
    return last == "closing_ordered"


def _banks(session: Session, case_id: int) -> tuple[list[str], dict[str, list[tuple[int, str]]]]:
    """The case's creditor banks, first reporter first (as ``steps.creditor_banks``), and
    their users who want an e-mail for each notification: one statement for both."""
    rows = session.execute(
        select(Loan.bank_unit_code, User.id, User.email)
        .outerjoin(
            User,
            and_(
                User.unit_code == Loan.bank_unit_code,
                User.active.is_(True),
                User.notify_by == NOTIFY_EACH,
                User.email.is_not(None),
            ),
        )
        .where(Loan.case_id == case_id)
        .order_by(Loan.id, User.id)
    )
    banks: list[str] = []
    recipients: dict[str, list[tuple[int, str]]] = {}
    for bank, user_id, email in rows:
        if bank not in banks:
            banks.append(bank)
        if user_id is not None and (user_id, email) not in recipients.setdefault(bank, []):
            recipients[bank].append((user_id, str(email)))
    return banks, recipients


def notify(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[Notification]:
    """Notifications to the creditor banks for the milestones among ``rows`` (history events
    about to be inserted, as column dictionaries), added to the session with their e-mails."""
    added: list[Notification] = []
    seen: set[tuple[int, str]] = set()
    banks: dict[int, tuple[list[str], dict[str, list[tuple[int, str]]]]] = {}
    sanctioning = Counter(
        int(row["case_id"])
        for row in rows
        if row.get("kind") == "task_opened" and row.get("element_id") in SANCTION_TASKS
    )
    with session.no_autoflush:
        for row in rows:
            if row.get("kind") not in WATCHED or row.get("case_id") is None:
                continue
            found = _milestone(session, row, seen, sanctioning)
            if found is None:
                continue
            kind, params = found
            case_id = int(row["case_id"])
            if case_id not in banks:
                banks[case_id] = _banks(session, case_id)
            units, recipients = banks[case_id]
            for bank in units:
                notification = Notification(unit_code=bank, case_id=case_id, kind=kind, params=params)
                session.add(notification)
                # its e-mails now, with the recipients just read: the flush need not look again
                outbox.queue_for(session, notification, recipients.get(bank, []))
                added.append(notification)
    return added
