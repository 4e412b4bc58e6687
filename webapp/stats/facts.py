"""What each case adds to the statistics (its *facts*), computed from the projected tables.

A fact is ``(figure, day, key, prev) -> (n, late, cents)``: on the local day ``day``
(Asia/Shanghai) the case adds ``n`` to ``figure`` for ``key`` (a unit, a bank, a stage or
nothing), ``late`` of them late, and ``cents`` of money. A period's figure is the sum of the
facts of its days (``webapp/stats/totals.py`` keeps those sums per scope), so every fact is
chosen to be additive:

- things a period counts once however often they occur in it (a debtor reported, a case
  sanctioned, a case sanctioned by a unit, a referral to a unit and its answer) have one fact
  per day they occur, with ``prev`` the day they last occurred before (``NONE`` if never): a
  period ``[s, e]`` counts the facts of its days whose ``prev`` is before ``s``, which is each
  thing's first day in it;
- money moves are split so that "recovered in a period" and "outstanding at its end" are sums
  over days: ``RECOVERED`` adds a settled loan's debt on its settlement day and a repayment on
  the day it was paid (or its loan reported, if later), and takes a repayment back on its
  loan's settlement day (or the day it was paid, if later); ``RECOVERED_BEFORE`` corrects
  those two for a period that starts after the day paid (``prev``); ``OWED`` adds a loan's
  debt on the day it was reported, takes it back on the day it was settled, and takes each
  repayment off from the day it counts (back on the day it stops); a rejected case owes
  nothing;
- stocks are facts of now: ``OPEN`` (an open case, on the day it was opened, by stage),
  ``OPEN_TASK`` (an open task, on the day it falls due, by unit);
- durations, for the cycle times (all units only): ``STEP`` (a task completed, by element and
  duration bucket, ``cents`` holding the seconds it took) and ``CASE_TIME`` (a case delisted
  or closed, the time from its report), each also on the first day of its month
  (``STEP_MONTH``, ``CASE_TIME_MONTH``) so that a long period reads months, not days.

A case counts in the scopes ``ALL``, ``unit:<code>`` for every unit taking part in it, and
``bank:<code>`` for every bank with a loan on it (a bank's money figures count its own loans:
their key is the bank; ``in_scope`` says what each scope keeps).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.cases.referrals import chain_elements
from webapp.deadlines.calendar import LOCAL
from webapp.models import Case, CaseEvent, CaseParticipant, Loan, Sanction, Task
from webapp.models.progress import Repayment
from webapp.models.tasks import COMPLETED, OPEN

REPORTED, CONFIRMED, REJECTED, SETTLED, DELISTED = "reported", "confirmed", "rejected", "settled", "delisted"
INTERVIEW, DEADLINE, DONE = "interview", "deadline", "done"
REFERRAL, ANSWER = "referral", "answer"
SANCTIONED, SANCTIONED_BY, MEASURES = "sanctioned", "sanctioned_by", "measures"
AMOUNT_REPORTED, RECOVERED, RECOVERED_BEFORE, OWED = "amount", "recovered", "recovered_before", "owed"
OPEN_CASE, OPEN_TASK = "open", "open_task"
STEP, STEP_MONTH, CASE_TIME, CASE_TIME_MONTH = "step", "step_month", "case_time", "case_time_month"
# the figures kept for all units only (no page shows them per unit or bank)
ALL_ONLY = frozenset((STEP, STEP_MONTH, CASE_TIME, CASE_TIME_MONTH))
# durations in buckets 5 % wide (a bucket's facts keep their seconds: its mean is exact when
# its durations are equal): bucket b holds the seconds s with floor(log(1 + s) / log(1.05)) = b
BUCKET_BASE = math.log(1.05)
# the talks the debtor is summoned to (stage interview or official_talk in the diagram), and
# the tasks a passed rectification deadline opens (after rectification_deadline and
# official_deadline; the worker's timer events do not name their element)
INTERVIEW_ELEMENTS = ("interview", "official_talk")
DEADLINE_ELEMENTS = ("assess_rectification", "three_stops")
# ``prev`` of a thing that never occurred before, and of every fact that is not counted once
NONE = dt.date(1970, 1, 1)
# the day of an open task without a due time
NO_DUE = dt.date(9999, 12, 31)
ALL = "*"

Key = tuple[str, dt.date, str, dt.date]  # figure, day, key, prev
Value = tuple[int, int, int]  # n, late, cents


# the money figures: their key is the bank whose loan it is
MONEY = frozenset((AMOUNT_REPORTED, RECOVERED, RECOVERED_BEFORE, OWED))
BANK_PREFIX = "bank:"


def in_scope(scope: str, key: Key) -> Key | None:
    """A case's fact as a scope keeps it (None: not kept there): the durations for all units
    only; a bank's money only in that bank's scope, any other scope's money without the bank
    (no page shows it per bank there, and the rows are fewer)."""
    figure, day, where, prev = key
    if figure in ALL_ONLY:
        return key if scope == ALL else None
    if figure in MONEY:
        if scope.startswith(BANK_PREFIX):
            return key if where == scope[len(BANK_PREFIX) :] else None
        return (figure, day, "", prev) if where else key
    return key


def unit_scope(code: str) -> str:
    return f"unit:{code}"


def bank_scope(code: str) -> str:
    return f"{BANK_PREFIX}{code}"


@dataclass(frozen=True)
class CaseFacts:
    scopes: frozenset[str]
    facts: dict[Key, Value]


def bucket(seconds: float) -> int:
    return int(math.log1p(max(seconds, 0.0)) / BUCKET_BASE)


def bucket_bounds(index: int) -> tuple[float, float]:
    """The seconds bucket ``index`` holds: from the first, to the second."""
    return math.expm1(index * BUCKET_BASE), math.expm1((index + 1) * BUCKET_BASE)


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(LOCAL).date()


def cents(amount: Decimal | int | None) -> int:
    return int((Decimal(amount or 0) * 100).to_integral_value())


class _Facts:
    """One case's facts as they are added."""

    def __init__(self) -> None:
        self.sums: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])

    def add(
        self,
        figure: str,
        day: dt.date,
        key: str = "",
        prev: dt.date = NONE,
        n: int = 1,
        late: int = 0,
        money: int = 0,
    ) -> None:
        row = self.sums[(figure, day, key, prev)]
        row[0] += n
        row[1] += late
        row[2] += money

    def once(self, figure: str, days: Iterable[dt.date], key: str = "") -> None:
        """A thing counted once per period: a fact per day it occurred, with the day before."""
        prev = NONE
        for day in sorted(set(days)):
            self.add(figure, day, key, prev)
            prev = day

    def duration(self, figure: str, monthly: str, day: dt.date, seconds: float, key: str = "") -> None:
        """A duration, on its day and on its month's first day, in its bucket."""
        where = f"{key}|{bucket(seconds)}" if key else str(bucket(seconds))
        self.add(figure, day, where, money=round(seconds))
        self.add(monthly, month_of(day), where, money=round(seconds))

    def frozen(self) -> dict[Key, Value]:
        return {k: (v[0], v[1], v[2]) for k, v in self.sums.items() if v != [0, 0, 0]}


