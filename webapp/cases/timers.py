"""Firing due BPMN timers (rectification deadlines, monitoring periods).

Due cases are found by the indexed ``cases.next_timer_at`` column; each case fires in its
own transaction so one broken case does not hold up the others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import partial

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
                if atomic(session, partial(_fire_one, session, case_id, at)):
                    report.fired.append(case_id)
            except Conflict:
                continue  # another worker fired it at the same moment
            except StepFailed as err:
                report.failed.append((case_id, err.message))


def _fire_one(session: Session, case_id: int, at: dt.datetime) -> bool:
    case = steps.lock_case(session, case_id)
    # another worker may have fired it between the query and the lock
    if case.status != "open" or case.next_timer_at is None or case.next_timer_at > at:
        return False
    steps.fire_timers(session, case)
    return True
