"""Unit assessment (单位考核, seed 004 §一): per unit and period, tasks done in time or late,
the average lateness, the supervision reminders (督办) received and the tasks left overdue,
scored with the weights of data/assessment.toml and ranked.

Every figure is an aggregate over the projected ``tasks`` and ``notifications`` tables.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from webapp.clock import now
from webapp.models import Notification, Task
from webapp.models.tasks import CANCELLED, COMPLETED
from webapp.stats import rollups
from webapp.stats.cycle_times import Period
from webapp.stats.figures import hidden_cases

WEIGHTS_FILE = Path(__file__).resolve().parent.parent / "data" / "assessment.toml"
DAY_SECONDS = Decimal(86400)
WEIGHT_NAMES = ("base", "on_time", "lateness", "reminder", "overdue_open")


@cache
def weights() -> dict[str, float]:
    with WEIGHTS_FILE.open("rb") as fh:
        data = tomllib.load(fh)["weights"]
    return {name: float(data[name]) for name in WEIGHT_NAMES}


@dataclass(frozen=True)
class UnitScore:
    rank: int
    unit_code: str
    completed: int
    on_time: int
    late: int
    lateness_days: float
    reminders: int
    overdue_open: int
    score: float

    @property
    def on_time_rate(self) -> float:
        return self.on_time / self.completed if self.completed else 1.0


def score(
    completed: int,
    on_time: int,
    lateness_days: float,
    reminders: int,
    overdue_open: int,
    w: dict[str, float] | None = None,
) -> float:
    """The formula documented in data/assessment.toml."""
    w = w or weights()
    rate = on_time / completed if completed else 1.0
    value = (
        w["base"]
        + w["on_time"] * 100 * rate
        - w["lateness"] * lateness_days
        - w["reminder"] * reminders
        - w["overdue_open"] * overdue_open
    )
    return round(min(100.0, max(0.0, value)), 1)


def days_late(session: Session) -> Any:
    """Days from a task's due date to its completion, as an SQL expression."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", Task.completed_at - Task.due_at) / 86400.0
    # SQLite keeps datetimes as UTC text, which julianday reads
    return func.julianday(Task.completed_at) - func.julianday(Task.due_at)


def ranking(session: Session, period: Period) -> list[UnitScore]:
    """Every unit with tasks or reminders in ``period``, best score first."""
    late = and_(Task.due_at.is_not(None), Task.completed_at > Task.due_at)
    hidden = hidden_cases(session)
    # the closed days folded into the daily rollups, the rest of the period counted live
    part = rollups.split(session, period.start, period.end)
    # per unit: completed, late, days of lateness summed over the late ones
    done: dict[str, list[Any]] = {
        unit: [n, n_late, seconds / DAY_SECONDS]
        for unit, (n, n_late, seconds) in rollups.totals(session, rollups.DONE, part).items()
    }
    reminded: dict[str, int] = {
        unit: n for unit, (n, _late, _seconds) in rollups.totals(session, rollups.REMINDER, part).items()
    }
    if part.live_since is not None:
        for unit, count, n_late, lateness in session.execute(
            select(
                Task.unit_code,
                func.count(),
                func.sum(case((late, 1), else_=0)),
                func.sum(case((late, days_late(session)), else_=None)),
            )
            .where(
                Task.status == COMPLETED,
                Task.completed_at >= part.live_since,
                Task.completed_at < period.end,
                Task.case_id.not_in(hidden),
            )
            .group_by(Task.unit_code)
        ):
            row = done.setdefault(unit, [0, 0, Decimal(0)])
            row[0] += int(count)
            row[1] += int(n_late or 0)
            row[2] += Decimal(lateness or 0)
        for unit, count in session.execute(
            select(Notification.unit_code, func.count())
            .where(
                Notification.kind == "reminder",
                Notification.created_at >= part.live_since,
                Notification.created_at < period.end,
            )
            .group_by(Notification.unit_code)
        ):
            reminded[unit] = reminded.get(unit, 0) + int(count)
    # open at the period's end (or now, for a period not over yet) and past due then
    moment = min(period.end, now())
    # still open at the moment: not completed, or completed after it; two statements, each an
    # index range (completed_at) whose index holds every column read (migration 0021)
    overdue: dict[str, int] = {}
    for still_open in (Task.completed_at.is_(None), Task.completed_at >= moment):
        for unit, count in session.execute(
            select(Task.unit_code, func.count())
            .where(
                still_open,
                Task.status != CANCELLED,
                Task.created_at < moment,
                Task.due_at < moment,
                Task.case_id.not_in(hidden),
            )
            .group_by(Task.unit_code)
        ):
            overdue[unit] = overdue.get(unit, 0) + int(count)
    return ranked(done, reminded, overdue)


def ranked(
    done: Mapping[str, Sequence[Any]], reminded: Mapping[str, int], overdue: Mapping[str, int]
) -> list[UnitScore]:
    """Each unit's score from its tasks completed (count, late, days late summed over the late
    ones), reminders and tasks open past due; best first, ties by unit code."""
    rows = []
    for unit in set(done) | set(reminded) | set(overdue):
        count, n_late, days_late = done.get(unit, (0, 0, 0))
        # the average lateness of the late ones (as AVG over them: none late, 0)
        on_time, lateness = count - n_late, float(days_late / n_late) if n_late else 0.0
        reminders, open_late = int(reminded.get(unit, 0)), int(overdue.get(unit, 0))
        value = score(count, on_time, lateness, reminders, open_late)
        rows.append((unit, count, on_time, lateness, reminders, open_late, value))
    rows.sort(key=lambda r: (-r[6], r[0]))
    return [
        UnitScore(i, unit, count, on_time, count - on_time, round(lateness, 2), reminders, open_late, value)
        for i, (unit, count, on_time, lateness, reminders, open_late, value) in enumerate(rows, 1)
    ]
