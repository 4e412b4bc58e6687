"""The statistics' totals per scope and day, kept by folding each changed case's facts.

``stats_totals`` holds, per scope (all units, a unit, a bank), local day, figure, key and
``prev``, the sum of the facts (``webapp/stats/facts.py``) of every case in that scope;
``stats_case_facts`` holds each folded case's facts and scopes as they were folded. A case
changes only with an event in its history (the audit chain's rule: every change is
recorded), so the worker's timers lane folds, at every pass, the cases with events since the
last fold: their facts now, less their facts as folded, go into the totals (a case that left
a scope takes its facts out of it, a unit joining a case brings all of the case's facts in),
and the events folded through are marked, in one transaction.

A page reads its scope's sums from ``stats_totals`` (a few statements, each an index range of
a few thousand rows at most) and corrects them for the cases changed since the mark: their
facts now, less those folded. The figures are therefore those the tables hold at the moment of
reading, whatever the scope and however long the period, and the cost does not grow with the
number of cases. If a fold commits while a page reads, the page reads again (``generation``).

The cases an import is still writing are hidden: no fold passes the first event of a hidden
case (their ids are not final: an import that fails removes them), and the pages take the
folded facts of a case that is hidden now out of the sums.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from flask_babel import gettext as _
from sqlalchemy import BigInteger, Date, LargeBinary, String, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from webapp.cases.visibility import HIDING_BATCHES
from webapp.clock import now
from webapp.db import Base
from webapp.errors import DomainError
from webapp.models import Case, CaseEvent
from webapp.stats import facts
from webapp.stats.facts import CaseFacts, Key

# an event is folded this long after it was written: every step stamped before has committed
MARGIN = dt.timedelta(seconds=30)
# events folded by one worker pass (about 1,000 cases, under a second: the timers lane's deadlines
# wait no longer than that while a long history is folded)
EVENTS_PER_PASS = 10_000
# the cases whose facts are read and written together
CHUNK = 2_000
MARK_ID = 1
# a page counts the cases of at most this many events since the mark itself; further behind
# (a history not folded yet, after the migration or a drop), it says how far the folding is
PAGE_EVENTS_MAX = 100_000
T = TypeVar("T")


class NotFolded(DomainError):
    """The totals are too far behind the history for a page to make up the difference (a
    503 page saying how far the worker has come)."""

    status = 503

    def __init__(self, done: float) -> None:
        super().__init__(
            _(
                "The statistics are being prepared (%(done)s done); please try again in a few minutes.",
                done=f"{done:.0%}",
            )
        )
        self.done = done


# (scope, figure, day, key, prev) -> [n, late, cents]
Totals = dict[tuple[str, str, dt.date, str, dt.date], list[int]]


class StatsTotal(Base):
    """The sum of the facts of one scope, day, figure, key and ``prev``."""

    __tablename__ = "stats_totals"

    # a page reads one scope's figures, each over a range of days
    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    figure: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    prev: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    late: Mapped[int] = mapped_column(BigInteger)
    cents: Mapped[int] = mapped_column(BigInteger)


class StatsCaseFacts(Base):
    """A case's facts and scopes as last folded (compressed JSON)."""

    __tablename__ = "stats_case_facts"

    case_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    facts: Mapped[bytes] = mapped_column(LargeBinary)


class StatsMark(Base):
    """The one row saying through which event the totals are folded."""

    __tablename__ = "stats_mark"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger)
    generation: Mapped[int] = mapped_column(BigInteger)
    folded_at: Mapped[dt.datetime | None]


# --- a case's facts as stored ------------------------------------------------------------------


def encode(found: CaseFacts) -> bytes:
    rows = [[f, d.toordinal(), k, p.toordinal(), *v] for (f, d, k, p), v in sorted(found.facts.items())]
    return zlib.compress(json.dumps([sorted(found.scopes), rows], separators=(",", ":")).encode())


def decode(blob: bytes) -> CaseFacts:
    scopes, rows = json.loads(zlib.decompress(blob))
    return CaseFacts(
        frozenset(scopes),
        {
            (f, dt.date.fromordinal(d), k, dt.date.fromordinal(p)): (n, late, c)
            for f, d, k, p, n, late, c in rows
        },
    )


