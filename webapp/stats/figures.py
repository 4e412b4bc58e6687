"""The task force's figures for a period, read from the projected tables only.

Public API (kept stable: the bulletins import it)::

    figures(session, start, end, unit=None, bank=None, *, today=None) -> Figures

``start`` and ``end`` are local dates (Asia/Shanghai), both included. ``unit`` limits the
figures to the cases the unit takes part in (``case_participants``) and the per-unit tables
to that unit's rows; ``bank`` limits them to the cases with a loan of that bank, and the
amounts to that bank's loans. Both may be given.

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

Each figure is a handful of aggregate statements (GROUP BY, CASE buckets computed by the
database), never a loop over cases, and never the engine state. Each statement reads only the
rows of its period through an index on the moment it counts (migration 0021), and the rows of
tables other than ``cases`` are kept to the scope by their ``case_id`` (``_of_cases``), without
joining each to its case: a million cases stay out of a month's figures. For all units, the
interviews, the deadlines passed and the tasks completed (on time or late) of the closed local
days come from the daily rollups (``webapp/stats/rollups.py``), the rest of the period live.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, literal, or_, select, true
from sqlalchemy.orm import Session, aliased

from webapp.cases.referrals import chain_elements
from webapp.cases.visibility import HIDING_BATCHES, SHOWN
from webapp.clock import now
from webapp.deadlines.calendar import LOCAL
from webapp.models import Case, CaseEvent, CaseParticipant, Loan, Sanction, Task
from webapp.models.progress import Repayment
from webapp.models.tasks import COMPLETED, OPEN
from webapp.stats import rollups

# the talks the debtor is summoned to (stage interview or official_talk in the diagram), and
# the tasks a passed rectification deadline opens (after rectification_deadline and
# official_deadline; the worker's timer events do not name their element): rollups.py has them
INTERVIEW_ELEMENTS = rollups.INTERVIEW_ELEMENTS
DEADLINE_ELEMENTS = rollups.DEADLINE_ELEMENTS
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


def _between(column: Any, start: dt.datetime, end: dt.datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


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


def _scope(unit: str | None, bank: str | None) -> ColumnElement[bool]:
    """The cases the figures are about (as a condition on ``Case``)."""
    clauses: list[ColumnElement[bool]] = [SHOWN]
    if unit:
        clauses.append(Case.id.in_(select(CaseParticipant.case_id).where(CaseParticipant.unit_code == unit)))
    if bank:
        clauses.append(Case.id.in_(select(Loan.case_id).where(Loan.bank_unit_code == bank)))
    return and_(*clauses)


def _of_cases(case_id: Any, hidden: Any, unit: str | None, bank: str | None) -> ColumnElement[bool]:
    """The rows (of a table with ``case_id``) of the cases in scope: ``_scope`` by case id."""
    clauses: list[ColumnElement[bool]] = [case_id.not_in(hidden)]
    if unit:
        clauses.append(case_id.in_(select(CaseParticipant.case_id).where(CaseParticipant.unit_code == unit)))
    if bank:
        clauses.append(case_id.in_(select(Loan.case_id).where(Loan.bank_unit_code == bank)))
    return and_(*clauses)


# before any row: what a thing's last occurrence is when it has none
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _not_seen(
    model: Any, earlier: Any, moment: str, same: Sequence[str], since: Any, live: Any, where: Any = None
) -> ColumnElement[bool]:
    """The live part's rows whose thing (the columns ``same``) did not occur from ``since`` to
    ``live``: its last occurrence before ``live`` is before ``since`` (or it has none). Said as
    a scalar subquery, so that the database looks up each live row's own earlier rows through
    the index on its case or debtor instead of hashing every row of the period."""
    column = getattr(earlier, moment)
    last = (
        select(func.max(column))
        .where(*[getattr(earlier, c) == getattr(model, c) for c in same], column < live)
        .where(true() if where is None else where)
        .scalar_subquery()
    )
    return func.coalesce(last, literal(EPOCH, column.type)) < since


def _bucket(column: Any, bounds: Sequence[Any]) -> Any:
    """The index of the interval of ``bounds`` holding the value (-1 before the first)."""
    return case(*[(column < b, i - 1) for i, b in enumerate(bounds)], else_=len(bounds) - 1)


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
    since, until = local_start(start), local_start(end + dt.timedelta(days=1))
    current = today or now()
    scope = _scope(unit, bank)
    hidden = hidden_cases(session)

    # all units: the closed days folded into the daily rollups, the rest counted live
    part = (
        rollups.split(session, since, until)
        if unit is None and bank is None
        else rollups.Split(None, None, since)
    )
    created = _between(Case.created_at, since, until)
    blacklisted = _between(Case.blacklisted_at, since, until)
    closed = _between(Case.closed_at, since, until)
    delisted_in = _between(Case.delisted_at, since, until)
    flows = (
        _count(blacklisted),
        _count(and_(Case.outcome == "rejected", closed)),
        _count(and_(Case.outcome == "delisted", delisted_in)),
        _count(delisted_in),
    )
    if not part.rolled:
        reported, confirmed, rejected, settled, delisted = session.execute(
            select(func.count(func.distinct(case((created, Case.debtor_id)))), *flows).where(
                scope, or_(created, blacklisted, closed, delisted_in)
            )
        ).one()
    else:
        # the debtors reported on the folded days, once each, and those of the live part not
        # reported on them
        reported = sum(rollups.distinct(session, rollups.REPORTED, part, start).values())
        if part.live_since is not None:
            new_debtor = _not_seen(Case, aliased(Case), "created_at", ("debtor_id",), since, part.live_since)
            reported += int(
                session.scalar(
                    select(func.count(func.distinct(Case.debtor_id))).where(
                        scope, _between(Case.created_at, part.live_since, until), new_debtor
                    )
                )
                or 0
            )
        confirmed, rejected, settled, delisted = session.execute(
            select(*flows).where(scope, or_(blacklisted, closed, delisted_in))
        ).one()

    referral_ids = sorted({e for chain in chain_elements(session).values() for e in chain.referrals})
    referral = Task.element_id.in_(referral_ids) if referral_ids else false()
    task_scope = _of_cases(Task.case_id, hidden, unit, bank)
    interviews = rollups.count(session, rollups.INTERVIEW, part)
    deadlines = rollups.count(session, rollups.DEADLINE, part)
    if part.live_since is not None:
        interview = and_(
            Task.element_id.in_(INTERVIEW_ELEMENTS),
            Task.status == COMPLETED,
            _between(Task.completed_at, part.live_since, until),
        )
        deadline = and_(
            Task.element_id.in_(DEADLINE_ELEMENTS), _between(Task.created_at, part.live_since, until)
        )
        live_interviews, live_deadlines = session.execute(
            select(_count(interview), _count(deadline)).where(or_(interview, deadline), task_scope)
        ).one()
        interviews, deadlines = interviews + int(live_interviews), deadlines + int(live_deadlines)
    # a referral is a case sent to a unit: the unit's steps of the chain (acceptance, outcome)
    # count once, as do its answers (distinct pairs, counted over a DISTINCT subquery since
    # SQLite has no COUNT(DISTINCT a, b)); the folded days count each pair on its first day in
    # the period, the live part the pairs not seen on the folded days
    referrals = sum(rollups.distinct(session, rollups.REFERRAL, part, start).values())
    answers = sum(rollups.distinct(session, rollups.ANSWER, part, start).values())
    sanctioned = sum(rollups.distinct(session, rollups.SANCTIONED, part, start).values())
    by_unit: dict[str, list[int]] = {
        code: [n, 0] for code, n in rollups.distinct(session, rollups.SANCTIONED_BY, part, start).items()
    }
    for code, (n, _late, _seconds) in rollups.totals(session, rollups.MEASURES, part).items():
        by_unit.setdefault(code, [0, 0])[1] = n
    if part.live_since is not None:
        live = part.live_since
        earlier_task, earlier_event, earlier_sanction = aliased(Task), aliased(CaseEvent), aliased(Sanction)

        def unseen(model: Any, earlier: Any, moment: str, *same: str, where: Any = None) -> Any:
            """Not already on the folded days of the period (nothing to say when none are)."""
            if live == since:
                return true()
            return _not_seen(model, earlier, moment, same, since, live, where)

        sent = (
            select(Task.case_id, Task.unit_code)
            .where(
                referral,
                _between(Task.created_at, live, until),
                task_scope,
                unseen(
                    Task,
                    earlier_task,
                    "created_at",
                    "case_id",
                    "unit_code",
                    where=earlier_task.element_id.in_(referral_ids) if referral_ids else false(),
                ),
            )
            .distinct()
            .subquery()
        )
        referrals += session.scalar(select(func.count()).select_from(sent)) or 0
        answered = (
            select(CaseEvent.case_id, CaseEvent.unit_code)
            .where(
                CaseEvent.kind == "referral_answered",
                _between(CaseEvent.created_at, live, until),
                _of_cases(CaseEvent.case_id, hidden, unit, bank),
                unseen(
                    CaseEvent,
                    earlier_event,
                    "created_at",
                    "case_id",
                    "unit_code",
                    where=earlier_event.kind == "referral_answered",
                ),
            )
            .distinct()
            .subquery()
        )
        answers += session.scalar(select(func.count()).select_from(answered)) or 0

        applied = and_(
            _between(Sanction.applied_at, live, until), _of_cases(Sanction.case_id, hidden, unit, bank)
        )
        sanction_unit = (Sanction.unit_code == unit) if unit else true()
        new_case = unseen(Sanction, earlier_sanction, "applied_at", "case_id")
        sanctioned += (
            session.scalar(
                select(func.count(func.distinct(case((new_case, Sanction.case_id))))).where(applied)
            )
            or 0
        )
        new_pair = unseen(Sanction, earlier_sanction, "applied_at", "case_id", "unit_code")
        for code, cases, count in session.execute(
            select(
                Sanction.unit_code,
                func.count(func.distinct(case((new_pair, Sanction.case_id)))),
                func.sum(func.json_array_length(Sanction.measures)),
            )
            .where(applied, sanction_unit)
            .group_by(Sanction.unit_code)
        ):
            row = by_unit.setdefault(code, [0, 0])
            row[0] += int(cases)
            row[1] += int(count or 0)
    measures = [UnitMeasures(code, cases, count) for code, (cases, count) in sorted(by_unit.items())]

    def of_cases(case_id: Any) -> ColumnElement[bool]:
        return _of_cases(case_id, hidden, unit, bank)

    amount_reported, amount_recovered, amount_outstanding = _amounts(session, start, end, of_cases, bank)
    stages, ages = _open_cases(session, current, scope)
    return Figures(
        start=start,
        end=end,
        unit=unit,
        bank=bank,
        reported=int(reported),
        confirmed=int(confirmed),
        rejected=int(rejected),
        interviews=int(interviews),
        deadlines_expired=int(deadlines),
        sanctioned=int(sanctioned or 0),
        measures=measures,
        referrals=int(referrals or 0),
        referral_answers=int(answers or 0),
        settled=int(settled),
        delisted=int(delisted),
        amount_reported=amount_reported,
        amount_recovered=amount_recovered,
        amount_outstanding=amount_outstanding,
        stages=stages,
        ages=ages,
        overdue=_overdue(session, part, until, current, hidden, unit, bank),
        weeks=_weeks(session, start, end, scope, of_cases, bank, rolled=unit is None and bank is None),
    )


def _money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(ZERO)


def _amounts(
    session: Session, start: dt.date, end: dt.date, of_cases: Any, bank: str | None
) -> tuple[Decimal, Decimal, Decimal]:
    since, until = local_start(start), local_start(end + dt.timedelta(days=1))
    loan_bank = (Loan.bank_unit_code == bank) if bank else true()
    debt = Loan.principal + Loan.interest
    # the period's flows: the loans reported or settled in it (an index range each), no case read
    reported_in = _between(Loan.reported_at, since, until)
    settled_in = _between(Loan.settled_at, since, until)
    reported, settled = session.execute(
        select(
            func.sum(case((reported_in, debt), else_=0)),
            func.sum(case((settled_in, debt), else_=0)),
        ).where(or_(reported_in, settled_in), of_cases(Loan.case_id), loan_bank)
    ).one()
    repaid_in_period = session.scalar(
        select(func.sum(Repayment.amount))
        .join(Loan, Repayment.loan_id == Loan.id)
        .where(
            Repayment.paid_on >= start,
            Repayment.paid_on <= end,
            Loan.reported_at < until,
            or_(Loan.settled_at.is_(None), Loan.settled_at >= until),
            of_cases(Repayment.case_id),
            loan_bank,
        )
    )
    # the stock at the period's end: every loan still owed then (not of a rejected case: the
    # partial index of rejected cases, no case read) less what was repaid on it by then
    owed_at_end = and_(
        of_cases(Loan.case_id),
        loan_bank,
        Loan.reported_at < until,
        or_(Loan.settled_at.is_(None), Loan.settled_at >= until),
        ~select(Case.id).where(Case.outcome == "rejected", Case.id == Loan.case_id).exists(),
    )
    owed = session.scalar(select(func.sum(debt)).where(owed_at_end))
    repaid_by_end = session.scalar(
        select(func.sum(Repayment.amount))
        .join(Loan, Repayment.loan_id == Loan.id)
        .where(owed_at_end, Repayment.paid_on <= end)
    )
    return (
        _money(reported),
        _money(settled) + _money(repaid_in_period),
        max(_money(owed) - _money(repaid_by_end), ZERO),
    )


def _open_cases(
    session: Session, current: dt.datetime, scope: Any
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    # "younger than N days" is "opened after now - N days": an index range, no row arithmetic
    bucket = case(
        *[
            (Case.created_at > current - dt.timedelta(days=limit), i)
            for i, (limit, _label) in enumerate(AGE_BUCKETS)
            if limit is not None
        ],
        else_=len(AGE_BUCKETS) - 1,
    )
    stages: dict[str, int] = {}
    ages = [0] * len(AGE_BUCKETS)
    for stage, index, count in session.execute(
        select(Case.stage, bucket, func.count())
        .where(Case.status == "open", scope)
        .group_by(Case.stage, bucket)
    ):
        stages[stage] = stages.get(stage, 0) + count
        ages[index] += count
    return sorted(stages.items()), [(label, ages[i]) for i, (_limit, label) in enumerate(AGE_BUCKETS)]


def _overdue(
    session: Session,
    part: rollups.Split,
    until: dt.datetime,
    current: dt.datetime,
    hidden: Any,
    unit: str | None,
    bank: str | None,
) -> list[UnitOverdue]:
    # the open tasks and those completed in the period: two statements, each served by its
    # own index holding the columns it reads (migration 0021)
    where = and_(_of_cases(Task.case_id, hidden, unit, bank), (Task.unit_code == unit) if unit else true())
    counts: dict[str, list[int]] = {}
    for code, a, b in session.execute(
        select(Task.unit_code, func.count(), _count(Task.due_at < current))
        .where(Task.status == OPEN, where)
        .group_by(Task.unit_code)
    ):
        counts.setdefault(code, [0, 0, 0, 0])[:2] = [int(a), int(b)]
    # the tasks completed: the folded days' sums (all units only), then the rest of the period
    for code, (c, d, _seconds) in rollups.totals(session, rollups.DONE, part).items():
        counts.setdefault(code, [0, 0, 0, 0])[2:] = [c, d]
    if part.live_since is not None:
        for code, c, d in session.execute(
            select(
                Task.unit_code,
                func.count(),
                _count(and_(Task.due_at.is_not(None), Task.completed_at > Task.due_at)),
            )
            .where(Task.status == COMPLETED, _between(Task.completed_at, part.live_since, until), where)
            .group_by(Task.unit_code)
        ):
            row = counts.setdefault(code, [0, 0, 0, 0])
            row[2:] = [row[2] + int(c), row[3] + int(d)]
    return [UnitOverdue(code, *counts[code]) for code in sorted(counts)]


def _weeks(
    session: Session,
    start: dt.date,
    end: dt.date,
    scope: Any,
    of_cases: Any,
    bank: str | None,
    *,
    rolled: bool = False,
) -> list[Week]:
    first = start - dt.timedelta(days=start.weekday())
    mondays = [first + dt.timedelta(weeks=i) for i in range((end - first).days // 7 + 1)]
    # the weeks' local midnights: the database puts each row in its week (CASE, no date functions,
    # the same on SQLite and PostgreSQL)
    bounds = [local_start(m) for m in mondays] + [local_start(mondays[-1] + dt.timedelta(weeks=1))]
    since, until = bounds[0], bounds[-1]
    reported = [0] * len(mondays)
    settled = [0] * len(mondays)
    recovered = [ZERO] * len(mondays)
    # debtors reported, once a week each: the folded days' first reports of the week (all
    # units), then the rest of the weeks live, without the debtors reported earlier that week
    part = rollups.split(session, since, until) if rolled else rollups.Split(None, None, since)
    for day, key, n in rollups.by_day(session, rollups.REPORTED, part):
        index = (day - first).days // 7
        if key.partition("|")[0] < mondays[index].isoformat():
            reported[index] += n
    if part.live_since is not None:
        live = part.live_since
        rest = live
        # the week the live part starts in, when it started on folded days: its debtors not
        # reported on those days
        index = next(i for i in range(len(mondays)) if bounds[i + 1] > live)
        if bounds[index] < live:
            rest = bounds[index + 1]
            unseen = _not_seen(Case, aliased(Case), "created_at", ("debtor_id",), bounds[index], live)
            reported[index] += int(
                session.scalar(
                    select(func.count(func.distinct(Case.debtor_id))).where(
                        scope, _between(Case.created_at, live, rest), unseen
                    )
                )
                or 0
            )
        if rest < until:
            week = _bucket(Case.created_at, bounds)
            for index, count in session.execute(
                select(week, func.count(func.distinct(Case.debtor_id)))
                .where(scope, _between(Case.created_at, rest, until))
                .group_by(week)
            ):
                reported[index] += count
    week = _bucket(Case.delisted_at, bounds)
    for index, count in session.execute(
        select(week, func.count())
        .where(scope, Case.outcome == "delisted", _between(Case.delisted_at, since, until))
        .group_by(week)
    ):
        settled[index] += count
    loan_bank = (Loan.bank_unit_code == bank) if bank else true()
    week = _bucket(Loan.settled_at, bounds)
    for index, amount in session.execute(
        select(week, func.sum(Loan.principal + Loan.interest))
        .where(of_cases(Loan.case_id), loan_bank, _between(Loan.settled_at, since, until))
        .group_by(week)
    ):
        recovered[index] += _money(amount)
    # a repayment counts in its week when its loan was not settled by the week's end
    day_bounds = [*mondays, mondays[-1] + dt.timedelta(weeks=1)]
    week = _bucket(Repayment.paid_on, day_bounds)
    week_end = case(
        *[
            (Repayment.paid_on < d, literal(b, Loan.settled_at.type))
            for d, b in zip(day_bounds[1:], bounds[1:], strict=True)
        ]
    )
    for index, amount in session.execute(
        select(week, func.sum(Repayment.amount))
        .join(Loan, Repayment.loan_id == Loan.id)
        .where(
            of_cases(Repayment.case_id),
            loan_bank,
            Repayment.paid_on >= day_bounds[0],
            Repayment.paid_on < day_bounds[-1],
            or_(Loan.settled_at.is_(None), Loan.settled_at >= week_end),
        )
        .group_by(week)
    ):
        recovered[index] += _money(amount)
    # the first and last weeks may start before or end after the period: they are shown whole
    return [Week(m, reported[i], settled[i], recovered[i]) for i, m in enumerate(mondays)]
