"""Working days: weekends and China's official holidays off, make-up working days on.

The calendar lives in the database (``calendar_years``, one row a year, entered by
administrators on /admin/calendar); ``webapp/data/holidays.toml`` is its seed, read while the
table is empty. Each process keeps the calendar it read (steps must not pay a query for it) and
reads it again when it would otherwise give an answer in a year it does not cover (a due date,
the banner): a year added in another process is seen at once. The worker re-reads it each pass.
"""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.catalog import DATA
from webapp.clock import now
from webapp.db import get_session
from webapp.models.calendar import CalendarYear

LOCAL = ZoneInfo("Asia/Shanghai")
SEED = DATA / "holidays.toml"
# the coming year is looked for from this month on (the State Council publishes in Nov/Dec)
WARN_FROM_MONTH = 11
_CACHE = "work_calendar"
_WARNED = "work_calendar_warned_on"


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

    def days_of(self, year: int) -> tuple[list[dt.date], list[dt.date]]:
        """The year's holidays and make-up working days, sorted."""
        return (
            sorted(d for d in self.holidays if d.year == year),
            sorted(d for d in self.workdays if d.year == year),
        )


def from_years(years: Iterable[tuple[int, Iterable[str], Iterable[str]]]) -> WorkCalendar:
    """A calendar from (year, holidays, workdays) with ISO dates."""
    holidays: set[dt.date] = set()
    workdays: set[dt.date] = set()
    covered: set[int] = set()
    for year, year_holidays, year_workdays in years:
        covered.add(int(year))
        holidays.update(dt.date.fromisoformat(d) for d in year_holidays)
        workdays.update(dt.date.fromisoformat(d) for d in year_workdays)
    return WorkCalendar(frozenset(holidays), frozenset(workdays), frozenset(covered))


def seed_years(path: str = str(SEED)) -> list[tuple[int, list[str], list[str]]]:
    with Path(path).open("rb") as fh:
        data = tomllib.load(fh)
    return [(int(y), list(v.get("holidays", [])), list(v.get("workdays", []))) for y, v in data.items()]


@cache
def from_file(path: str = str(SEED)) -> WorkCalendar:
    return from_years(seed_years(path))


def read(session: Session) -> WorkCalendar:
    """The calendar as stored now (the seed file while the table is empty), not cached.
    No autoflush: a step reads it in the middle of its changes, which go out in one flush."""
    with session.no_autoflush:
        rows = session.scalars(select(CalendarYear)).all()
    if not rows:
        return from_file()
    return from_years((r.year, r.holidays, r.workdays) for r in rows)


def seed(session: Session) -> None:
    """Copy the seed file into the table when it is empty (before the first change)."""
    if session.scalar(select(CalendarYear.year).limit(1)) is None:
        session.add_all(CalendarYear(year=y, holidays=h, workdays=w) for y, h, w in seed_years())
        session.flush()


def load() -> WorkCalendar:
    """The calendar this process works with (outside an app: the seed file)."""
    if not has_app_context():
        return from_file()
    cached = current_app.extensions.get(_CACHE)
    return cached if cached is not None else refresh()


def cached() -> WorkCalendar:
    """This process's copy without reading (the seed file before the first read): for use
    inside a flush, where no query may run."""
    found = current_app.extensions.get(_CACHE) if has_app_context() else None
    return found if found is not None else from_file()


def refresh(session: Session | None = None) -> WorkCalendar:
    calendar = read(session or get_session())
    current_app.extensions[_CACHE] = calendar
    return calendar


def forget() -> None:
    """Drop this process's copy (after a change is committed; between tests)."""
    if has_app_context():
        current_app.extensions.pop(_CACHE, None)


def covers(year: int) -> bool:
    """Whether the calendar has the year, reading it again before answering no."""
    if year in load().years:
        return True
    return has_app_context() and year in refresh().years


def local_today() -> dt.date:
    return now().astimezone(LOCAL).date()


def missing_year(today: dt.date | None = None) -> int | None:
    """The year the calendar should have and does not: this year, or from 1 November the
    coming one; None when nothing is missing."""
    today = today or local_today()
    wanted = [today.year] + ([today.year + 1] if today.month >= WARN_FROM_MONTH else [])
    return next((y for y in wanted if not covers(y)), None)


def upkeep(log: logging.Logger) -> None:
    """Each worker pass: read the calendar again, recompute provisional due dates when a year
    was added elsewhere, and warn once a day while a year is missing."""
    from webapp.deadlines import due  # due imports this module
    from webapp.transactions import atomic

    before = current_app.extensions.get(_CACHE)
    # a session of its own: the worker's is not left in a read transaction between passes
    with current_app.extensions["db_sessionmaker"]() as own:
        calendar = refresh(own)
    if before is not None and calendar.years - before.years:
        session = get_session()
        count = atomic(session, lambda: due.recompute_provisional(session, calendar))
        if count:
            log.warning("calendar: %s provisional due dates recomputed", count)
    year = missing_year()
    today = local_today()
    if year is not None and current_app.extensions.get(_WARNED) != today:
        current_app.extensions[_WARNED] = today
        log.warning(
            "calendar: %s has no holidays yet; due dates in %s are provisional. "
            "Enter the State Council's notice on /admin/calendar",
            year,
            year,
        )


def end_of_local_day(day: dt.date) -> dt.datetime:
    """23:59:59 local time of ``day``, as an aware UTC datetime."""
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=LOCAL).astimezone(dt.UTC)
