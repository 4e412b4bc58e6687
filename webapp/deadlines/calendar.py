"""Working days: weekends and China's official holidays off, make-up working days on."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from webapp.catalog import DATA

LOCAL = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    years: frozenset[int]

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, start: dt.date, count: int) -> dt.date:
        """The ``count``-th working day after ``start`` (``start`` itself not counted)."""
        day = start
        remaining = count
        while remaining > 0:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day


@cache
def load(path: str = str(DATA / "holidays.toml")) -> WorkCalendar:
    with Path(path).open("rb") as fh:
        data = tomllib.load(fh)
    holidays = {dt.date.fromisoformat(d) for year in data.values() for d in year.get("holidays", [])}
    workdays = {dt.date.fromisoformat(d) for year in data.values() for d in year.get("workdays", [])}
    return WorkCalendar(frozenset(holidays), frozenset(workdays), frozenset(int(y) for y in data))


def end_of_local_day(day: dt.date) -> dt.datetime:
    """23:59:59 local time of ``day``, as an aware UTC datetime."""
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=LOCAL).astimezone(dt.UTC)
