"""Stalled cases and incidents are seen (issue 15): the supervision page lists them and retries
them, ``flask cases check`` names them, and a failing timer is retried with backoff."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from flask import Flask
from freezegun import freeze_time
from sqlalchemy import delete, select, update

from tests.support import (
    PASSWORD,
    Browser,
    app_with_csrf,
    app_with_edited_diagram,
    case_row,
    interview_form,
    open_tasks,
    report_payload,
)
from webapp.cases import liveness, steps, timers
from webapp.db import get_session
from webapp.models import Case, CaseEvent, Task
from webapp.transactions import atomic

START = dt.datetime(2026, 2, 12, 2, 0, tzinfo=dt.UTC)


def _stall(app: Flask, case_id: int) -> None:
    """The projection of a case that lost its way: no open task row, no timer, no message (the
    engine state still has its ready task, so a retry finds it again)."""
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(delete(Task).where(Task.case_id == case_id, Task.status == "open"))
        session.execute(
            update(Case).where(Case.id == case_id).values(next_timer_at=None, awaits_message=False)
        )
        session.commit()


def _set(app: Flask, case_id: int, **values: object) -> None:
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(update(Case).where(Case.id == case_id).values(**values))
        session.commit()


def _kinds(app: Flask, case_id: int) -> list[str]:
    with app.extensions["db_sessionmaker"]() as session:
        return list(
            session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))
        )


def _section(page: str, table_id: str) -> str:
    return page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0] if f'id="{table_id}"' in page else ""


def test_stalled_means_open_with_no_task_timer_message_or_incident(app, browser):
    bank = browser("bank_icbc")
    healthy, stalled, waiting, timed, broken, closed = (bank.report(report_payload(n)) for n in range(1, 7))
    for case_id in (stalled, waiting, timed, broken, closed):
        _stall(app, case_id)
    _set(app, waiting, awaits_message=True)
    _set(app, timed, next_timer_at=START)
    _set(app, broken, incident="boom")
    _set(app, closed, status="closed")
    with app.extensions["db_sessionmaker"]() as session:
        assert liveness.stalled_case_ids(session) == [stalled]
        assert [c.id for c in liveness.stalled_cases(session)] == [stalled]
        assert [(c.id, c.incident) for c in liveness.incident_cases(session)] == [(broken, "boom")]
        assert liveness.is_stalled(session, stalled) and not liveness.is_stalled(session, healthy)


def test_supervision_page_lists_stalled_and_incident_cases(app, browser, tmp_path):
    stalled = browser("bank_icbc").report(report_payload(1))
    healthy = browser("bank_icbc").report(report_payload(2))
    _stall(app, stalled)
    # a real incident: the engine cannot evaluate the review gateway
    broken = app_with_edited_diagram(
        app, tmp_path, "classification == 'negotiation'", "no_such_variable == 'negotiation'"
    )
    try:
        failing = Browser(broken, "bank_icbc").report(report_payload(3))
        Browser(broken, "office").complete(
            failing, "review", expect=409, review_decision="confirm", classification="evasion"
        )
    finally:
        broken.extensions["db_engine"].dispose()
    supervisor = browser("supervisor")
    page = supervisor.get("/supervision/").get_data(as_text=True)
    assert "停滞案件" in page and "异常案件" in page
    stalled_rows, incident_rows = _section(page, "stalled-cases"), _section(page, "incident-cases")
    assert f'data-case="{stalled}"' in stalled_rows and "测试债务人1" in stalled_rows
    assert f"/supervision/cases/{stalled}/retry" in stalled_rows
    assert f'data-case="{failing}"' in incident_rows and "no_such_variable" in incident_rows
    assert f'data-case="{healthy}"' not in page and f'data-case="{failing}"' not in stalled_rows
    supervisor.get("/lang/en")
    page = supervisor.get("/supervision/").get_data(as_text=True)
    assert "Stalled cases" in page and "Cases with incidents" in page and "Retry" in page


def test_supervisor_retries_a_stalled_case(app, browser):
    case_id = browser("bank_icbc").report(report_payload(1))
    _stall(app, case_id)
    # caseworkers do not supervise, even of the office
    assert browser("office").post(f"/supervision/cases/{case_id}/retry").status_code == 403
    supervisor = browser("supervisor")
    response = supervisor.post(f"/supervision/cases/{case_id}/retry")
    assert response.status_code == 302 and response.headers["Location"].endswith("/supervision/#liveness")
    page = supervisor.get("/supervision/").get_data(as_text=True)
    assert f"案件 #{case_id} 已重试并继续办理" in page
    assert f'data-case="{case_id}"' not in page
    # the engine's ready task is projected again, and the retry is on record
    assert open_tasks(app, case_id) == [("review", "office")]
    assert _kinds(app, case_id)[-2:] == ["case_retried", "task_opened"]


def test_admin_retries_an_incident_case_and_a_failing_retry_says_why(app, browser, tmp_path):
    broken = _app_with_failing_deadline(app, tmp_path)
    try:
        with freeze_time(START) as clock:
            case_id = _case_at_deadline(broken)
            clock.move_to(START + dt.timedelta(days=10))
            with app.app_context():
                assert timers.fire_due(get_session()).failed[0][0] == case_id
            admin = Browser(app, "admin")
            response = admin.post(f"/supervision/cases/{case_id}/retry")
            assert response.status_code == 302
            page = admin.get("/supervision/").get_data(as_text=True)
    finally:
        broken.extensions["db_engine"].dispose()
    assert f"案件 #{case_id} 未能继续运行" in page and "extra_units" in page
    case = case_row(app, case_id)
    assert case.stage == "rectification" and "extra_units" in (case.incident or "")
    assert _kinds(app, case_id).count("incident") == 2  # the timer's streak, then the person's retry


def test_retry_needs_the_csrf_token(app, users):
    case_id = Browser(app, "bank_icbc").report(report_payload(1))
    _stall(app, case_id)
    protected = app_with_csrf(app)
    try:
        client = protected.test_client()
        token = (
            client.get("/login").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
        )
        login = {"username": "supervisor", "password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=login).status_code == 302
        assert client.post(f"/supervision/cases/{case_id}/retry").status_code == 400
        assert "case_retried" not in _kinds(app, case_id)
        page = client.get("/supervision/").get_data(as_text=True)
        token = _section(page, "stalled-cases").split('name="csrf_token" value="')[1].split('"')[0]
        response = client.post(f"/supervision/cases/{case_id}/retry", data={"csrf_token": token})
        assert response.status_code == 302
    finally:
        protected.extensions["db_engine"].dispose()
    assert "case_retried" in _kinds(app, case_id)


def test_cases_check_command(app, browser):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["cases", "check"])
    assert result.exit_code == 0 and result.output.strip() == "0 stalled, 0 incidents"
    stalled = browser("bank_icbc").report(report_payload(1))
    broken = browser("bank_icbc").report(report_payload(2))
    browser("bank_icbc").report(report_payload(3))  # healthy: not named
    assert runner.invoke(args=["cases", "check"]).exit_code == 0
    _stall(app, stalled)
    _set(app, broken, incident="element prepare_sanctions:\nname 'x' is not defined")
    result = runner.invoke(args=["cases", "check"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"stalled  case {stalled}  测试债务人1  stage review  since ")
    assert lines[1] == f"incident case {broken}  element prepare_sanctions: name 'x' is not defined"
    assert lines[-1] == "1 stalled, 1 incidents"


# ---- a failing timer: backoff, one incident per streak, reset on success ----------------


def _app_with_failing_deadline(app: Flask, tmp_path) -> Flask:
    """Cases started here fail when their rectification deadline passes, until the case's data
    gets ``extra_units``: the office's assessment that the timer opens has a pre-script (run
    as the task becomes ready, within the timer's step) that reads it."""
    return app_with_edited_diagram(
        app,
        tmp_path,
        '<spiffworkflow:property name="contextVariables" value="deadline_extended"/>\n'
        "          </spiffworkflow:properties>\n",
        '<spiffworkflow:property name="contextVariables" value="deadline_extended"/>\n'
        "          </spiffworkflow:properties>\n"
        "          <spiffworkflow:preScript>assessment_units = extra_units</spiffworkflow:preScript>\n",
    )