def folded(session: Session, ids: Iterable[int]) -> dict[int, CaseFacts]:
    """The folded facts of the cases ``ids``."""
    wanted = sorted(ids)
    found: dict[int, CaseFacts] = {}
    for i in range(0, len(wanted), 5000):
        part = wanted[i : i + 5000]
        for case_id, blob in session.execute(
            select(StatsCaseFacts.case_id, StatsCaseFacts.facts).where(StatsCaseFacts.case_id.in_(part))
        ):
            found[case_id] = decode(blob)
    return found


def difference(
    old: CaseFacts | None, new: CaseFacts | None, only: str | None = None
) -> Iterable[tuple[str, Key, tuple[int, int, int]]]:
    """What a case's change adds to each scope's sums (``only``: that scope's): the facts that
    changed in the scopes it stays in, all its facts in the scopes it joined, taken out of
    those it left."""
    old_scopes = old.scopes if old else frozenset()
    new_scopes = new.scopes if new else frozenset()
    old_facts = old.facts if old else {}
    new_facts = new.facts if new else {}
    zero = (0, 0, 0)
    changed = {}
    for key in old_facts.keys() | new_facts.keys():
        a, b = old_facts.get(key, zero), new_facts.get(key, zero)
        if a != b:
            changed[key] = (b[0] - a[0], b[1] - a[1], b[2] - a[2])
    for scope in old_scopes | new_scopes:
        if only is not None and scope != only:
            continue
        items: Iterable[tuple[Key, tuple[int, int, int]]]
        if scope in old_scopes and scope in new_scopes:
            items = changed.items()
        elif scope in new_scopes:
            items = new_facts.items()
        else:
            items = ((k, (-v[0], -v[1], -v[2])) for k, v in old_facts.items())
        for key, value in items:
            kept = facts.in_scope(scope, key)
            if kept is not None:
                yield scope, kept, value


# --- folding -----------------------------------------------------------------------------------


def _upsert(session: Session) -> Any:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(StatsTotal)


def _accumulate(sums: Totals, changes_: Iterable[tuple[str, Key, tuple[int, int, int]]]) -> None:
    for scope, key, value in changes_:
        row = sums[(scope, *key)]
        row[0] += value[0]
        row[1] += value[1]
        row[2] += value[2]


def _add_totals(session: Session, sums: Totals) -> None:
    """Add the sums to ``stats_totals`` (a row per key, created when missing)."""
    rows = [
        {"scope": s, "figure": f, "day": d, "key": k, "prev": p, "n": v[0], "late": v[1], "cents": v[2]}
        for (s, f, d, k, p), v in sums.items()
        if v != [0, 0, 0]
    ]
    if not rows:
        return
    stmt = _upsert(session)
    stmt = stmt.on_conflict_do_update(
        index_elements=["scope", "figure", "day", "key", "prev"],
        set_={
            "n": StatsTotal.n + stmt.excluded.n,
            "late": StatsTotal.late + stmt.excluded.late,
            "cents": StatsTotal.cents + stmt.excluded.cents,
        },
    )
    for i in range(0, len(rows), 5000):
        session.execute(stmt, rows[i : i + 5000])


def fold_cases(session: Session, ids: Sequence[int], sums: Totals | None = None) -> None:
    """Fold the cases ``ids`` as they are now: their change into the totals (or into
    ``sums``, written by the caller), their facts kept. Inside the caller's transaction."""
    own = sums is None
    sums = defaultdict(lambda: [0, 0, 0]) if sums is None else sums
    for i in range(0, len(ids), CHUNK):
        part = list(ids[i : i + CHUNK])
        now_facts = facts.of_cases(session, part)
        was = folded(session, part)
        for case_id in part:
            _accumulate(sums, difference(was.get(case_id), now_facts.get(case_id)))
        session.execute(delete(StatsCaseFacts).where(StatsCaseFacts.case_id.in_(part)))
        stored = [{"case_id": c, "facts": encode(f)} for c, f in now_facts.items()]
        if stored:
            session.execute(insert(StatsCaseFacts), stored)
    if own:
        _add_totals(session, sums)


