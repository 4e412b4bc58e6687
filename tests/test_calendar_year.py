"""The calendar's next year (issue 16): the banner from 1 November, provisional due dates in a
year the calendar does not cover, the admin page that adds the year (recorded in the audit
chain, recomputing the provisional due dates) and the worker's daily warning."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from freezegun import freeze_time
from sqlalchemy import func, select

from tests.support import open_task_id, report_payload
from webapp.audit.chain import verify_chain
from webapp.deadlines import calendar as work_calendar
from webapp.deadlines import worker
from webapp.deadlines.calendar import LOCAL
from webapp.models import CalendarYear, CaseEvent, Task

NOV_2 = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
OCT_30 = dt.datetime(2026, 10, 30, 2, 0, tzinfo=dt.UTC)
# a Monday: 5 working days end on Friday 1 January 2027 on weekends alone, later with the holiday
DEC_28 = dt.datetime(2026, 12, 28, 2, 0, tzinfo=dt.UTC)
YEAR_2027 = {
    "year": "2027",
    "holidays": "2027-01-01\n2027-01-02\n2027-01-03\n2027-02-06\n2027-02-07 2027-02-08, 2027-02-09",
    "workdays": "2027-02-14",
}


@pytest.fixture(autouse=True)
def fresh_calendar(app: Flask) -> Iterator[None]:
    """Each process keeps its copy of the calendar: start and end from the seed."""
    with app.app_context():
        work_calendar.forget()
        app.extensions.pop("work_calendar_warned_on", None)
    yield
    with app.app_context():
        work_calendar.forget()
        app.extensions.pop("work_calendar_warned_on", None)


def banner(response) -> bool:
    assert response.status_code == 200
    return 'id="calendar-banner"' in response.get_data(as_text=True)


def test_banner_from_1_november_for_supervisors_and_admins(app, browser):
    with freeze_time(NOV_2):
        supervisor, admin, office = browser("supervisor"), browser("admin"), browser("office")
        page = supervisor.get("/inbox")
        assert banner(page) and "2027" in page.get_data(as_text=True)
        assert "工作日历" in page.get_data(as_text=True)  # Chinese by default
        assert banner(admin.get("/cases")) and banner(admin.get("/admin/users"))
        assert not banner(office.get("/inbox"))  # a caseworker
        assert not banner(browser("bank_icbc").get("/inbox"))
        admin.get("/lang/en")
        assert "has no holidays for 2027 yet" in admin.get("/inbox").get_data(as_text=True)
    with freeze_time(OCT_30):
        assert not banner(supervisor.get("/inbox"))
        assert not banner(admin.get("/inbox"))
    with freeze_time(NOV_2):
        assert admin.post("/admin/calendar", data=YEAR_2027).status_code == 302
        assert not banner(supervisor.get("/inbox"))
        assert not banner(admin.get("/inbox"))


def _task(app: Flask, task_id: str) -> Task:
    with app.extensions["db_sessionmaker"]() as session:
        task = session.get(Task, task_id)
        assert task is not None
        return task


def test_a_due_date_in_an_uncovered_year_is_provisional_until_the_admin_adds_it(app, browser, users):
    with freeze_time(DEC_28):
        bank, office, admin = browser("bank_icbc"), browser("office"), browser("admin")
        case_id = bank.report(report_payload(161))
        task_id = open_task_id(app, case_id, "review")
        task = _task(app, task_id)
        assert task.due_provisional
        assert task.due_at.astimezone(LOCAL).date() == dt.date(2027, 1, 4)
        inbox = office.get("/inbox").get_data(as_text=True)
        assert "暂定" in inbox and "2027-01-04" in inbox
        assert "暂定" in office.get(f"/tasks/{task_id}").get_data(as_text=True)

        response = admin.post("/admin/calendar", data=YEAR_2027)
        assert response.status_code == 302
        task = _task(app, task_id)
        assert not task.due_provisional
        # 1-3 January off: Monday 4 January is the fourth working day, Tuesday the fifth
        assert task.due_at.astimezone(LOCAL).date() == dt.date(2027, 1, 5)
        inbox = office.get("/inbox").get_data(as_text=True)
        assert "暂定" not in inbox and "2027-01-05" in inbox

        # a task opened now counts on the new year at once, not provisional
        later = bank.report(report_payload(162))
        assert not _task(app, open_task_id(app, later, "review")).due_provisional

    with app.extensions["db_sessionmaker"]() as session:
        stored = {row.year for row in session.scalars(select(CalendarYear))}
        assert stored == {2024, 2025, 2026, 2027}  # the seed file's years, then the new one
        event = session.scalar(select(CaseEvent).where(CaseEvent.kind == "calendar_year_added"))
        assert event is not None and event.chain == f"user:{users['admin']}"
        assert event.data["year"] == 2027 and event.data["recomputed_due_dates"] == 1
        assert event.data["workdays"] == ["2027-02-14"]
        assert verify_chain(session, event.chain).ok
    # the CLI reads the database too
    shown = app.test_cli_runner().invoke(args=["calendar", "show", "2027"])
    assert shown.exit_code == 0 and "2027-02-14" in shown.output


def test_an_admin_changes_a_year_and_it_is_recorded(app, browser, users):
    admin = browser("admin")
    page = admin.get("/admin/calendar?year=2026").get_data(as_text=True)
    assert "2026-10-07" in page and "2026-02-14" in page  # the seed, ready to edit
    changed = {"year": "2026", "holidays": "2026-01-01\n2026-12-31", "workdays": "2026-02-14"}
    assert admin.post("/admin/calendar", data=changed).status_code == 302
    with app.app_context():
        calendar = work_calendar.load()
        assert not calendar.is_working_day(dt.date(2026, 12, 31))
        assert calendar.is_working_day(dt.date(2026, 10, 7))
    with app.extensions["db_sessionmaker"]() as session:
        kinds = list(
            session.scalars(select(CaseEvent.kind).where(CaseEvent.chain == f"user:{users['admin']}"))
        )
        assert "calendar_year_changed" in kinds


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"year": "20x7", "holidays": "2027-01-01"}, "year", "2000"),
        ({"year": "2027", "holidays": "2027-13-01"}, "holidays", "2027-13-01"),
        ({"year": "2027", "holidays": "2026-12-31"}, "holidays", "2026-12-31"),
        ({"year": "2027", "holidays": ""}, "holidays", ""),
        ({"year": "2027", "holidays": "2027-01-01", "workdays": "2027-01-04"}, "workdays", "2027-01-04"),
        ({"year": "2027", "holidays": "2027-02-06", "workdays": "2027-02-06"}, "workdays", "2027-02-06"),
    ],
)
def test_the_admin_page_refuses_bad_input(app, browser, form, field, message):
    response = browser("admin").post("/admin/calendar", data=form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="calendar-error"' in page and f'invalid" data-field="{field}"' in page
    assert message in page
    with app.extensions["db_sessionmaker"]() as session:
        assert session.scalar(select(func.count()).select_from(CalendarYear)) == 0


def test_the_admin_page_refuses_a_caseworker_and_a_supervisor(app, browser):
    for who in ("office", "supervisor", "bank_icbc"):
        user = browser(who)
        assert user.get("/admin/calendar").status_code == 403
        assert user.post("/admin/calendar", data=YEAR_2027).status_code == 403
    with app.extensions["db_sessionmaker"]() as session:
        assert session.scalar(select(func.count()).select_from(CalendarYear)) == 0


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "calendar:" in r.getMessage()]


def test_the_worker_warns_once_a_day_while_the_next_year_is_missing(app, browser, caplog):
    caplog.set_level(logging.WARNING)
    with app.app_context():
        with freeze_time(OCT_30):
            worker.run_once()
            assert _warnings(caplog) == []
        with freeze_time(NOV_2) as clock:
            worker.run_once()
            worker.run_once()
            assert len(_warnings(caplog)) == 1 and "2027" in _warnings(caplog)[0]
            clock.tick(dt.timedelta(hours=6))
            worker.run_once()
            assert len(_warnings(caplog)) == 1
            clock.tick(dt.timedelta(days=1))
            worker.run_once()
            assert len(_warnings(caplog)) == 2
    with freeze_time(NOV_2 + dt.timedelta(days=2)):
        assert browser("admin").post("/admin/calendar", data=YEAR_2027).status_code == 302
        with app.app_context():
            worker.run_once()
        assert len(_warnings(caplog)) == 2


def test_the_worker_recomputes_due_dates_when_a_year_is_added_elsewhere(app, browser):
    """Another process added the year after this one read the calendar (its copy is stale)."""
    with freeze_time(DEC_28):
        case_id = browser("bank_icbc").report(report_payload(163))
        task_id = open_task_id(app, case_id, "review")
        assert _task(app, task_id).due_provisional
        with app.app_context():
            work_calendar.load()  # this process's copy, without 2027
            with app.extensions["db_sessionmaker"]() as session:
                work_calendar.seed(session)
                session.add(CalendarYear(year=2027, holidays=["2027-01-01"], workdays=[]))
                session.commit()
            worker.run_once()
        task = _task(app, task_id)
        assert not task.due_provisional and task.due_at.astimezone(LOCAL).date() == dt.date(2027, 1, 5)
