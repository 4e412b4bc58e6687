"""Cycle times: how long each step of the diagram takes (open to completion) and how long a
case takes from its report to its delisting (or closing), as medians and 90th percentiles.

Read from the statistics' totals (``webapp/stats/totals.py``): per day and per month, each
step's completions in duration buckets 5 % wide with the seconds they took (``facts.STEP``),
and the same for the cases ended (``facts.CASE_TIME``); a period reads its whole months'
rows and its other days' rows, corrected for the cases changed since the last fold. The
percentiles interpolate between the closest ranks as PostgreSQL's ``percentile_cont`` does,
each rank's value taken from its bucket, spread evenly around the bucket's mean: exact while
each bucket holds one duration (a handful of tasks), otherwise within 1 % (tested against
exact percentiles; the page shows tenths of a day).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from webapp.deadlines.calendar import LOCAL
from webapp.models import Task
from webapp.stats import facts, totals
from webapp.stats.figures import hidden_cases
from webapp.stats.totals import StatsTotal

DAY = 86400.0
# per key (an element and a bucket, or a bucket): completions and their seconds
Buckets = dict[str, list[int]]


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


def bucket_percentile(buckets: dict[int, tuple[int, int]], fraction: float) -> float:
    """``percentile`` over durations given as buckets (count, seconds): a bucket's durations
    are taken as spread evenly over its width around their mean (one duration: itself)."""
    ordered = sorted((b, n, seconds) for b, (n, seconds) in buckets.items() if n > 0)
    total = sum(n for _b, n, _s in ordered)
    if not total:
        raise ValueError("no values")
    position = fraction * (total - 1)

    def value(rank: int) -> float:
        seen = 0
        for b, n, seconds in ordered:
            if rank < seen + n:
                low, high = facts.bucket_bounds(b)
                spread = seconds / n + (high - low) * ((rank - seen + 0.5) / n - 0.5)
                return min(max(spread, low), high)
            seen += n
        raise ValueError(rank)  # pragma: no cover - rank < total

    low, high = math.floor(position), math.ceil(position)
    return value(low) + (value(high) - value(low)) * (position - low)


def _local_days(period: Period) -> tuple[dt.date, dt.date]:
    """The local days the period covers (it starts and ends at local midnights)."""
    return (
        period.start.astimezone(LOCAL).date(),
        (period.end - dt.timedelta(microseconds=1)).astimezone(LOCAL).date(),
    )


def _months(first: dt.date, last: dt.date) -> tuple[dt.date, dt.date] | None:
    """The first and last whole months of ``first``..``last`` (their first days), if any."""
    start = first if first.day == 1 else (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    end_next = (last + dt.timedelta(days=1)).replace(day=1)  # the month after the last whole one
    if last + dt.timedelta(days=1) != end_next:  # ``last`` is not a month's last day
        end_next = last.replace(day=1)
    if end_next <= start:
        return None
    return start, (end_next - dt.timedelta(days=1)).replace(day=1)


def _buckets(session: Session, daily: str, monthly: str, period: Period) -> Buckets:
    """Per key, the durations of ``daily`` in the period: whole months from ``monthly``."""
    first, last = _local_days(period)
    months = _months(first, last)
    if months is None:
        day_ranges = [(first, last)]
    else:
        after_months = (months[1].replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        day_ranges = [(first, months[0] - dt.timedelta(days=1)), (after_months, last)]
    day_ranges = [(a, b) for a, b in day_ranges if a <= b]

    def wanted(figure: str, day: dt.date) -> bool:
        if figure == monthly:
            return months is not None and months[0] <= day <= months[1]
        return figure == daily and any(a <= day <= b for a, b in day_ranges)

    def read(after: int) -> Buckets:
        t = StatsTotal
        where = [and_(t.figure == daily, t.day >= a, t.day <= b) for a, b in day_ranges]
        if months is not None:
            where.append(and_(t.figure == monthly, t.day >= months[0], t.day <= months[1]))
        found: Buckets = {}
        if where:
            for key, n, seconds in session.execute(
                select(t.key, func.sum(t.n), func.sum(t.cents))
                .where(t.scope == facts.ALL, t.figure.in_((daily, monthly)), or_(*where))
                .group_by(t.key)
            ):
                found[key] = [int(n), int(seconds)]
        for _scope, (figure, day, key, _prev), (n, _late, seconds) in totals.changes(
            session, facts.ALL, after, hidden_cases(session)
        ):
            if wanted(figure, day):
                row = found.setdefault(key, [0, 0])
                row[0] += n
                row[1] += seconds
        return found

    return totals.consistent(session, read)


def _title(session: Session, element: str) -> str:
    """The step's title, as its latest task has it (the diagram names the element): one probe
    of the index on (element, opened)."""
    latest = select(Task.title).where(Task.element_id == element).order_by(Task.created_at.desc()).limit(1)
    return session.scalar(latest) or element


def step_times(session: Session, period: Period) -> list[StepTimes]:
    """Per diagram element, the tasks completed in ``period``: count, p50 and p90 in days;
    the slowest step (by median) first."""
    by_element: dict[str, dict[int, tuple[int, int]]] = {}
    for key, (n, seconds) in _buckets(session, facts.STEP, facts.STEP_MONTH, period).items():
        element, _bar, bucket = key.rpartition("|")
        if n:
            by_element.setdefault(element, {})[int(bucket)] = (n, seconds)
    rows = [
        StepTimes(
            element,
            _title(session, element),
            sum(n for n, _s in buckets.values()),
            bucket_percentile(buckets, 0.5) / DAY,
            bucket_percentile(buckets, 0.9) / DAY,
        )
        for element, buckets in by_element.items()
    ]
    return sorted(rows, key=lambda r: (-r.p50_days, r.element_id))


def case_times(session: Session, period: Period) -> CaseTimes:
    """Cases delisted (or else closed) in ``period``: time from the report to that moment."""
    buckets = {
        int(key): (n, seconds)
        for key, (n, seconds) in _buckets(session, facts.CASE_TIME, facts.CASE_TIME_MONTH, period).items()
        if n
    }
    if not buckets:
        return CaseTimes(0, None, None)
    count = sum(n for n, _s in buckets.values())
    return CaseTimes(count, bucket_percentile(buckets, 0.5) / DAY, bucket_percentile(buckets, 0.9) / DAY)


def heat_level(p50: float, slowest: float, levels: int = 5) -> int:
    """0 (fast, green) .. levels-1 (slowest, red): the step's median against the slowest's."""
    if slowest <= 0:
        return 0
    return min(levels - 1, int(p50 / slowest * levels))
