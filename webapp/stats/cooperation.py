"""Each unit's cooperation on the cases of one process over a period (seed 004 §三(一): the
political-legal committee follows how every unit carries out the joint punishment of judgment
defaulters): tasks completed on time and late, the average lateness of the late ones, the
reminders received and the tasks left open past their due date, scored and ranked as the unit
assessment (``webapp.stats.assessment``) scores them.

The assessment's daily rollups count every process together, so these figures are counted
live from the projected ``tasks`` and ``notifications`` tables, restricted to the cases whose
version belongs to the process.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from webapp.clock import now
from webapp.models import Case, Notification, ProcessVersion, Task
from webapp.models.tasks import CANCELLED, COMPLETED
from webapp.stats.assessment import UnitScore, days_late, ranked
from webapp.stats.cycle_times import Period
from webapp.stats.figures import hidden_cases

# the default period: the last 90 days up to today
DEFAULT_DAYS = 90


def period_of(first: dt.date | None, last: dt.date | None, zone: ZoneInfo) -> tuple[dt.date, dt.date, Period]:
    """The days ``first``..``last``, both included, in ``zone`` (by default the last 90 days)."""
    last = last or now().astimezone(zone).date()
    first = first or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        first, last = last, first
    start = dt.datetime.combine(first, dt.time(), zone)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone)
    return first, last, Period(start, end)


def _cases_of(process_key: str) -> Any:
    versions = select(ProcessVersion.id).where(ProcessVersion.process_id == process_key)
    return select(Case.id).where(Case.process_version_id.in_(versions))


def ranking(session: Session, period: Period, process_key: str) -> list[UnitScore]:
    """Every unit with tasks or reminders on the process's cases in ``period``, best first."""
    of_process = _cases_of(process_key)
    hidden = hidden_cases(session)
    late = and_(Task.due_at.is_not(None), Task.completed_at > Task.due_at)
    done: dict[str, tuple[int, int, Decimal]] = {}
    for unit, count, n_late, lateness in session.execute(
        select(
            Task.unit_code,
            func.count(),
            func.sum(case((late, 1), else_=0)),
            func.sum(case((late, days_late(session)), else_=None)),
        )
        .where(
            Task.status == COMPLETED,
            Task.completed_at >= period.start,
            Task.completed_at < period.end,
            Task.case_id.in_(of_process),
            Task.case_id.not_in(hidden),
        )
        .group_by(Task.unit_code)
    ):
        done[unit] = (int(count), int(n_late or 0), Decimal(str(lateness or 0)))
    reminded: dict[str, int] = {
        unit: int(count)
        for unit, count in session.execute(
            select(Notification.unit_code, func.count())
            .where(
                Notification.kind == "reminder",
                Notification.created_at >= period.start,
                Notification.created_at < period.end,
                Notification.case_id.in_(of_process),
            )
            .group_by(Notification.unit_code)
        )
    }
    # open at the period's end (or now, for a period not over yet) and past due then
    moment = min(period.end, now())
    still_open = (Task.completed_at.is_(None)) | (Task.completed_at >= moment)
    overdue: dict[str, int] = {
        unit: int(count)
        for unit, count in session.execute(
            select(Task.unit_code, func.count())
            .where(
                still_open,
                Task.status != CANCELLED,
                Task.created_at < moment,
                Task.due_at < moment,
                Task.case_id.in_(of_process),
                Task.case_id.not_in(hidden),
            )
            .group_by(Task.unit_code)
        )
    }
    return ranked(done, reminded, overdue)
