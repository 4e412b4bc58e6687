"""Daily rollups of the unit assessment's figures, folded once per closed local day.

An assessment over a year would otherwise read every task completed in it (four million at a
million cases). Its figures only ever grow by rows stamped with the moment they happen, and
those rows do not change once written, so the rows of a local day (Asia/Shanghai) that has
ended can be counted once and kept:

- ``done`` per unit: tasks completed, those completed after their due time, and the seconds
  of lateness of those;
- ``reminder`` per unit: supervision reminders (督办) received.

(The statistics page's figures, whose rows do change after their day, are kept per scope by
``webapp/stats/totals.py``.)

The worker's timers lane calls ``fold_due`` at every pass: it folds the days that ended at
least ``MARGIN`` ago (so a step committing just after midnight is in) into ``stats_days`` and
moves ``stats_rollup_state.folded_through`` on, in one transaction. A page splits its period
with ``split``: the days through ``folded_through`` are summed from ``stats_days`` (a few
hundred rows at most), the rest of the period is counted live from the tables, with their
indexes, so the figures are the same as counting everything live.

The cases an import is still writing are hidden from the statistics. Their rows are stamped
after their case was opened, so a day is folded only when it ended before the first hidden
case was opened: a folded day never holds a hidden case's row. A history that was never
folded (after the migration) is folded ``DAYS_PER_PASS`` days a pass from its oldest day on,
or at once by ``flask stats rebuild-rollups``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Date, Numeric, String, and_, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from webapp.cases.visibility import HIDING_BATCHES
from webapp.clock import now
from webapp.db import Base
from webapp.deadlines.calendar import LOCAL
from webapp.models import Case, Notification, Task
from webapp.models.tasks import COMPLETED

DONE, REMINDER = "done", "reminder"
FIGURES = (DONE, REMINDER)
# a day is folded this long after its end: every step stamped before midnight has committed
MARGIN = dt.timedelta(minutes=15)
# days folded by one worker pass (a month: about a second at a million cases)
DAYS_PER_PASS = 31


class StatsDay(Base):
    """One figure of one closed local day (``key``: the unit, or empty)."""

    __tablename__ = "stats_days"

    figure: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    late: Mapped[int] = mapped_column(BigInteger)
    late_seconds: Mapped[Decimal] = mapped_column(Numeric(20, 6))


class RollupState(Base):
    """The one row saying through which local day ``stats_days`` is folded."""

    __tablename__ = "stats_rollup_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    folded_through: Mapped[dt.date | None] = mapped_column(Date)
    folded_at: Mapped[dt.datetime | None]


STATE_ID = 1


def local_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of the local day, as an aware UTC datetime."""
    return dt.datetime.combine(day, dt.time(), tzinfo=LOCAL).astimezone(dt.UTC)


def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(LOCAL).date()


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """A period ``since <= t < until`` cut in two: the local days ``first``..``last`` read
    from the rollups (none when ``first`` is None), and ``live_since``..``until`` counted from
    the tables (nothing when ``live_since`` is None)."""

    first: dt.date | None
    last: dt.date | None
    live_since: dt.datetime | None
    folded_at: dt.datetime | None = None

    @property
    def rolled(self) -> bool:
        return self.first is not None


def state(session: Session) -> tuple[dt.date | None, dt.datetime | None]:
    """Through which local day the rollups are folded, and when that was done."""
    row = session.execute(
        select(RollupState.folded_through, RollupState.folded_at).where(RollupState.id == STATE_ID)
    ).first()
    return (row[0], row[1]) if row else (None, None)


def split(session: Session, since: dt.datetime, until: dt.datetime) -> Split:
    """The period cut at the last folded day. Only whole local days are read from the
    rollups: a period not starting at a local midnight is counted live whole."""
    live = Split(None, None, since)
    first = local_day(since)
    if local_start(first) != since or until <= since:
        return live
    through, folded_at = state(session)
    if through is None or through < first:
        return live
    # the folded days are whole days of the period: those before the day ``until`` falls in
    last = min(through, local_day(until) - dt.timedelta(days=1))
    if last < first:
        return live
    after = local_start(last + dt.timedelta(days=1))
    return Split(first, last, after if after < until else None, folded_at)


def totals(session: Session, figure: str, part: Split) -> dict[str, tuple[int, int, Decimal]]:
    """Per key, the sums over the folded days of ``part``: count, late, seconds of lateness."""
    if part.first is None or part.last is None:
        return {}
    return {
        key: (int(n), int(late or 0), Decimal(seconds or 0))
        for key, n, late, seconds in session.execute(
            select(
                StatsDay.key, func.sum(StatsDay.n), func.sum(StatsDay.late), func.sum(StatsDay.late_seconds)
            )
            .where(StatsDay.figure == figure, StatsDay.day >= part.first, StatsDay.day <= part.last)
            .group_by(StatsDay.key)
        )
    }


def note(session: Session, since: dt.datetime, until: dt.datetime) -> dict[str, Any] | None:
    """What a page says of the rolled-up part of its period (None when all of it is live)."""
    part = split(session, since, until)
    if not part.rolled:
        return None
    return {"last": part.last, "folded_at": part.folded_at}


# --- folding ---------------------------------------------------------------------------------


def _bucket(column: Any, bounds: list[dt.datetime]) -> Any:
    """The index of the day of ``bounds`` holding the moment (the rows are in range)."""
    return case(*[(column < b, i) for i, b in enumerate(bounds[1:])], else_=len(bounds) - 2)


