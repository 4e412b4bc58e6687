"""Firing due BPMN timers (rectification deadlines, monitoring periods).

Due cases are found by the indexed ``cases.next_timer_at`` column; each case fires in its
own transaction so one broken case does not hold up the others. Several workers share the
work: a case another transaction holds is passed over at once (``SKIP LOCKED`` on
PostgreSQL) and left to it, or to the next run if that was a person's step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.cases import steps
from webapp.clock import now
from webapp.errors import Conflict, StepFailed
from webapp.models import Case
from webapp.transactions import atomic


@dataclass
class FireReport:
    fired: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    busy: list[int] = field(default_factory=list)  # held by another transaction: passed over


def due_case_ids(session: Session, at: dt.datetime, limit: int = 500) -> list[int]:
    return list(
        session.scalars(
            select(Case.id)
            .where(Case.status == "open", Case.next_timer_at <= at)
            .order_by(Case.next_timer_at)
            .limit(limit)
        )
    )


def fire_due(session: Session, at: dt.datetime | None = None, batch: int = 500) -> FireReport:
    """Fire every timer due at ``at`` (default now), in batches, each case in its own
    transaction; a case whose step fails is reported once and left for the next run."""
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
                outcome = atomic(session, partial(_fire_one, session, case_id, at))
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
    # another worker may have fired it between the query and the lock
    if case.status != "open" or case.next_timer_at is None or case.next_timer_at > at:
        return "not due"
    steps.fire_timers(session, case)
    return "fired"