def _lock_mark(session: Session, at: dt.datetime) -> StatsMark:
    """The mark row (migration 0026 writes it), locked until the transaction ends: a second
    worker waits here."""
    moved = session.execute(
        update(StatsMark).where(StatsMark.id == MARK_ID).values(folded_at=StatsMark.folded_at)
    )
    if getattr(moved, "rowcount", 1) == 0:  # pragma: no cover - a database not made by Alembic
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        row = {"id": MARK_ID, "event_id": 0, "generation": 0, "folded_at": None}
        session.execute(dialect.insert(StatsMark).values(row).on_conflict_do_nothing())
        session.execute(
            update(StatsMark).where(StatsMark.id == MARK_ID).values(folded_at=StatsMark.folded_at)
        )
    mark = session.get(StatsMark, MARK_ID, populate_existing=True)
    if mark is None:  # pragma: no cover - written just above
        raise LookupError("stats_mark")
    return mark


def _move_mark(session: Session, locked: StatsMark, event_id: int, at: dt.datetime | None) -> None:
    """The totals now hold every event through ``event_id``: a new generation (a page reading
    meanwhile reads again), committed."""
    locked.event_id, locked.generation, locked.folded_at = event_id, locked.generation + 1, at
    session.commit()


def cutoff(session: Session, at: dt.datetime) -> dt.datetime:
    """Events written before this moment may be folded: ``MARGIN`` ago, and before the first
    case an import still hides was opened."""
    hidden_since = session.scalar(
        select(func.min(Case.created_at)).where(Case.import_batch_id.in_(HIDING_BATCHES))
    )
    limit = at - MARGIN
    return min(limit, hidden_since) if hidden_since is not None else limit


def _foldable(session: Session, after: int, limit: dt.datetime, max_events: int | None) -> int | None:
    """The last event after ``after`` that may be folded now (None: none), so that every
    event up to it is folded at once: before the first one written at ``limit`` or later, and
    ``max_events`` at most."""
    # a case's events (a unit's own chain has events without a case)
    newer = (CaseEvent.id > after, CaseEvent.case_id.is_not(None))
    blocked = session.scalar(select(func.min(CaseEvent.id)).where(*newer, CaseEvent.created_at >= limit))
    upper = (
        (blocked - 1) if blocked is not None else session.scalar(select(func.max(CaseEvent.id)).where(*newer))
    )
    if max_events is not None and upper is not None:
        nth = session.scalar(
            select(CaseEvent.id).where(*newer).order_by(CaseEvent.id).offset(max_events - 1).limit(1)
        )
        if nth is not None:
            upper = min(upper, nth)
    return upper if upper is not None and upper > after else None


def fold_due(
    session: Session, at: dt.datetime | None = None, max_events: int | None = EVENTS_PER_PASS
) -> int:
    """Fold the cases with events since the mark (``max_events`` events at most), move the
    mark and commit; returns the cases folded. Most passes find nothing to fold and write
    nothing (no lock taken)."""
    at = at or now()
    if _foldable(session, mark(session)[0], cutoff(session, at), max_events) is None:
        session.rollback()  # the reads' transaction
        return 0
    locked = _lock_mark(session, at)
    after = locked.event_id  # another worker may have folded meanwhile
    upper = _foldable(session, after, cutoff(session, at), max_events)
    if upper is None:
        session.rollback()
        return 0
    ids = sorted(
        i
        for i in session.scalars(
            select(CaseEvent.case_id)
            .where(CaseEvent.id > after, CaseEvent.id <= upper, CaseEvent.case_id.is_not(None))
            .distinct()
        )
        if i is not None
    )
    fold_cases(session, ids)
    _move_mark(session, locked, upper, at)
    return len(ids)


def rebuild(
    session: Session, at: dt.datetime | None = None, echo: Callable[[str], None] | None = None
) -> int:
    """Fold every case again from nothing, in one transaction (the pages read the old totals
    until it commits); returns the cases folded."""
    at = at or now()
    locked = _lock_mark(session, at)
    limit = cutoff(session, at)
    session.execute(delete(StatsTotal))
    session.execute(delete(StatsCaseFacts))
    upper = _foldable(session, 0, limit, None) or 0
    hidden = select(Case.id).where(Case.import_batch_id.in_(HIDING_BATCHES))
    ids = list(session.scalars(select(Case.id).where(Case.id.not_in(hidden)).order_by(Case.id)))
    sums: Totals = defaultdict(lambda: [0, 0, 0])
    started = time.monotonic()
    step = 50_000
    for i in range(0, len(ids), step):
        fold_cases(session, ids[i : i + step], sums)
        if echo:
            echo(f"  {min(i + step, len(ids))} of {len(ids)} cases ({time.monotonic() - started:.0f} s)")
    _add_totals(session, sums)
    _move_mark(session, locked, upper, at)
    return len(ids)