def _case_at_deadline(broken: Flask) -> int:
    """A case of the broken diagram whose one-day rectification deadline runs."""
    case_id = Browser(broken, "bank_icbc").report(report_payload(1))
    office = Browser(broken, "office")
    office.complete(case_id, "review", review_decision="confirm", classification="evasion")
    office.complete(case_id, "interview", **interview_form(1))
    return case_id


def test_a_failing_timer_backs_off_with_one_incident_and_success_resets(app, users, tmp_path):
    broken = _app_with_failing_deadline(app, tmp_path)
    try:
        with freeze_time(START) as clock:
            case_id = _case_at_deadline(broken)
            due = case_row(app, case_id).next_timer_at
            assert due is not None
            first = due + dt.timedelta(seconds=1)
            clock.move_to(first)

            def fire() -> timers.FireReport:
                with app.app_context():
                    return timers.fire_due(get_session())

            # tried at the first pass, then at 1, 5, 30 minutes, then hourly; not in between
            tries = [first]
            for delay in [*timers.TIMER_BACKOFF, dt.timedelta(hours=1)]:
                tries.append(tries[-1] + delay)
            for n, at in enumerate(tries, start=1):
                clock.move_to(at)
                assert [c for c, _message in fire().failed] == [case_id], f"try {n}"
                case = case_row(app, case_id)
                assert case.timer_failures == n
                assert case.timer_retry_at == at + timers.retry_delay(n)
                assert "extra_units" in (case.incident or "")
                for between in (dt.timedelta(0), dt.timedelta(seconds=59)):  # worker passes meanwhile
                    clock.move_to(at + between)
                    report = fire()
                    assert report.failed == [] and report.fired == []
            assert [t - tries[0] for t in tries][-2:] == [dt.timedelta(minutes=96), dt.timedelta(minutes=156)]
            kinds = _kinds(app, case_id)
            assert kinds.count("incident") == 1 and "timer_fired" not in kinds
            assert case_row(app, case_id).stage == "rectification"
            # `cases check` names the case while it fails
            result = app.test_cli_runner().invoke(args=["cases", "check"])
            assert result.exit_code == 1 and f"incident case {case_id}" in result.output
            # the data is put right; the next try (not before its time) fires the deadline
            with app.app_context():
                session = get_session()
                atomic(
                    session,
                    lambda: steps.merge_case_data(
                        session, steps.lock_case(session, case_id), {"extra_units": []}, None
                    ),
                )
            retry_at = case_row(app, case_id).timer_retry_at
            clock.move_to(retry_at - dt.timedelta(seconds=1))
            assert fire().fired == []
            clock.move_to(retry_at)
            assert fire().fired == [case_id]
    finally:
        broken.extensions["db_engine"].dispose()
    case = case_row(app, case_id)
    assert (case.timer_failures, case.timer_retry_at, case.incident) == (0, None, None)
    assert case.stage == "assessment" and open_tasks(app, case_id)[0] == ("assess_rectification", "office")
    assert _kinds(app, case_id).count("incident") == 1
    assert app.test_cli_runner().invoke(args=["cases", "check"]).exit_code == 0


