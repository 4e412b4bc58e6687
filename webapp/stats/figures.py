"""The task force's figures for a period, read from the projected tables only.

Public API (kept stable: the bulletins import it)::

    figures(session, start, end, unit=None, bank=None, *, today=None) -> Figures

``start`` and ``end`` are local dates (Asia/Shanghai), both included. ``unit`` limits the
figures to the cases the unit takes part in (``case_participants``) and the per-unit tables
to that unit's rows; ``bank`` limits them to the cases with a loan of that bank, and the
amounts to that bank's loans. One of the two at most (each is a scope of the totals).

What each figure counts (a case counts in a period when the thing happened in it):

- ``reported``: debtors whose case was opened; ``confirmed``: cases entered on the blacklist;
  ``rejected``: cases closed as rejected at review;
- ``interviews``: warning interviews and organisation talks completed;
- ``deadlines_expired``: rectification deadlines passed (the assessment or three-stops task
  a passed deadline opens);
- ``sanctioned``: cases a unit applied a sanction to; ``measures`` per unit: cases and
  measures applied;
- ``referrals``: cases sent to a unit (a unit got a task of stage ``referral`` in the
  diagram; the steps of one unit's part count once); ``referral_answers``: units that
  answered a referral (``referral_answered`` events), counted the same way;
- ``settled``: cases settled and delisted; ``delisted``: cases leaving the blacklist for any
  reason (settled, market exit, closed without settlement);
- ``amount_reported``: principal and interest of loans reported; ``amount_recovered``:
  principal and interest of loans settled plus partial repayments paid in the period on loans
  not settled by its end; ``amount_outstanding``: at the period's end, loans reported and
  not settled (cases not rejected), less their repayments paid by then;
- ``stages`` and ``ages``: open cases now by stage and by age bucket (a snapshot, not of the
  period);
- ``overdue``: per unit, open tasks now and those past due; tasks completed in the period
  and those completed after their due time;
- ``weeks``: per week (Monday to Sunday, local) overlapping the period: reported, settled,
  amount recovered.

Every figure is read from the totals the worker keeps per scope and day
(``webapp/stats/totals.py``, from each case's facts, ``webapp/stats/facts.py``), corrected for
the cases changed since the last fold: a handful of statements over a few thousand rows
whatever the period or the scope, never a loop over cases, never the engine state. The totals
know days, not moments: the open tasks due earlier today and the open cases opened on the day
an age limit falls on are counted from ``tasks`` and ``cases`` (a day's rows).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Integer, and_, case, cast, func, literal, or_, select, true
from sqlalchemy.orm import Session

from webapp.cases.visibility import HIDING_BATCHES, SHOWN
from webapp.clock import now
from webapp.deadlines.calendar import LOCAL
from webapp.models import Case, CaseParticipant, Loan, Task
from webapp.models.tasks import OPEN
from webapp.stats import facts, totals
from webapp.stats.facts import Key
from webapp.stats.totals import StatsTotal

# open cases by age in days: (upper limit, label), the last without limit
AGE_BUCKETS: tuple[tuple[int | None, str], ...] = ((7, "< 7"), (30, "7-30"), (90, "30-90"), (None, "> 90"))
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class UnitMeasures:
    unit_code: str
    cases: int
    measures: int


@dataclass(frozen=True)
class UnitOverdue:
    unit_code: str
    open_tasks: int
    open_overdue: int
    completed: int
    completed_late: int

    @property
    def open_rate(self) -> float | None:
        """Share of the open tasks past due (None without open tasks)."""
        return self.open_overdue / self.open_tasks if self.open_tasks else None

    @property
    def late_rate(self) -> float | None:
        """Share of the tasks completed in the period that were completed late."""
        return self.completed_late / self.completed if self.completed else None


@dataclass(frozen=True)
class Week:
    monday: dt.date
    reported: int
    settled: int
    recovered: Decimal


@dataclass(frozen=True)
class _Moments:
    due_today_and_past: dict[str, int]
    # per age limit (7, 30, 90 days): open cases younger than it, on the day it falls on
    younger_on_limit_day: list[int]


@dataclass(frozen=True)
class Figures:
    start: dt.date
    end: dt.date
    unit: str | None
    bank: str | None
    reported: int
    confirmed: int
    rejected: int
    interviews: int
    deadlines_expired: int
    sanctioned: int
    measures: list[UnitMeasures]
    referrals: int
    referral_answers: int
    settled: int
    delisted: int
    amount_reported: Decimal
    amount_recovered: Decimal
    amount_outstanding: Decimal
    stages: list[tuple[str, int]]
    ages: list[tuple[str, int]]
    overdue: list[UnitOverdue]
    weeks: list[Week]


def local_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of the local day, as an aware UTC datetime."""
    return dt.datetime.combine(day, dt.time(), tzinfo=LOCAL).astimezone(dt.UTC)