def _late_seconds(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", Task.completed_at - Task.due_at)
    # SQLite keeps datetimes as UTC text, which julianday reads
    return (func.julianday(Task.completed_at) - func.julianday(Task.due_at)) * 86400.0


def _rows(session: Session, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """The rollup rows of the local days ``first``..``last``: two aggregate statements,
    each an index range of the days' rows (migration 0021's indexes)."""
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    bounds = [local_start(d) for d in days] + [local_start(last + dt.timedelta(days=1))]
    since, until = bounds[0], bounds[-1]
    rows: list[dict[str, Any]] = []

    def add(figure: str, day_index: int, key: str | None, n: Any, late: Any = 0, seconds: Any = 0) -> None:
        rows.append(
            {
                "figure": figure,
                "day": days[day_index],
                "key": key or "",
                "n": int(n),
                "late": int(late or 0),
                "late_seconds": Decimal(str(seconds or 0)).quantize(Decimal("0.000001")),
            }
        )

    late = and_(Task.due_at.is_not(None), Task.completed_at > Task.due_at)
    day = _bucket(Task.completed_at, bounds)
    for index, unit, n, n_late, seconds in session.execute(
        select(
            day,
            Task.unit_code,
            func.count(),
            func.sum(case((late, 1), else_=0)),
            func.sum(case((late, _late_seconds(session)), else_=0)),
        )
        .where(Task.status == COMPLETED, Task.completed_at >= since, Task.completed_at < until)
        .group_by(day, Task.unit_code)
    ):
        add(DONE, index, unit, n, n_late, seconds)
    day = _bucket(Notification.created_at, bounds)
    for index, unit, n in session.execute(
        select(day, Notification.unit_code, func.count())
        .where(
            Notification.kind == "reminder", Notification.created_at >= since, Notification.created_at < until
        )
        .group_by(day, Notification.unit_code)
    ):
        add(REMINDER, index, unit, n)
    return rows


def ended_by(at: dt.datetime) -> dt.date:
    """The last local day that ended ``MARGIN`` before ``at``."""
    return local_day(at - MARGIN) - dt.timedelta(days=1)


def closed_through(session: Session, at: dt.datetime) -> dt.date:
    """The last local day that may be folded at ``at``: ended ``MARGIN`` ago, and before the
    first case an import still hides was opened."""
    last = ended_by(at)
    hidden_since = session.scalar(
        select(func.min(Case.created_at)).where(Case.import_batch_id.in_(HIDING_BATCHES))
    )
    if hidden_since is not None:
        last = min(last, local_day(hidden_since) - dt.timedelta(days=1))
    return last


def _oldest_day(session: Session) -> dt.date | None:
    """The first local day with a case or a reminder (no task is older than its case)."""
    moments = [
        session.scalar(select(func.min(Case.created_at))),
        session.scalar(select(func.min(Notification.created_at)).where(Notification.kind == "reminder")),
    ]
    found = [m for m in moments if m is not None]
    return local_day(min(found)) if found else None


def fold_due(
    session: Session,
    at: dt.datetime | None = None,
    max_days: int | None = DAYS_PER_PASS,
    progress: Callable[[dt.date, dt.date], None] | None = None,
) -> int:
    """Fold the closed days not folded yet, ``max_days`` at most (None: all), one commit per
    ``DAYS_PER_PASS`` days; returns the days folded. Two workers at once: one wins each
    commit, the other's transaction rolls back (the state row moves on only from where it was
    read)."""
    at = at or now()
    folded = 0
    while max_days is None or folded < max_days:
        through, _folded_at = state(session)
        if through is not None and through >= ended_by(at):
            session.rollback()  # the reads' transaction: nothing to fold (most passes)
            return folded
        closed = closed_through(session, at)
        if through is None:
            oldest = _oldest_day(session)
            through = (oldest - dt.timedelta(days=1)) if oldest is not None else closed
            through = min(through, closed)
            if not _save_state(session, None, through, at):
                return folded
        if through >= closed:
            session.rollback()  # the reads' transaction
            return folded
        step = DAYS_PER_PASS if max_days is None else min(DAYS_PER_PASS, max_days - folded)
        first, last = through + dt.timedelta(days=1), min(closed, through + dt.timedelta(days=step))
        rows = _rows(session, first, last)
        try:
            if rows:
                session.execute(insert(StatsDay), rows)
        except IntegrityError:  # another worker folded these days at the same moment
            session.rollback()
            return folded
        if not _save_state(session, through, last, at):
            return folded
        folded += (last - first).days + 1
        if progress:
            progress(first, last)
    return folded


def _save_state(session: Session, was: dt.date | None, through: dt.date, at: dt.datetime) -> bool:
    """Move the state from ``was`` to ``through`` and commit; False (rolled back) when another
    worker moved it first."""
    try:
        if was is None and session.get(RollupState, STATE_ID) is None:
            session.execute(insert(RollupState).values(id=STATE_ID, folded_through=through, folded_at=at))
        else:
            moved = session.execute(
                update(RollupState)
                .where(
                    RollupState.id == STATE_ID,
                    RollupState.folded_through.is_(None)
                    if was is None
                    else RollupState.folded_through == was,
                )
                .values(folded_through=through, folded_at=at)
                .execution_options(synchronize_session=False)
            )
            if getattr(moved, "rowcount", 1) != 1:
                session.rollback()
                return False
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def drop(session: Session) -> None:
    """Forget the rollups: the pages count every day live until they are folded again."""
    session.execute(delete(StatsDay))
    session.execute(delete(RollupState))
    session.commit()


def rebuild(
    session: Session, at: dt.datetime | None = None, echo: Callable[[str], None] | None = None
) -> int:
    """Forget the rollups and fold every closed day again (after a restore, or to check)."""
    drop(session)

    def told(first: dt.date, last: dt.date) -> None:
        if echo:
            echo(f"  folded {first.isoformat()} .. {last.isoformat()}")

    return fold_due(session, at, None, told)
