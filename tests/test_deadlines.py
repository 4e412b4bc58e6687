"""Due dates on a working-day calendar, overdue lists, reminders, digest, supervision and
racing timer workers — with a frozen clock."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from tests.support import case_row, interview_form, open_task_id, report_payload
from webapp.deadlines.calendar import load
from webapp.models import Case, CaseEvent, Notification, Task

# Thursday 12 February 2026, 10:00 in China: the last working days before the Spring Festival
START = dt.datetime(2026, 2, 12, 2, 0, tzinfo=dt.UTC)


def test_working_days_across_the_spring_festival():
    calendar = load()
    assert calendar.is_working_day(dt.date(2026, 2, 14))  # Saturday, made up for the festival
    assert not calendar.is_working_day(dt.date(2026, 2, 16))  # Monday, festival
    assert not calendar.is_working_day(dt.date(2026, 2, 23))
    assert calendar.is_working_day(dt.date(2026, 2, 28))  # Saturday, made up
    assert calendar.add_working_days(dt.date(2026, 2, 13), 1) == dt.date(2026, 2, 14)
    assert calendar.add_working_days(dt.date(2026, 2, 13), 2) == dt.date(2026, 2, 24)
    assert calendar.add_working_days(dt.date(2026, 2, 12), 5) == dt.date(2026, 2, 26)
    assert calendar.add_working_days(dt.date(2025, 1, 24), 1) == dt.date(2025, 1, 26)  # Sunday made up
    assert calendar.add_working_days(dt.date(2024, 9, 30), 1) == dt.date(2024, 10, 8)
    assert {2024, 2025, 2026} <= calendar.years


def _due(app, case_id: int, element: str) -> dt.datetime:
    with app.extensions["db_sessionmaker"]() as session:
        due = session.scalar(select(Task.due_at).where(Task.case_id == case_id, Task.element_id == element))
    assert due is not None
    return due


def test_due_dates_are_set_when_tasks_open(app, browser):
    with freeze_time(START):
        case_id = browser("bank_icbc").report(report_payload(1))
        # 5 working days from Thu 12 Feb: 13, 14 (made up), 24, 25, 26 -> end of 26 Feb, China time
        assert _due(app, case_id, "review") == dt.datetime(2026, 2, 26, 15, 59, 59, tzinfo=dt.UTC)
        page = browser("office").get("/inbox?order=due").get_data(as_text=True)
        assert "2026-02-26" in page


def test_overdue_lists_counts_and_filters(app, browser):
    with freeze_time(START) as clock:
        first = browser("bank_icbc").report(report_payload(2))
        clock.move_to(START + dt.timedelta(days=16))  # Sat 28 Feb, a made-up working day
        second = browser("bank_icbc").report(report_payload(3))  # due Fri 6 Mar
        clock.move_to(dt.datetime(2026, 3, 3, 2, 0, tzinfo=dt.UTC))  # Tue 3 Mar: the first review is overdue
        office = browser("office")
        overdue = office.get("/inbox?due=overdue").get_data(as_text=True)
        assert f"#{first}<" in overdue and f"#{second}<" not in overdue
        assert 'id="nav-overdue-count">1<' in overdue
        assert f"#{second}<" in office.get("/inbox?due=week").get_data(as_text=True)
        assert f"#{first}<" not in office.get("/inbox?due=none").get_data(as_text=True)
        board = browser("supervisor").get("/supervision/").get_data(as_text=True)
        assert 'data-unit="office">1<' in board and 'data-element="review">1<' in board


def test_reminders_once_each_and_daily_digest(app, browser):
    runner = app.test_cli_runner()
    with freeze_time(START) as clock:
        case_id = browser("bank_icbc").report(report_payload(4))
        # a day before it is due: "due soon"
        clock.move_to(dt.datetime(2026, 2, 25, 23, 0, tzinfo=dt.UTC))  # 07:00 in China: before the digest
        assert re.search(r"reminders 1\b", runner.invoke(args=["worker", "--once"]).output)
        assert re.search(r"reminders 0\b", runner.invoke(args=["worker", "--once"]).output)
        # six days late, after 08:30 China time: overdue reminder and the digest with the escalation
        clock.move_to(dt.datetime(2026, 3, 4, 1, 0, tzinfo=dt.UTC))
        output = runner.invoke(args=["worker", "--once"]).output
        assert re.search(r"reminders 1\b", output)
        assert "digest sent" in output
        assert "digest not due" in runner.invoke(args=["worker", "--once"]).output
    with app.extensions["db_sessionmaker"]() as session:
        # (the week's and month's bulletins the worker made meanwhile are tests/test_bulletins.py's)
        office = (Notification.unit_code == "office", Notification.kind != "bulletin")
        kinds = sorted(session.scalars(select(Notification.kind).where(*office)))
        assert kinds == ["daily_digest", "task_due_soon", "task_overdue"]
        digest = session.scalar(select(Notification).where(Notification.kind == "daily_digest"))
        assert digest.params["date"] == "2026-03-04"
        assert digest.params["overdue_by_unit"] == {"office": 1}
        assert digest.params["escalated"][0]["case_id"] == case_id
        assert digest.params["escalated"][0]["level"] == "supervisor"
    page = browser("office").get("/notifications").get_data(as_text=True)
    assert "2026-03-04" in page


def test_reassign_and_remind_are_recorded(app, browser, users):
    case_id = browser("bank_icbc").report(report_payload(5))
    task_id = open_task_id(app, case_id, "review")
    supervisor = browser("supervisor")
    # to a caseworker of another unit: refused
    wrong = supervisor.post(
        "/supervision/reassign", data={"task_ids": [task_id], "to_user": users["court"], "reason": "人手不足"}
    )
    assert wrong.status_code == 422
    ok = supervisor.post(
        "/supervision/reassign",
        data={"task_ids": [task_id], "to_user": users["office"], "reason": "人手不足"},
    )
    assert ok.status_code == 302
    with app.extensions["db_sessionmaker"]() as session:
        assert session.get(Task, task_id).claimed_by_id == users["office"]
    assert (
        supervisor.post(
            "/supervision/reassign", data={"task_ids": [task_id], "to_user": "", "reason": "退回单位"}
        ).status_code
        == 302
    )
    assert supervisor.post("/supervision/remind", data={"task_ids": [task_id], "note": ""}).status_code == 422
    assert (
        supervisor.post(
            "/supervision/remind", data={"task_ids": [task_id], "note": "请于本周内办结"}
        ).status_code
        == 302
    )
    with app.extensions["db_sessionmaker"]() as session:
        assert session.get(Task, task_id).claimed_by_id is None
        events = list(
            session.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.kind.in_(["task_reassigned", "reminder_sent"]))
                .order_by(CaseEvent.seq)
            )
        )
    assert [e.kind for e in events] == ["task_reassigned", "task_reassigned", "reminder_sent"]
    assert events[0].data == {"reason": "人手不足", "previous": None, "to": "office"}
    assert events[2].data["note"] == "请于本周内办结"
    assert "请于本周内办结" in browser("office").get("/notifications").get_data(as_text=True)
    # caseworkers do not supervise
    assert browser("office").get("/supervision/").status_code == 403


def test_bulk_remind_sends_one_message_per_unit(app, browser):
    ids = [browser("bank_icbc").report(report_payload(n)) for n in (6, 7)]
    tasks = [open_task_id(app, c, "review") for c in ids]
    assert (
        browser("supervisor")
        .post("/supervision/remind", data={"task_ids": tasks, "note": "督办"})
        .status_code
        == 302
    )
    with app.extensions["db_sessionmaker"]() as session:
        assert session.scalar(select(func.count(Notification.id)).where(Notification.kind == "reminder")) == 1


@pytest.mark.parametrize("workers", [2])
def test_racing_workers_fire_each_case_once(app, browser, workers):
    from webapp.deadlines import worker

    with freeze_time(START, tick=True) as clock:
        cases = []
        office = browser("office")
        for n in range(8, 12):
            case_id = browser("bank_icbc").report(report_payload(n))
            office.complete(case_id, "review", review_decision="confirm", classification="evasion")
            office.complete(case_id, "interview", **interview_form(1))
            cases.append(case_id)
        clock.move_to(START + dt.timedelta(days=10))
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with app.app_context():
                    worker.run_once()
            except BaseException as err:  # reported below
                errors.append(err)

        threads = [threading.Thread(target=run) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    with app.extensions["db_sessionmaker"]() as session:
        fired = dict(
            session.execute(
                select(CaseEvent.case_id, func.count(CaseEvent.id))
                .where(CaseEvent.kind == "timer_fired")
                .group_by(CaseEvent.case_id)
            ).all()
        )
    assert fired == dict.fromkeys(cases, 1)
    # each deadline's end asks the office for its assessment, once
    assert all(case_row(app, c).stage == "assessment" for c in cases)
    with app.extensions["db_sessionmaker"]() as session:
        assessments = session.scalars(
            select(Task.case_id).where(Task.element_id == "assess_rectification", Task.status == "open")
        )
        assert sorted(assessments) == sorted(cases)


def test_a_worker_passes_over_a_case_another_transaction_holds(app, browser):
    """Timer workers share the due cases: one held by another transaction is passed over at
    once (not waited for), the others fire, and the next run fires it."""
    if app.config["BACKEND"] != "postgresql":
        pytest.skip("row locks are PostgreSQL's: SQLite locks the whole database for a writer")
    from webapp.cases import timers
    from webapp.db import get_session

    with freeze_time(START, tick=True) as clock:
        office, cases = browser("office"), []
        for n in (21, 22, 23):
            case_id = browser("bank_icbc").report(report_payload(n))
            office.complete(case_id, "review", review_decision="confirm", classification="evasion")
            office.complete(case_id, "interview", **interview_form(1))
            cases.append(case_id)
        clock.move_to(START + dt.timedelta(days=10))
        held = cases[1]
        reports: list[timers.FireReport] = []

        def fire() -> None:
            with app.app_context():
                reports.append(timers.fire_due(get_session()))

        with app.extensions["db_sessionmaker"]() as other:
            other.execute(select(Case.id).where(Case.id == held).with_for_update())
            worker = threading.Thread(target=fire)
            worker.start()
            worker.join(timeout=20)
            waited = worker.is_alive()
            other.rollback()  # releases the row: a worker that waited for it goes on now
        worker.join()
        assert not waited, "the worker waited for the held case instead of passing it over"
        assert reports[0].busy == [held]
        assert sorted(reports[0].fired) == [cases[0], cases[2]]
        fire()
    assert reports[1].fired == [held]
    assert all(case_row(app, c).stage == "assessment" for c in cases)


def test_calendar_command_shows_a_year(app):
    result = app.test_cli_runner().invoke(args=["calendar", "show", "2026"])
    assert result.exit_code == 0, result.output
    assert "2026-02-14" in result.output and "2026-10-07" in result.output
    missing = app.test_cli_runner().invoke(args=["calendar", "show", "2031"])
    assert missing.exit_code != 0 and "holidays.toml" in missing.output