def test_a_new_failure_streak_records_a_new_incident(app, users, tmp_path):
    """A step in between that ran (and so cleared the incident) ends the streak: the next
    failure is an incident again, not a silent retry."""
    broken = _app_with_failing_deadline(app, tmp_path)
    try:
        with freeze_time(START) as clock:
            case_id = _case_at_deadline(broken)
            clock.move_to(START + dt.timedelta(days=10))
            with app.app_context():
                assert timers.fire_due(get_session()).failed
            _set(app, case_id, incident=None)  # as a successful step leaves it
            clock.move_to(START + dt.timedelta(days=10, minutes=1))
            with app.app_context():
                assert timers.fire_due(get_session()).failed
    finally:
        broken.extensions["db_engine"].dispose()
    case = case_row(app, case_id)
    assert case.timer_failures == 2 and case.incident is not None
    assert _kinds(app, case_id).count("incident") == 2


def test_racing_workers_count_a_failure_once(app, users, tmp_path):
    """Two workers at the same due moment: the failing case is counted and reported as one
    incident, whichever worker tried it (or both did, one after the other)."""
    broken = _app_with_failing_deadline(app, tmp_path)
    try:
        with freeze_time(START, tick=True) as clock:
            case_id = _case_at_deadline(broken)
            clock.move_to(START + dt.timedelta(days=10))
            errors: list[BaseException] = []

            def run() -> None:
                try:
                    with app.app_context():
                        timers.fire_due(get_session())
                except BaseException as err:  # reported below
                    errors.append(err)

            threads = [threading.Thread(target=run) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        broken.extensions["db_engine"].dispose()
    assert errors == []
    case = case_row(app, case_id)
    assert case.timer_failures == 1 and case.timer_retry_at is not None
    assert _kinds(app, case_id).count("incident") == 1


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(1, 1), (2, 5), (3, 30), (4, 60), (5, 60), (40, 60)],
)
def test_retry_delay_follows_the_schedule(failures, delay):
    assert timers.retry_delay(failures) == dt.timedelta(minutes=delay)


def test_due_cases_wait_for_their_retry_time(app, browser):
    case_id = browser("bank_icbc").report(report_payload(1))
    _set(app, case_id, next_timer_at=START, timer_failures=2, timer_retry_at=START + dt.timedelta(minutes=5))
    with app.extensions["db_sessionmaker"]() as session:
        assert timers.due_case_ids(session, START + dt.timedelta(minutes=4)) == []
        assert timers.due_case_ids(session, START + dt.timedelta(minutes=5)) == [case_id]


def test_a_new_deadline_starts_without_an_earlier_timers_backoff(app, browser):
    """A person's step that sets a new deadline clears the backoff a failing timer left."""
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(7))
    office.complete(case_id, "review", review_decision="confirm", classification="evasion")
    _set(app, case_id, timer_failures=3, timer_retry_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
    office.complete(case_id, "interview", **interview_form(30))
    case = case_row(app, case_id)
    assert case.next_timer_at is not None
    assert (case.timer_failures, case.timer_retry_at) == (0, None)