def _chunks(ids: Sequence[int], size: int = 5000) -> Iterable[Sequence[int]]:
    # SQLite (3.32 on) binds at most 32,766 parameters, PostgreSQL 65,535: lists well below both
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _rows(
    session: Session, columns: Sequence[Any], column: Any, ids: Sequence[int], *where: Any
) -> list[Any]:
    found: list[Any] = []
    for part in _chunks(ids):
        found.extend(session.execute(select(*columns).where(column.in_(part), *where)).all())
    return found


def of_cases(session: Session, ids: Iterable[int]) -> dict[int, CaseFacts]:
    """The facts and scopes of the cases ``ids`` as the tables hold them now (a case that does
    not exist is left out). Eight statements per 5,000 cases, never the engine state."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    cases = {
        row.id: row
        for row in _rows(
            session,
            (
                Case.id,
                Case.debtor_id,
                Case.created_at,
                Case.blacklisted_at,
                Case.closed_at,
                Case.delisted_at,
                Case.outcome,
                Case.status,
                Case.stage,
            ),
            Case.id,
            wanted,
        )
    }
    ids_ = sorted(cases)
    facts: dict[int, _Facts] = {i: _Facts() for i in ids_}
    scopes: dict[int, set[str]] = {i: {ALL} for i in ids_}

    # debtors reported: a case's report counts unless the debtor was reported earlier that day
    debtors = sorted({c.debtor_id for c in cases.values()})
    reports: dict[int, list[tuple[dt.datetime, int]]] = defaultdict(list)
    for debtor, case_id, created in _rows(
        session, (Case.debtor_id, Case.id, Case.created_at), Case.debtor_id, debtors
    ):
        reports[debtor].append((created, case_id))
    for c in cases.values():
        f = facts[c.id]
        day = local_day(c.created_at)
        earlier = [local_day(at) for at, other in reports[c.debtor_id] if (at, other) < (c.created_at, c.id)]
        if day not in earlier:
            f.add(REPORTED, day, prev=max((d for d in earlier if d < day), default=NONE))
        if c.blacklisted_at is not None:
            f.add(CONFIRMED, local_day(c.blacklisted_at))
        if c.outcome == "rejected" and c.closed_at is not None:
            f.add(REJECTED, local_day(c.closed_at))
        if c.delisted_at is not None:
            f.add(DELISTED, local_day(c.delisted_at))
            if c.outcome == "delisted":
                f.add(SETTLED, local_day(c.delisted_at))
        if c.status == "open":
            f.add(OPEN_CASE, day, c.stage)
        ended = c.delisted_at or c.closed_at
        if ended is not None:
            f.duration(CASE_TIME, CASE_TIME_MONTH, local_day(ended), (ended - c.created_at).total_seconds())

    for case_id, unit in _rows(
        session, (CaseParticipant.case_id, CaseParticipant.unit_code), CaseParticipant.case_id, ids_
    ):
        scopes[case_id].add(unit_scope(unit))

    referral_ids = sorted({e for chain in chain_elements(session).values() for e in chain.referrals})
    referrals: dict[tuple[int, str], list[dt.date]] = defaultdict(list)
    for case_id, element, unit, status, created, completed, due in _rows(
        session,
        (
            Task.case_id,
            Task.element_id,
            Task.unit_code,
            Task.status,
            Task.created_at,
            Task.completed_at,
            Task.due_at,
        ),
        Task.case_id,
        ids_,
    ):
        f = facts[case_id]
        if status == COMPLETED and completed is not None:
            late = int(due is not None and completed > due)
            f.add(DONE, local_day(completed), unit, late=late)
            f.duration(STEP, STEP_MONTH, local_day(completed), (completed - created).total_seconds(), element)
            if element in INTERVIEW_ELEMENTS:
                f.add(INTERVIEW, local_day(completed))
        elif status == OPEN:
            f.add(OPEN_TASK, local_day(due) if due is not None else NO_DUE, unit)
        if element in DEADLINE_ELEMENTS:
            f.add(DEADLINE, local_day(created))
        if element in referral_ids:
            referrals[(case_id, unit)].append(local_day(created))
    for (case_id, unit), days in referrals.items():
        facts[case_id].once(REFERRAL, days, unit)

    answers: dict[tuple[int, str], list[dt.date]] = defaultdict(list)
    for case_id, unit, created in _rows(
        session,
        (CaseEvent.case_id, CaseEvent.unit_code, CaseEvent.created_at),
        CaseEvent.case_id,
        ids_,
        CaseEvent.kind == "referral_answered",
    ):
        answers[(case_id, unit or "")].append(local_day(created))
    for (case_id, unit), days in answers.items():
        facts[case_id].once(ANSWER, days, unit)

    sanctioned: dict[int, list[dt.date]] = defaultdict(list)
    sanctioned_by: dict[tuple[int, str], list[dt.date]] = defaultdict(list)
    for case_id, unit, applied, measures in _rows(
        session,
        (Sanction.case_id, Sanction.unit_code, Sanction.applied_at, Sanction.measures),
        Sanction.case_id,
        ids_,
    ):
        day = local_day(applied)
        sanctioned[case_id].append(day)
        sanctioned_by[(case_id, unit)].append(day)
        facts[case_id].add(MEASURES, day, unit, n=len(measures or ()))
    for case_id, days in sanctioned.items():
        facts[case_id].once(SANCTIONED, days)
    for (case_id, unit), days in sanctioned_by.items():
        facts[case_id].once(SANCTIONED_BY, days, unit)

    loans = {}
    for loan_id, case_id, bank, principal, interest, reported, settled in _rows(
        session,
        (
            Loan.id,
            Loan.case_id,
            Loan.bank_unit_code,
            Loan.principal,
            Loan.interest,
            Loan.reported_at,
            Loan.settled_at,
        ),
        Loan.case_id,
        ids_,
    ):
        scopes[case_id].add(bank_scope(bank))
        debt = cents(principal) + cents(interest)
        settled_day = local_day(settled) if settled is not None else None
        owes = cases[case_id].outcome != "rejected"
        loans[loan_id] = (case_id, bank, local_day(reported), settled_day, owes)
        f = facts[case_id]
        f.add(AMOUNT_REPORTED, local_day(reported), bank, n=0, money=debt)
        if owes:
            f.add(OWED, local_day(reported), bank, n=0, money=debt)
        if settled_day is not None:
            f.add(RECOVERED, settled_day, bank, n=0, money=debt)
            if owes:
                f.add(OWED, settled_day, bank, n=0, money=-debt)
    # by their loans (``repayments.loan_id`` has the index)
    for loan_id, amount, paid in _rows(
        session, (Repayment.loan_id, Repayment.amount, Repayment.paid_on), Repayment.loan_id, sorted(loans)
    ):
        case_id, bank, reported_day, settled_day, owes = loans[loan_id]
        f, money = facts[case_id], cents(amount)
        # a period counts a repayment paid in it on a loan reported by its end and not settled
        # by then: it counts from the later of the days paid and reported (less the part
        # paid before the period, ``RECOVERED_BEFORE``), and stops from the later of the days
        # paid and settled (likewise)
        counted = max(paid, reported_day)
        f.add(RECOVERED, counted, bank, n=0, money=money)
        if paid < counted:
            f.add(RECOVERED_BEFORE, counted, bank, paid, n=0, money=-money)
        if owes:
            f.add(OWED, counted, bank, n=0, money=-money)
        if settled_day is not None:
            stopped = max(paid, settled_day)
            f.add(RECOVERED, stopped, bank, n=0, money=-money)
            if paid < stopped:
                f.add(RECOVERED_BEFORE, stopped, bank, paid, n=0, money=money)
            if owes:
                f.add(OWED, stopped, bank, n=0, money=money)
    return {i: CaseFacts(frozenset(scopes[i]), facts[i].frozen()) for i in ids_}