# the cases an import is still writing (``SHOWN`` from the other side)
HIDDEN = select(Case.id).where(Case.import_batch_id.in_(HIDING_BATCHES))
# up to this many hidden cases are excluded by their ids, more by the subquery
HIDDEN_LIST_MAX = 1000


def hidden_cases(session: Session) -> Any:
    """What a row's ``case_id`` must not be in, so that a table other than ``cases`` needs no
    join to its case for ``SHOWN``: the ids of the cases hidden now (almost always none: only
    while an import runs), or, past ``HIDDEN_LIST_MAX``, the subquery itself."""
    batches = list(session.scalars(HIDING_BATCHES))
    if not batches:
        return []
    ids = list(
        session.scalars(select(Case.id).where(Case.import_batch_id.in_(batches)).limit(HIDDEN_LIST_MAX + 1))
    )
    return ids if len(ids) <= HIDDEN_LIST_MAX else HIDDEN


# the figures a period sums over its days (each thing counted once: ``prev`` before the period)
PERIOD = (
    facts.REPORTED,
    facts.CONFIRMED,
    facts.REJECTED,
    facts.SETTLED,
    facts.DELISTED,
    facts.INTERVIEW,
    facts.DEADLINE,
    facts.DONE,
    facts.REFERRAL,
    facts.ANSWER,
    facts.SANCTIONED,
    facts.SANCTIONED_BY,
    facts.MEASURES,
    facts.AMOUNT_REPORTED,
    facts.RECOVERED,
    facts.RECOVERED_BEFORE,
)
WEEKLY = (facts.REPORTED, facts.SETTLED, facts.RECOVERED, facts.RECOVERED_BEFORE)
STOCKS = (facts.OPEN_CASE, facts.OPEN_TASK)
# a unit's own rows of the per-unit tables (the overdue table, the measures)
OWN_UNIT = (facts.DONE, facts.OPEN_TASK, facts.MEASURES, facts.SANCTIONED_BY)
# open tasks by their due day: later, past (before today), today (past due or not: counted live)
LATER, PAST, TODAY = 0, 1, 2

Sums = dict[tuple[Any, ...], list[int]]


def _add(into: Sums, key: tuple[Any, ...], n: int, late: int, money: int) -> None:
    row = into.setdefault(key, [0, 0, 0])
    row[0] += int(n)
    row[1] += int(late)
    row[2] += int(money)


