"""Cycle times: how long each step of the diagram takes (open to completion) and how long a
case takes from its report to its delisting (or closing), as medians and 90th percentiles.

Read from the projected ``tasks`` and ``cases`` tables, never from engine state. PostgreSQL
computes the percentiles itself (``percentile_cont``); SQLite has no such aggregate, so the
durations are fetched in one query and interpolated the same way in Python.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from webapp.cases.visibility import SHOWN
from webapp.models import Case, Task
from webapp.models.tasks import COMPLETED
from webapp.stats.figures import hidden_cases

DAY = 86400.0


@dataclass(frozen=True)
class Period:
    """Moments ``start <= t < end`` (aware datetimes)."""

    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class StepTimes:
    element_id: str
    title: str
    count: int
    p50_days: float
    p90_days: float


@dataclass(frozen=True)
class CaseTimes:
    count: int
    p50_days: float | None
    p90_days: float | None


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks, as PostgreSQL's ``percentile_cont``."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _seconds(later: Any, earlier: Any) -> Any:
    """Seconds between two datetime columns (PostgreSQL)."""
    return func.extract("epoch", later - earlier)


def step_times(session: Session, period: Period) -> list[StepTimes]:
    """Per diagram element, the tasks completed in ``period``: count, p50 and p90 in days;
    the slowest step (by median) first."""
    where = (
        Task.status == COMPLETED,
        Task.completed_at >= period.start,
        Task.completed_at < period.end,
        # the cases in sight by id: no join of each task to its case
        Task.case_id.not_in(hidden_cases(session)),
    )
    rows: list[StepTimes] = []
    if _is_postgres(session):
        seconds = _seconds(Task.completed_at, Task.created_at)
        query = (
            select(
                Task.element_id,
                func.min(Task.title),
                func.count(),
                func.percentile_cont(0.5).within_group(seconds),
                func.percentile_cont(0.9).within_group(seconds),
            )
            .where(*where)
            .group_by(Task.element_id)
        )
        for element, title, count, p50, p90 in session.execute(query):
            rows.append(StepTimes(element, title, count, float(p50) / DAY, float(p90) / DAY))
    else:
        durations: dict[str, list[float]] = {}
        titles: dict[str, str] = {}
        query = select(Task.element_id, Task.title, Task.created_at, Task.completed_at).where(*where)
        for element, title, opened, completed in session.execute(query):
            if completed is None:  # a completed task has its moment; typing does not know
                continue
            durations.setdefault(element, []).append((completed - opened).total_seconds())
            titles[element] = min(title, titles.get(element, title))
        for element, values in durations.items():
            rows.append(
                StepTimes(
                    element,
                    titles[element],
                    len(values),
                    percentile(values, 0.5) / DAY,
                    percentile(values, 0.9) / DAY,
                )
            )
    return sorted(rows, key=lambda r: (-r.p50_days, r.element_id))


def case_times(session: Session, period: Period) -> CaseTimes:
    """Cases delisted (or else closed) in ``period``: time from the report to that moment."""
    ended = func.coalesce(Case.delisted_at, Case.closed_at)
    # the moment in the period, said so that each column's index finds its rows
    where = (
        or_(
            and_(Case.delisted_at >= period.start, Case.delisted_at < period.end),
            and_(Case.delisted_at.is_(None), Case.closed_at >= period.start, Case.closed_at < period.end),
        ),
        SHOWN,
    )
    if _is_postgres(session):
        seconds = _seconds(ended, Case.created_at)
        count, p50, p90 = session.execute(
            select(
                func.count(),
                func.percentile_cont(0.5).within_group(seconds),
                func.percentile_cont(0.9).within_group(seconds),
            ).where(*where)
        ).one()
        if not count:
            return CaseTimes(0, None, None)
        return CaseTimes(count, float(p50) / DAY, float(p90) / DAY)
    # both columns read through their types (aware datetimes), the earlier of the two kept
    values = []
    for created, delisted, closed in session.execute(
        select(Case.created_at, Case.delisted_at, Case.closed_at).where(*where)
    ):
        ended_at = delisted or closed
        if ended_at is None:  # excluded by the query; typing does not know
            continue
        values.append((ended_at - created).total_seconds())
    if not values:
        return CaseTimes(0, None, None)
    return CaseTimes(len(values), percentile(values, 0.5) / DAY, percentile(values, 0.9) / DAY)


def heat_level(p50: float, slowest: float, levels: int = 5) -> int:
    """0 (fast, green) .. levels-1 (slowest, red): the step's median against the slowest's."""
    if slowest <= 0:
        return 0
    return min(levels - 1, int(p50 / slowest * levels))
