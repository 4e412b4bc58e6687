"""The demo played through to the end: every demo case, from wherever `flask demo` leaves it,
is worked by its units through the pages (the office, the banks, every sanctioning unit,
the police), its deadlines fired by `flask timers fire` with the clock moved on, its loans
settled once a referral was answered, until every case is closed. Between any two steps
the process forgets every parsed definition, as a fresh worker would. At the end `flask
cases check` finds no stalled case and no incident."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from tests.support import PASSWORD, Browser, interview_form
from webapp import engine
from webapp.catalog import load
from webapp.models import Case, Loan, Task


def _form(element: str, unit: str, catalogue: Any) -> dict[str, Any]:
    """What the unit enters: the path that goes furthest (sanctions, a referral)."""
    forms: dict[str, dict[str, Any]] = {
        "review": {"review_decision": "confirm", "classification": "evasion"},
        "interview": interview_form(1),
        "official_talk": {"talk_date": "2026-03-02", "talker": "局长", "rectification_days": 1},
        "three_stops": {"measures": ["stop_post", "stop_pay"]},
        "negotiation": {"negotiation_outcome": "failed"},
        "market_exit": {"bankruptcy_case_no": "破1号", "filing_date": "2026-03-05"},
        "decide_referral": {"referral_decision": "police", "referral_reason": "涉嫌拒不执行"},
        "answer_referral": {
            "referral_answer": "filed",
            "answer_document_no": "公立字1号",
            "answer_date": "2026-04-01",
        },
        "verify_settlement": {"certificate_decision": "verified"},
        "lift_sanction": {"lift_confirmed": True},
    }
    if element == "apply_sanction":
        measures = catalogue.measures_for(unit, "bank" if unit.startswith("bank") else "")
        return {"measures": [measures[0].code]}
    return forms[element]


def _open(app: Any) -> tuple[list[tuple[int, str, str]], list[Case]]:
    with app.extensions["db_sessionmaker"]() as session:
        tasks = list(
            session.execute(
                select(Task.case_id, Task.element_id, Task.unit_code)
                .where(Task.status == "open")
                .order_by(Task.case_id, Task.element_id, Task.unit_code)
            )
        )
        cases = list(session.scalars(select(Case).where(Case.status == "open").order_by(Case.id)))
        session.expunge_all()
    return [tuple(t) for t in tasks], cases


def _banks_owing(app: Any, case_id: int) -> list[str]:
    with app.extensions["db_sessionmaker"]() as session:
        rows = session.scalars(
            select(Loan.bank_unit_code).where(Loan.case_id == case_id, Loan.settled_at.is_(None))
        )
        return sorted(set(rows))


def test_the_whole_demo_played_through_leaves_no_case_stalled(app, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LIANDONG_DEMO_PASSWORD", PASSWORD)
    cli = app.test_cli_runner()
    catalogue = load(app.config["PROCESSES_DIR"])
    # a ticking clock: the demo expires a deadline "now" and fires it at once
    with freeze_time(dt.datetime.now(dt.UTC), tick=True) as clock:
        loaded = cli.invoke(args=["demo"])
        assert loaded.exit_code == 0, loaded.output
        people: dict[str, Browser] = {}

        def browser(username: str) -> Browser:
            if username not in people:
                people[username] = Browser(app, username)
            return people[username]

        answered: set[int] = set()
        for _ in range(80):
            tasks, cases = _open(app)
            if not cases:
                break
            for case_id, element, unit in tasks:
                engine.forget_cached()  # the next step lands in a fresh process
                browser(unit).complete(case_id, element, **_form(element, unit, catalogue))
                if element == "answer_referral":
                    answered.add(case_id)
            tasks, cases = _open(app)
            busy = {case_id for case_id, _e, _u in tasks}
            for case in cases:
                # every open case moves on: a task, a timer, or (once answered) a settlement
                assert case.id in busy or case.next_timer_at or case.id in answered, (
                    f"case {case.id} stalled at {case.stage}"
                )
                if case.id in answered and case.stage != "delisting":
                    for bank in _banks_owing(app, case.id):
                        browser(bank).settle(case.id, certificate_no=f"JQ-{case.id}")
            timers = [c.next_timer_at for c in cases if c.id not in busy and c.next_timer_at]
            if timers:
                clock.move_to(max(timers) + dt.timedelta(seconds=1))
                fired = cli.invoke(args=["timers", "fire"])
                assert fired.exit_code == 0, fired.output
        _tasks, cases = _open(app)
        assert cases == [], [(c.id, c.stage) for c in cases]
        check = cli.invoke(args=["cases", "check"])
        assert check.exit_code == 0, check.output
        assert "0 stalled, 0 incidents" in check.output
