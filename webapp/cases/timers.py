"""Firing due BPMN timers (rectification deadlines, monitoring periods).

Due cases are found by the indexed ``cases.next_timer_at`` column; each case fires in its
own transaction so one broken case does not hold up the others. Several workers share the
work: a case another transaction holds is passed over at once (``SKIP LOCKED`` on
PostgreSQL) and left to it, or to the next run if that was a person's step.

A case whose timer step fails is not tried again at every pass (every second): it waits
``TIMER_BACKOFF`` (1, 5, 30 minutes, then hourly), counted by ``cases.timer_failures`` with
the next try in ``cases.timer_retry_at``, and one incident is recorded per streak of failures,
not one per try. A timer that fires again clears both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from webapp.cases import steps
from webapp.cases.visibility import SHOWN
from webapp.clock import now
from webapp.errors import Conflict, NotFound, StepFailed
from webapp.models import Case
from webapp.models.cases import OPEN
from webapp.transactions import atomic

# the wait after the 1st, 2nd, 3rd, ... failure in a row; the last one repeats
TIMER_BACKOFF: tuple[dt.timedelta, ...] = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=1),
)


@dataclass
class FireReport:
    fired: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    busy: list[int] = field(default_factory=list)  # held by another transaction: passed over


def due_case_ids(session: Session, at: dt.datetime, limit: int = 500) -> list[int]:
    return list(
        session.scalars(
            select(Case.id)
            .where(
                Case.status == OPEN,
                Case.next_timer_at <= at,
                or_(Case.timer_retry_at.is_(None), Case.timer_retry_at <= at),
                # a case an import is still writing waits: its timers fire once it appears
                SHOWN,
            )
            .order_by(Case.next_timer_at)
            .limit(limit)
        )
    )


def fire_due(session: Session, at: dt.datetime | None = None, batch: int = 500) -> FireReport:
    """Fire every timer due at ``at`` (default now), in batches, each case in its own
    transaction; a case whose step fails is reported once and waits its backoff."""
    at = at or now()
    report = FireReport()
    tried: set[int] = set()
    while True:
        ids = [i for i in due_case_ids(session, at, limit=batch + len(tried)) if i not in tried]
        if not ids:
            return report
        for case_id in ids:
            tried.add(case_id)
            try:
                outcome = atomic(
                    session,
                    partial(_fire_one, session, case_id, at),
                    incident=partial(_record_failure, at=at),
                )
            except Conflict:
                continue  # another worker fired it at the same moment (SQLite)
            except StepFailed as err:
                report.failed.append((case_id, err.message))
                continue
            if outcome == "fired":
                report.fired.append(case_id)
            elif outcome == "busy":
                report.busy.append(case_id)


def _fire_one(session: Session, case_id: int, at: dt.datetime) -> Literal["fired", "busy", "not due"]:
    case = steps.lock_case_if_free(session, case_id)
    if case is None:
        return "busy"
    # another worker may have fired it (or failed and put it off) between the query and the lock
    if not _due(case, at):
        return "not due"
    if case.timer_failures or case.timer_retry_at is not None:
        # set before the step, so the step's own write of the case row carries it
        case.timer_failures, case.timer_retry_at = 0, None
    steps.fire_timers(session, case)
    return "fired"


def _due(case: Case, at: dt.datetime) -> bool:
    return (
        case.status == OPEN
        and case.next_timer_at is not None
        and case.next_timer_at <= at
        and (case.timer_retry_at is None or case.timer_retry_at <= at)
    )


def retry_delay(failures: int) -> dt.timedelta:
    """The wait after the ``failures``-th failure in a row (1 for the first)."""
    return TIMER_BACKOFF[min(max(failures, 1), len(TIMER_BACKOFF)) - 1]


def _record_failure(session: Session, failure: StepFailed, *, at: dt.datetime) -> None:
    """Put the case off by its backoff; an incident only for the first failure of a streak
    (or when a step in between cleared the incident). Called after the step's rollback."""
    try:
        # waited for, not skipped: the holder is a short step, and the failure must be counted
        case = steps.lock_case(session, failure.case_id)
    except NotFound:
        return
    if not _due(case, at):
        return  # fired or put off by another worker meanwhile: nothing to count twice
    first = case.timer_failures == 0 or case.incident is None
    case.timer_failures += 1
    case.timer_retry_at = at + retry_delay(case.timer_failures)
    if first:
        steps.record_incident(session, failure)
    else:
        session.flush()
