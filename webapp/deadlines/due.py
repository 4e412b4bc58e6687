"""The due date of a task when it opens, from ``webapp/data/deadlines.toml``.

A due date counted in working days that ends in a year the calendar does not cover yet is
provisional (``tasks.due_provisional``, weekends only off there); it is recomputed from the
task's opening when an administrator adds the year (``recompute_provisional``).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from functools import cache
from typing import Any

from flask import has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.catalog import DATA
from webapp.deadlines import calendar as work_calendar
from webapp.deadlines.calendar import LOCAL, WorkCalendar, end_of_local_day
from webapp.models.tasks import OPEN, Task


@cache
def rules() -> dict[str, Any]:
    with (DATA / "deadlines.toml").open("rb") as fh:
        return tomllib.load(fh)


def _last_day(rule: dict[str, Any], start: dt.date, calendar: WorkCalendar) -> dt.date | None:
    if "working_days" in rule:
        return calendar.add_working_days(start, int(rule["working_days"]))
    if "days" in rule:
        return start + dt.timedelta(days=int(rule["days"]))
    return None


def due_at(element_id: str, opened: dt.datetime, calendar: WorkCalendar) -> dt.datetime | None:
    """End of the last day of the element's period; None when the element has no period."""
    rule = rules().get(element_id)
    if not isinstance(rule, dict):
        return None
    start = opened.astimezone(LOCAL).date()
    last = _last_day(rule, start, calendar)
    if last is None:
        return None
    if "working_days" in rule and last.year not in calendar.years and has_app_context():
        # the process's copy may predate a year added meanwhile: read it again (only here, so
        # that steps with due dates in covered years cost no query)
        fresh = work_calendar.refresh()
        if last.year in fresh.years:
            last = _last_day(rule, start, fresh) or last
    return end_of_local_day(last)


def is_provisional(element_id: str, due: dt.datetime | None, calendar: WorkCalendar | None = None) -> bool:
    """A working-day due date in a year the calendar does not cover."""
    rule = rules().get(element_id)
    if due is None or not isinstance(rule, dict) or "working_days" not in rule:
        return False
    calendar = calendar or work_calendar.cached()
    return due.astimezone(LOCAL).year not in calendar.years


def recompute_provisional(session: Session, calendar: WorkCalendar) -> int:
    """Recompute the provisional due dates of open tasks on ``calendar``; how many changed."""
    changed = 0
    for task in session.scalars(select(Task).where(Task.status == OPEN, Task.due_provisional.is_(True))):
        due = due_at(task.element_id, task.created_at, calendar)
        provisional = is_provisional(task.element_id, due, calendar)
        if due != task.due_at or provisional != task.due_provisional:
            task.due_at, task.due_provisional = due, provisional
            changed += 1
    session.flush()
    return changed


def due_soon_window() -> dt.timedelta:
    return dt.timedelta(hours=float(rules().get("reminders", {}).get("due_soon_hours", 24)))


def digest_time() -> dt.time:
    return dt.time.fromisoformat(str(rules().get("reminders", {}).get("digest_at", "08:30")))
