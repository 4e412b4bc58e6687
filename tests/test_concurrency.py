"""Concurrent steps on one case: several web workers (threads, each with its own client,
session and database connection) and a timer worker at the same moment.

The step transaction locks the case row (``SELECT ... FOR UPDATE`` on PostgreSQL) and the
``version`` column catches a writer that read the case before another one committed: every
completion is applied exactly once or refused with 409 and can be sent again. Racing timer
workers alone are covered by tests/test_deadlines.py (test_racing_workers_fire_each_case_once).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from freezegun import freeze_time
from sqlalchemy import func, select

from tests.support import (
    SANCTION_MEASURES,
    Browser,
    assess,
    case_row,
    confirm,
    interview_form,
    open_task_id,
    open_tasks,
    report_payload,
)
from webapp.models import CaseEvent, Sanction, Task

SANCTIONS = SANCTION_MEASURES
START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def race(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run the jobs in threads released at the same instant; their results in order."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = jobs[i]()
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    return results


def events(app: Flask, case_id: int, kind: str) -> list[CaseEvent]:
    with app.extensions["db_sessionmaker"]() as session:
        return list(
            session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind))
        )


def at_sanction(app: Flask, clock: Any) -> int:
    """A case whose rectification deadline has passed and the office assessed it (sanction in
    full): 7 units' sanction tasks open."""
    office = Browser(app, "office")
    case_id = Browser(app, "bank_icbc").report(report_payload(1))
    confirm(lambda username: Browser(app, username), case_id)
    office.complete(case_id, "interview", **interview_form(1))
    clock.move_to(START + dt.timedelta(days=3))
    assert app.test_cli_runner().invoke(args=["timers", "fire"]).exit_code == 0
    assess(lambda username: Browser(app, username), case_id)
    assert sorted(u for e, u in open_tasks(app, case_id) if e == "apply_sanction") == sorted(SANCTIONS)
    return case_id


@pytest.mark.parametrize("clients", [4])
def test_the_same_task_completed_at_once_succeeds_once(app, users, clients):
    with freeze_time(START, tick=True):
        # a control case: how far one completion moves the version column
        control = Browser(app, "bank_icbc").report(report_payload(2))
        before = case_row(app, control).version
        Browser(app, "office").complete(
            control, "review", review_decision="confirm", classification="evasion"
        )
        one_step = case_row(app, control).version - before
        case_id = Browser(app, "bank_icbc").report(report_payload(1))
        task_id = open_task_id(app, case_id, "review")
        version = case_row(app, case_id).version
        # each client is its own browser session (two tabs, a double click, two colleagues)
        office = [Browser(app, "office") for _ in range(clients)]
        form = {"review_decision": "confirm", "classification": "evasion"}
        statuses = race([lambda b=b: b.post(f"/tasks/{task_id}", data=form).status_code for b in office])

    assert sorted(statuses) == [302] + [409] * (clients - 1)
    completed = [e for e in events(app, case_id, "task_completed") if e.task_id == task_id]
    assert len(completed) == 1
    assert case_row(app, case_id).version == version + one_step  # one step saved the case, once
    assert case_row(app, case_id).stage == "interview"
    # the interview, and beside the path the regulator's and the market regulator's tasks
    assert open_tasks(app, case_id) == [
        ("interview", "office"),
        ("lookup_holdings", "market"),
        ("notify_banks", "regulator"),
    ]


def test_parallel_sanction_tasks_completed_at_once_are_all_applied(app, users):
    with freeze_time(START, tick=True) as clock:
        case_id = at_sanction(app, clock)
        units = {unit: Browser(app, unit) for unit in SANCTIONS}
        tasks = {unit: open_task_id(app, case_id, "apply_sanction", unit=unit) for unit in SANCTIONS}
        conflicts: list[str] = []

        def complete(unit: str) -> int:
            # a 409 (the case changed under this step) is answered by sending again, as a user would
            for _attempt in range(len(SANCTIONS)):
                status = (
                    units[unit].post(f"/tasks/{tasks[unit]}", data={"measures": SANCTIONS[unit]}).status_code
                )
                if status != 409:
                    return status
                conflicts.append(unit)
            return 409

        statuses = race([lambda u=u: complete(u) for u in SANCTIONS])

    assert statuses == [302] * len(SANCTIONS), conflicts
    if app.config["BACKEND"] == "postgresql":
        # the row lock makes the steps wait for each other: nobody is refused (SQLite has no
        # row locks; there the version column refuses the late writer and the retry succeeds)
        assert conflicts == []
    completed = [
        e.task_id for e in events(app, case_id, "task_completed") if e.element_id == "apply_sanction"
    ]
    assert sorted(completed) == sorted(tasks.values())  # each exactly once, none lost
    with app.extensions["db_sessionmaker"]() as session:
        applied = session.execute(
            select(Sanction.unit_code, Sanction.task_id).where(Sanction.case_id == case_id)
        )
        assert sorted(applied) == sorted(tasks.items())
        assert session.scalar(
            select(func.count()).where(Task.case_id == case_id, Task.element_id == "apply_sanction",
                                       Task.status == "completed")
        ) == len(SANCTIONS)  # fmt: skip
    # the engine saw every instance complete: the multi-instance ended and the case went on
    case = case_row(app, case_id)
    assert case.stage == "referral_decision"
    assert open_tasks(app, case_id) == [("decide_referral", "office")]
    assert len(events(app, case_id, "sanction_applied")) == len(SANCTIONS)


def test_settlement_racing_the_deadline_worker_leaves_one_consistent_case(app, users):
    """A bank reports the settlement while a timer worker fires the same case's deadline."""
    from webapp.deadlines import worker

    with freeze_time(START, tick=True) as clock:
        office = Browser(app, "office")
        bank = Browser(app, "bank_icbc")
        case_id = bank.report(report_payload(1))
        office.complete(case_id, "review", review_decision="confirm", classification="evasion")
        office.complete(case_id, "interview", **interview_form(1))
        clock.move_to(START + dt.timedelta(days=3))
        bank.get("/inbox")  # logged in again after the jump, before the race

        def fire() -> None:
            with app.app_context():
                worker.run_once()

        def settle() -> int:
            return bank.post(f"/cases/{case_id}/settlement", data={"certificate_no": "JQ-1"}).status_code

        *_, status = race([fire, fire, settle])

    assert status in (302, 409)
    if status == 409:  # the case moved on under the report: sending it again works
        bank.settle(case_id, "JQ-1")
    assert len(events(app, case_id, "timer_fired")) <= 1
    # whichever came first, the settlement interrupted the body: only verification is open
    assert open_tasks(app, case_id) == [("verify_settlement", "office")]
    assert case_row(app, case_id).stage == "delisting"