def drop(session: Session) -> None:
    """Forget the totals: the pages count every case's facts as they read until folded again."""
    locked = _lock_mark(session, now())
    session.execute(delete(StatsTotal))
    session.execute(delete(StatsCaseFacts))
    _move_mark(session, locked, 0, None)


# --- reading -----------------------------------------------------------------------------------


def mark(session: Session) -> tuple[int, int, dt.datetime | None]:
    """The event folded through, the fold's generation and its moment."""
    row = session.execute(
        select(StatsMark.event_id, StatsMark.generation, StatsMark.folded_at).where(StatsMark.id == MARK_ID)
    ).first()
    return (int(row[0]), int(row[1]), row[2]) if row else (0, 0, None)


def consistent(session: Session, read: Callable[[int], T], attempts: int = 3) -> T:
    """``read(after)`` (the totals, corrected for the changes since the event ``after``),
    read again when a fold committed meanwhile (PostgreSQL reads each statement's own
    snapshot; SQLite's read transaction keeps one)."""
    for _attempt in range(attempts):
        after, generation, _at = mark(session)
        found = read(after)
        if mark(session)[1] == generation:
            break
    return found


def changes(
    session: Session, scope: str | None, after: int, hidden: list[int] | Any
) -> list[tuple[str, Key, tuple[int, int, int]]]:
    """What the sums of ``scope`` (None: of every scope) miss: the cases changed since the
    event ``after`` as they are now, less as folded; the folded facts of the cases hidden now
    taken out. Raises ``NotFolded`` when the history is too far ahead of the mark."""
    latest = session.scalar(select(func.max(CaseEvent.id))) or 0
    if latest - after > PAGE_EVENTS_MAX:
        raise NotFolded(after / latest)
    changed = {
        i
        for i in session.scalars(select(CaseEvent.case_id).where(CaseEvent.id > after).distinct())
        if i is not None
    }
    hidden_ids = set(hidden) if isinstance(hidden, list) else set(session.scalars(hidden))
    changed -= hidden_ids
    was = folded(session, changed | hidden_ids)
    now_facts = facts.of_cases(session, sorted(changed))
    return [
        change
        for case_id in changed | (hidden_ids & was.keys())
        for change in difference(was.get(case_id), now_facts.get(case_id), only=scope)
    ]


def check(session: Session, hidden: list[int] | Any) -> list[str]:
    """The totals against every shown case's facts counted again from the tables: the
    differences (none when the totals are right), after the changes not folded yet."""
    after, _generation, _at = mark(session)
    kept: Totals = defaultdict(lambda: [0, 0, 0])
    t = StatsTotal
    for scope, figure, day, key, prev, n, late, money in session.execute(
        select(t.scope, t.figure, t.day, t.key, t.prev, t.n, t.late, t.cents)
    ):
        kept[(scope, figure, day, key, prev)] = [n, late, money]
    _accumulate(kept, changes(session, None, after, hidden))
    hidden_q = hidden if not isinstance(hidden, list) else select(Case.id).where(Case.id.in_(hidden))
    ids = list(session.scalars(select(Case.id).where(Case.id.not_in(hidden_q)).order_by(Case.id)))
    counted: Totals = defaultdict(lambda: [0, 0, 0])
    for i in range(0, len(ids), CHUNK):
        for found in facts.of_cases(session, ids[i : i + CHUNK]).values():
            _accumulate(counted, difference(None, found))
    zero = [0, 0, 0]
    return [
        f"{' '.join(str(part) for part in k)}: kept {kept.get(k, zero)}, counted {counted.get(k, zero)}"
        for k in sorted(kept.keys() | counted.keys(), key=str)
        if kept.get(k, zero) != counted.get(k, zero)
    ]
