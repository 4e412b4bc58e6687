"""The due date of a task when it opens, from ``webapp/data/deadlines.toml``."""

from __future__ import annotations

import datetime as dt
import tomllib
from functools import cache
from typing import Any

from webapp.catalog import DATA
from webapp.deadlines.calendar import LOCAL, WorkCalendar, end_of_local_day


@cache
def rules() -> dict[str, Any]:
    with (DATA / "deadlines.toml").open("rb") as fh:
        return tomllib.load(fh)


def due_at(element_id: str, opened: dt.datetime, calendar: WorkCalendar) -> dt.datetime | None:
    """End of the last day of the element's period; None when the element has no period."""
    rule = rules().get(element_id)
    if not isinstance(rule, dict):
        return None
    start = opened.astimezone(LOCAL).date()
    if "working_days" in rule:
        last = calendar.add_working_days(start, int(rule["working_days"]))
    elif "days" in rule:
        last = start + dt.timedelta(days=int(rule["days"]))
    else:
        return None
    return end_of_local_day(last)


def due_soon_window() -> dt.timedelta:
    return dt.timedelta(hours=float(rules().get("reminders", {}).get("due_soon_hours", 24)))


def digest_time() -> dt.time:
    return dt.time.fromisoformat(str(rules().get("reminders", {}).get("digest_at", "08:30")))