class _Reading:
    """One scope's sums for a period: from ``stats_totals`` and the changes not folded yet,
    each grouped the same way (the SQL and the Python below say the same)."""

    def __init__(
        self, session: Session, scope: str, unit: str | None, start: dt.date, end: dt.date, today: dt.date
    ) -> None:
        self.session, self.scope, self.unit = session, scope, unit
        self.start, self.end, self.today = start, end, today
        first = start - dt.timedelta(days=start.weekday())
        self.mondays = [first + dt.timedelta(weeks=i) for i in range((end - first).days // 7 + 1)]
        self.period: Sums = {}
        self.owed: Sums = {}
        self.stocks: Sums = {}
        self.weeks: Sums = {}

    # the filters
    def keep(self, figure: str, key: str) -> bool:
        """A unit's own rows of the per-unit tables (a bank's scope holds its own money only)."""
        return self.unit is None or figure not in OWN_UNIT or key == self.unit

    def _sql_keep(self) -> Any:
        if self.unit is None:
            return true()
        return or_(StatsTotal.figure.not_in(OWN_UNIT), StatsTotal.key == self.unit)

    def age(self, figure: str, day: dt.date) -> int:
        if figure == facts.OPEN_TASK:
            return PAST if day < self.today else TODAY if day == self.today else LATER
        days = (self.today - day).days
        younger = (i for i, (limit, _label) in enumerate(AGE_BUCKETS) if limit is not None and days < limit)
        return next(younger, len(AGE_BUCKETS) - 1)

    def _sql_age(self) -> Any:
        t = self.today
        return case(
            *[
                (and_(StatsTotal.figure == facts.OPEN_CASE, StatsTotal.day > t - dt.timedelta(days=limit)), i)
                for i, (limit, _label) in enumerate(AGE_BUCKETS)
                if limit is not None
            ],
            (StatsTotal.figure == facts.OPEN_CASE, len(AGE_BUCKETS) - 1),
            (StatsTotal.day < t, PAST),
            (StatsTotal.day == t, TODAY),
            else_=LATER,
        )

    def week(self, day: dt.date) -> int:
        return (day - self.mondays[0]).days // 7

    # the totals
    def read_totals(self) -> None:
        t, scope = StatsTotal, self.scope
        sums = (func.sum(t.n), func.sum(t.late), func.sum(t.cents))
        for figure, key, n, late, money in self.session.execute(
            select(t.figure, t.key, *sums)
            .where(
                t.scope == scope,
                t.day >= self.start,
                t.day <= self.end,
                t.figure.in_(PERIOD),
                t.prev < self.start,
                self._sql_keep(),
            )
            .group_by(t.figure, t.key)
        ):
            _add(self.period, (figure, key), n, late, money)
        for key, money in self.session.execute(
            select(t.key, func.sum(t.cents))
            .where(t.scope == scope, t.figure == facts.OWED, t.day <= self.end, self._sql_keep())
            .group_by(t.key)
        ):
            _add(self.owed, (key,), 0, 0, money)
        age = self._sql_age()
        for figure, key, bucket, n in self.session.execute(
            select(t.figure, t.key, age, func.sum(t.n))
            .where(t.scope == scope, t.figure.in_(STOCKS), self._sql_keep())
            .group_by(t.figure, t.key, age)
        ):
            _add(self.stocks, (figure, key, bucket), n, 0, 0)
        # each row in its week, and counted there when ``prev`` is before the week's Monday: the
        # database does both by day arithmetic, a few rows a week come back
        since = _days_since(self.session, t.day, self.mondays[0])
        week = since // 7
        for figure, index, n, money in self.session.execute(
            select(t.figure, week, func.sum(t.n), func.sum(t.cents))
            .where(
                t.scope == scope,
                t.figure.in_(WEEKLY),
                t.day >= self.mondays[0],
                t.day < self.mondays[-1] + dt.timedelta(weeks=1),
                _days_since(self.session, t.prev, self.mondays[0]) < week * 7,
                self._sql_keep(),
            )
            .group_by(t.figure, week)
        ):
            _add(self.weeks, (figure, int(index)), n, 0, money)

    def _weekly(self, figure: str, day: dt.date, prev: dt.date, n: int, money: int) -> None:
        index = self.week(day)
        if prev < self.mondays[index]:
            _add(self.weeks, (figure, index), n, 0, money)

    # the changes not folded yet, through the same filters
    def add_changes(self, rows: list[tuple[str, Key, tuple[int, int, int]]]) -> None:
        last = self.mondays[-1] + dt.timedelta(days=6)
        for _scope, (figure, day, key, prev), (n, late, money) in rows:
            if not self.keep(figure, key):
                continue
            if figure in PERIOD and self.start <= day <= self.end and prev < self.start:
                _add(self.period, (figure, key), n, late, money)
            if figure == facts.OWED and day <= self.end:
                _add(self.owed, (key,), 0, 0, money)
            if figure in STOCKS:
                _add(self.stocks, (figure, key, self.age(figure, day)), n, 0, 0)
            if figure in WEEKLY and self.mondays[0] <= day <= last:
                self._weekly(figure, day, prev, n, money)

    # what the figures read
    def count(self, figure: str) -> int:
        return sum(v[0] for (f, _k), v in self.period.items() if f == figure)

    def by_key(self, figure: str, index: int = 0) -> dict[str, int]:
        return {k: v[index] for (f, k), v in self.period.items() if f == figure and v[index]}

    def money(self, *figures_: str) -> Decimal:
        return _money(sum(v[2] for (f, _k), v in self.period.items() if f in figures_))


def _days_since(session: Session, column: Any, day: dt.date) -> Any:
    """Whole days from ``day`` to the date in ``column`` (negative before it)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(column - literal(day, Date), Integer)  # date - date is an integer
    return cast(func.julianday(column) - func.julianday(literal(day.isoformat())), Integer)


def _scope(unit: str | None, bank: str | None) -> str:
    if unit and bank:
        raise ValueError("the figures are of one unit or one bank, not both")
    if unit:
        return facts.unit_scope(unit)
    return facts.bank_scope(bank) if bank else facts.ALL


def figures(
    session: Session,
    start: dt.date,
    end: dt.date,
    unit: str | None = None,
    bank: str | None = None,
    *,
    today: dt.datetime | None = None,
) -> Figures:
    """The figures for the local days ``start`` to ``end`` (see the module docstring)."""
    scope = _scope(unit, bank)
    current = today or now()

    def read(after: int) -> tuple[_Reading, _Moments]:
        hidden = hidden_cases(session)
        reading = _Reading(session, scope, unit, start, end, current.astimezone(LOCAL).date())
        reading.read_totals()
        reading.add_changes(totals.changes(session, scope, after, hidden))
        return reading, _moments(session, current, hidden, unit, bank)

    reading, moments = totals.consistent(session, read)
    return _assemble(reading, start, end, unit, bank, moments)


def _case_in(case_id: Any, unit: str | None, bank: str | None) -> list[Any]:
    """The case ``case_id`` takes part in the scope: one index probe per row (the rows here
    are a day's, never the scope's hundreds of thousands of cases)."""
    where: list[Any] = []
    if unit:
        where.append(
            select(CaseParticipant.case_id)
            .where(CaseParticipant.case_id == case_id, CaseParticipant.unit_code == unit)
            .exists()
        )
    if bank:
        where.append(select(Loan.id).where(Loan.case_id == case_id, Loan.bank_unit_code == bank).exists())
    return where


def _moments(
    session: Session, current: dt.datetime, hidden: Any, unit: str | None, bank: str | None
) -> _Moments:
    """What the totals cannot say, knowing days and not moments: the open tasks due earlier
    today and past due now, per unit; and the open cases opened on the day ``N`` days ago but
    less than ``N`` days before now (younger than the day says), per age limit."""
    today = local_start(current.astimezone(LOCAL).date())
    where = [Task.status == OPEN, Task.due_at >= today, Task.due_at < current]
    where.append(Task.case_id.not_in(hidden))
    if unit:
        where.append(Task.unit_code == unit)
    where += _case_in(Task.case_id, None, bank)
    due = {
        code: int(n)
        for code, n in session.execute(
            select(Task.unit_code, func.count()).where(*where).group_by(Task.unit_code)
        )
    }
    limits = [limit for limit, _label in AGE_BUCKETS if limit is not None]
    ranges = [(current - dt.timedelta(days=limit), today - dt.timedelta(days=limit - 1)) for limit in limits]
    opened = [and_(Case.created_at > a, Case.created_at < b) for a, b in ranges]
    counts = session.execute(
        select(*[func.coalesce(func.sum(case((c, 1), else_=0)), 0) for c in opened]).where(
            Case.status == "open", SHOWN, or_(*opened), *_case_in(Case.id, unit, bank)
        )
    ).one()
    return _Moments(due, [int(n) for n in counts])


def _money(value_cents: Any) -> Decimal:
    return (Decimal(int(value_cents or 0)) / 100).quantize(ZERO)


def _assemble(
    r: _Reading,
    start: dt.date,
    end: dt.date,
    unit: str | None,
    bank: str | None,
    moments: _Moments,
) -> Figures:
    cases_by_unit = r.by_key(facts.SANCTIONED_BY)
    measures_by_unit = r.by_key(facts.MEASURES)
    measures = [
        UnitMeasures(code, cases_by_unit.get(code, 0), measures_by_unit.get(code, 0))
        for code in sorted(cases_by_unit.keys() | measures_by_unit.keys())
    ]
    stages: dict[str, int] = {}
    ages = [0] * len(AGE_BUCKETS)
    tasks: dict[str, list[int]] = {}
    for (figure, key, bucket), (n, _late, _cents) in r.stocks.items():
        if not n:
            continue
        if figure == facts.OPEN_CASE:
            stages[key] = stages.get(key, 0) + n
            ages[bucket] += n
        else:
            row = tasks.setdefault(key, [0, 0])
            row[0] += n
            row[1] += n if bucket == PAST else 0
    for code, n in moments.due_today_and_past.items():
        tasks.setdefault(code, [0, 0])[1] += n
    # the day N days ago counts as older than N days; those opened later that day are younger
    for i, n in enumerate(moments.younger_on_limit_day):
        ages[i + 1] -= n
        ages[i] += n
    done = r.by_key(facts.DONE)
    done_late = r.by_key(facts.DONE, 1)
    overdue = [
        UnitOverdue(
            code,
            tasks.get(code, [0, 0])[0],
            tasks.get(code, [0, 0])[1],
            done.get(code, 0),
            done_late.get(code, 0),
        )
        for code in sorted(tasks.keys() | done.keys())
    ]
    owed = sum(v[2] for v in r.owed.values())
    weeks = [
        Week(
            monday,
            r.weeks.get((facts.REPORTED, i), [0])[0],
            r.weeks.get((facts.SETTLED, i), [0])[0],
            _money(sum(r.weeks.get((f, i), [0, 0, 0])[2] for f in (facts.RECOVERED, facts.RECOVERED_BEFORE))),
        )
        for i, monday in enumerate(r.mondays)
    ]
    return Figures(
        start=start,
        end=end,
        unit=unit,
        bank=bank,
        reported=r.count(facts.REPORTED),
        confirmed=r.count(facts.CONFIRMED),
        rejected=r.count(facts.REJECTED),
        interviews=r.count(facts.INTERVIEW),
        deadlines_expired=r.count(facts.DEADLINE),
        sanctioned=r.count(facts.SANCTIONED),
        measures=measures,
        referrals=r.count(facts.REFERRAL),
        referral_answers=r.count(facts.ANSWER),
        settled=r.count(facts.SETTLED),
        delisted=r.count(facts.DELISTED),
        amount_reported=r.money(facts.AMOUNT_REPORTED),
        amount_recovered=r.money(facts.RECOVERED, facts.RECOVERED_BEFORE),
        amount_outstanding=max(_money(owed), ZERO),
        stages=sorted(stages.items()),
        ages=[(label, ages[i]) for i, (_limit, label) in enumerate(AGE_BUCKETS)],
        overdue=overdue,
        weeks=weeks,
    )
