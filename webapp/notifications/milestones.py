"""The reporting banks hear of every milestone of their cases.

The steps and the diagram are left as they are: the milestones are read from the history
events a step writes (``webapp.audit.chain.insert_events`` inserts them in one statement at
the step's end), and each becomes one notification per creditor bank, in the step's
transaction. Rejection, an invalid settlement certificate and the order to close without
settlement already notify the banks in the steps themselves; they are not repeated here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.cases.steps import creditor_banks
from webapp.deadlines.calendar import LOCAL
from webapp.models import Case, CaseEvent, Notification

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
# referral decisions that send the case to another authority ("monitor" keeps it)
REFERRALS = frozenset({"court", "police", "discipline", "tax"})
# outcomes the banks are already told of by the step that reaches them
TOLD_ALREADY = frozenset({"rejected"})
# the kinds of the events this module reads (a cheap test before anything else)
WATCHED = frozenset({"task_completed", "sanction_applied", "blacklist_left", "case_closed"})


def _milestone(
    session: Session, row: Mapping[str, Any], seen: set[tuple[int, str]]
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
        if element == "decide_referral" and submitted.get("referral_decision") in REFERRALS:
            return REFERRED, {"decision": submitted["referral_decision"]}
        return None
    if kind == "sanction_applied":
        # the first measure of the case: later ones are no milestone
        if (case_id, SANCTIONS_STARTED) in seen or _sanctioned_before(session, case_id):
            return None
        seen.add((case_id, SANCTIONS_STARTED))
        return SANCTIONS_STARTED, {"unit": row.get("unit_code")}
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


def _sanctioned_before(session: Session, case_id: int) -> bool:
    found = session.scalar(
        select(CaseEvent.id)
        .where(CaseEvent.case_id == case_id, CaseEvent.kind == "sanction_applied")
        .limit(1)
    )
    return found is not None


def notify(session: Session, rows: Iterable[Mapping[str, Any]]) -> list[Notification]:
    """Notifications to the creditor banks for the milestones among ``rows`` (history events
    about to be inserted, as column dictionaries), added to the session."""
    added: list[Notification] = []
    seen: set[tuple[int, str]] = set()
    banks: dict[int, list[str]] = {}
    with session.no_autoflush:
        for row in rows:
            if row.get("kind") not in WATCHED or row.get("case_id") is None:
                continue
            found = _milestone(session, row, seen)
            if found is None:
                continue
            kind, params = found
            case_id = int(row["case_id"])
            if case_id not in banks:
                banks[case_id] = creditor_banks(session, case_id)
            for bank in banks[case_id]:
                notification = Notification(unit_code=bank, case_id=case_id, kind=kind, params=params)
                session.add(notification)
                added.append(notification)
    return added
