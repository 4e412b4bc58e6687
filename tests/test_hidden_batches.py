"""Cases of a ledger import still under way are seen by nobody, anywhere; lowering the batch's
``hides_cases`` flag shows them all at once (webapp.cases.visibility)."""

from __future__ import annotations

import datetime as dt
import re

from flask import Flask
from freezegun import freeze_time
from sqlalchemy import select, update

from tests.support import Browser, flatten_report, hide_as_imported, open_task_id, report_payload
from webapp.cases import timers
from webapp.deadlines import reminders
from webapp.models import Case, ImportBatch, Notification

# Thursday 12 February 2026, 10:00 in China
START = dt.datetime(2026, 2, 12, 2, 0, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 3, 4, 1, 0, tzinfo=dt.UTC)  # the reviews are days overdue

SHOWN_NAME = "测试债务人31"
HIDDEN_NAME = "测试债务人32"


def _hide(app: Flask, case_id: int, user_id: int) -> int:
    """A batch that hides its cases, as a running import leaves it, owning ``case_id``."""
    return hide_as_imported(app, user_id, case_id)


def _set_hiding(app: Flask, batch_id: int, hides: bool) -> None:
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(update(ImportBatch).where(ImportBatch.id == batch_id).values(hides_cases=hides))
        session.commit()


def _cases(app: Flask, ids: list[int], **values: object) -> None:
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(update(Case).where(Case.id.in_(ids)).values(**values))
        session.commit()


def _api(app: Flask, token: str, method: str, path: str, json: object = None):
    return app.test_client().open(
        f"/api/v1{path}", method=method, json=json, headers={"Authorization": f"Bearer {token}"}
    )


def _text(browser: Browser, url: str) -> str:
    response = browser.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def _check(
    app: Flask, shown: int, hidden: int, review: str, hidden_visible: bool, tokens: dict[str, str]
) -> None:
    """Every door, as every kind of user: ``hidden`` is seen exactly when ``hidden_visible``."""

    def seen(text: str) -> None:
        assert SHOWN_NAME in text
        assert (HIDDEN_NAME in text) is hidden_visible

    office, bank, supervisor, auditor = (
        Browser(app, n) for n in ("office", "bank_icbc", "supervisor", "auditor")
    )
    for who in (office, bank, auditor):
        seen(_text(who, "/cases"))
        seen(_text(who, "/cases?q=测试债务人3"))
        assert who.get(f"/cases/{shown}").status_code == 200
        assert who.get(f"/cases/{hidden}").status_code == (200 if hidden_visible else 404)
    # the office's inbox, its top bar's count, the review task's page
    inbox = _text(office, "/inbox")
    seen(inbox)
    assert f'id="nav-inbox-count">{2 if hidden_visible else 1}<' in inbox
    assert office.get(f"/tasks/{review}").status_code == (200 if hidden_visible else 404)
    # the supervisors' dashboard (overdue counts, incidents) and overdue task list
    board = _text(supervisor, "/supervision/")
    assert f'data-unit="office">{2 if hidden_visible else 1}<' in board
    seen(board)
    seen(_text(supervisor, "/supervision/tasks"))
    # the public list, no login
    seen(app.test_client().get("/public/blacklist").get_data(as_text=True))
    # the API
    assert _api(app, tokens["office"], "GET", f"/cases/{shown}").status_code == 200
    assert _api(app, tokens["office"], "GET", f"/cases/{hidden}").status_code == (
        200 if hidden_visible else 404
    )
    assert _api(app, tokens["office"], "GET", f"/tasks/{review}").status_code == (
        200 if hidden_visible else 404
    )
    listed = {t["case_id"] for t in _api(app, tokens["office"], "GET", "/tasks").get_json()["tasks"]}
    assert shown in listed and (hidden in listed) is hidden_visible
    # the stalled / incident check
    check = app.test_cli_runner().invoke(args=["cases", "check"]).output
    assert f"incident case {shown} " in check and (f"incident case {hidden} " in check) is hidden_visible


def test_a_hiding_batch_hides_its_cases_everywhere_until_it_finishes(app, users):
    runner = app.test_cli_runner()
    tokens = {n: runner.invoke(args=["tokens", "issue", n]).output.strip() for n in ("office", "bank_abc")}
    with freeze_time(START) as clock:
        bank = Browser(app, "bank_icbc")
        shown = bank.report(report_payload(31, name=SHOWN_NAME))
        hidden = bank.report(report_payload(32, name=HIDDEN_NAME))
        review = open_task_id(app, hidden, "review")
        batch = _hide(app, hidden, users["bank_icbc"])
        # both on the public list, both with an incident: only hiding tells them apart
        _cases(
            app,
            [shown, hidden],
            blacklisted=True,
            blacklisted_at=START,
            published_at=START,
            incident="step failed: test",
        )
        clock.move_to(LATER)

        _check(app, shown, hidden, review, False, tokens)

        # completing the hidden case's task: 404 from the form and the API, and nothing changes
        office = Browser(app, "office")
        assert office.post(f"/tasks/{review}", data={"decision": "reject"}).status_code == 404
        assert _api(app, tokens["office"], "POST", f"/tasks/{review}/complete", {}).status_code == 404
        assert _api(app, tokens["office"], "POST", f"/tasks/{review}/claim").status_code == 404

        # another bank reporting the hidden debtor is told to wait for the import
        again = report_payload(32, name=HIDDEN_NAME)
        again["loans"][0]["contract_no"] = "ABC-32-1"
        refused = _api(app, tokens["bank_abc"], "POST", "/cases", again)
        assert refused.status_code == 409
        assert "尚未导入完成" in refused.get_json()["error"]
        form = Browser(app, "bank_abc").post("/report", data=flatten_report(again))
        assert form.status_code == 409 and "尚未导入完成" in form.get_data(as_text=True)

        # the worker: no reminder and no digest line for the hidden task, no timer fired
        with app.extensions["db_sessionmaker"]() as session:
            assert reminders.send_due_reminders(session, LATER) == 1
            session.commit()
            reminded = set(
                session.scalars(select(Notification.case_id).where(Notification.kind == "task_overdue"))
            )
            assert reminded == {shown}
            digest = reminders.digest(session, LATER)
            assert digest["overdue_by_unit"] == {"office": 1}
            assert [e["case_id"] for e in digest["escalated"]] == [shown]
            assert timers.due_case_ids(session, LATER) == []
        _cases(app, [shown, hidden], next_timer_at=START)
        with app.extensions["db_sessionmaker"]() as session:
            assert timers.due_case_ids(session, LATER) == [shown]
        fired = runner.invoke(args=["timers", "fire"]).output
        assert re.search(rf"fired 1 case\(s\): {shown}\b", fired), fired

        # the import finishes: one flag, and everything appears (the shown case's step cleared
        # its incident: set again for the same check)
        _cases(app, [shown], incident="step failed: test")
        _set_hiding(app, batch, False)
        _check(app, shown, hidden, review, True, tokens)
        with app.extensions["db_sessionmaker"]() as session:
            assert reminders.send_due_reminders(session, LATER) == 1
            session.commit()
            reminded = set(
                session.scalars(select(Notification.case_id).where(Notification.kind == "task_overdue"))
            )
            assert reminded == {shown, hidden}
            assert reminders.digest(session, LATER)["overdue_by_unit"] == {"office": 2}
            assert hidden in timers.due_case_ids(session, LATER)
        assert _api(app, tokens["bank_abc"], "POST", "/cases", again).status_code == 200
        assert _api(app, tokens["office"], "POST", f"/tasks/{review}/claim").status_code == 200
