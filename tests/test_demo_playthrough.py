"""The demo played through to the end: every demo case, from wherever `flask demo` leaves it,
is worked by its units through the pages (the office, the banks, the regulator and the market
regulator beside the path, a township, every sanctioning unit, the police, procuratorate and
court), its deadlines fired by `flask timers fire` with the clock moved on, the office's
assessment when a deadline passed, the repayment plan's instalments confirmed by the bank on
their dates (a settlement certificate with the last), its loans settled once a referral chain
was answered, and the sanctions of the case closed without settlement lifted, until every
case is closed. Between any two steps the process forgets every parsed definition, as a fresh
worker would. At the end `flask cases check` finds no stalled case and no incident."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from tests.support import PASSWORD, Browser, interview_form
from webapp import engine
from webapp.catalog import load
from webapp.deadlines.calendar import local_today
from webapp.models import Case, Loan, Task


def _form(element: str, unit: str, context: dict[str, Any], catalogue: Any) -> dict[str, Any]:
    """What the unit enters (``context``: the task's context): the path that goes furthest
    (a township's follow-up, holdings found, sanctions in full, a referral through to the
    court's judgment), and a plan's instalments paid."""
    forms: dict[str, dict[str, Any]] = {
        "review": {"review_decision": "confirm", "classification": "evasion"},
        "notify_banks": {"notice_date": "2026-03-03", "notice_document_no": "金监通〔2026〕1号"},
        "lookup_holdings": {
            "holdings_found": "found",
            "holdings.0.company": "某某关联贸易有限公司",
            "holdings.0.role": "股东",
            "holdings.0.share_percent": "40",
        },
        "interview": interview_form(1) | {"assisting_town": "town_chengguan"},
        "local_follow_up": {"debtor_located": "located", "follow_up_date": "2026-03-05"},
        "official_talk": {"talk_date": "2026-03-02", "talker": "局长", "rectification_days": 1},
        "three_stops": {"measures": ["stop_post", "stop_pay"]},
        "assess_rectification": {"assessment": "full"},
        "negotiation": {"negotiation_outcome": "failed"},
        "market_exit": {"bankruptcy_case_no": "破1号", "filing_date": "2026-03-05"},
        "decide_referral": {"referral_decision": "police", "referral_reason": "涉嫌拒不执行"},
        "answer_referral": {
            "referral_answer": "filed",
            "answer_document_no": "公立字1号",
            "answer_date": "2026-04-01",
        },
        "police_outcome": {
            "police_result": "transferred",
            "document_no": "公诉移字1号",
            "decision_date": "2026-05-01",
        },
        "prosecution_decision": {
            "prosecution_result": "prosecuted",
            "document_no": "检诉字1号",
            "decision_date": "2026-06-01",
        },
        "court_judgment": {
            "judgment_no": "(2026)刑初1号",
            "judgment_date": "2026-08-01",
            "judgment_result": "enforced_in_part",
            "amount_enforced": "100000",
        },
        "verify_settlement": {"certificate_decision": "verified"},
        "lift_sanction": {"lift_confirmed": True},
        # the judgment defaulters: a refusal to execute referred, the police's written answer,
        # the judgment fulfilled once nothing else is open, every restriction lifted
        "refer_refusal": {
            "refer_decision": "refer",
            "refusal_facts": "转移财产",
            "referral_document_no": "移送函1号",
        },
        "police_filing": {
            "filing_result": "filed",
            "filing_document_no": "立案决定书1号",
            "filing_date": "2026-04-01",
        },
        "record_exit": {
            "exit_reason": "fulfilled",
            "exit_document_no": "执行完毕1号",
            "exit_date": local_today().isoformat(),
        },
        "lift_restriction": {"lift_confirmed": True},
    }
    if element == "apply_restriction":
        return {"measures": [catalogue.process("judgment_defaulter").measures[unit][0].code]}
    if element == "apply_sanction":
        measures = catalogue.measures_for(unit, "bank" if unit.startswith("bank") else "")
        return {"measures": [measures[0].code]}
    if element == "confirm_instalment":
        paid = {
            "instalment_status": "paid",
            "paid_amount": str(context["instalment"]["amount"]),
            "paid_on": local_today().isoformat(),
        }
        last = {"settlement_certificate_no": f"JQ-PLAN-{context['plan_index']}"}
        return paid | (last if context.get("instalment_last") else {})
    return forms[element]


def _open(app: Any) -> tuple[list[tuple[int, str, str, dict[str, Any], dt.datetime | None]], list[Case]]:
    with app.extensions["db_sessionmaker"]() as session:
        tasks = list(
            session.execute(
                select(Task.case_id, Task.element_id, Task.unit_code, Task.context, Task.due_at)
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
        done: Counter[str] = Counter()
        for _ in range(80):
            tasks, cases = _open(app)
            if not cases:
                break
            busy_with: Counter[int] = Counter(case_id for case_id, *_rest in tasks)
            for case_id, element, unit, context, due_at in tasks:
                if element == "record_exit" and busy_with[case_id] > 1:
                    continue  # the court records the judgment fulfilled once the rest is done
                engine.forget_cached()  # the next step lands in a fresh process
                if element == "confirm_instalment" and due_at and due_at > dt.datetime.now(dt.UTC):
                    # the bank confirms the instalment on its date; the timer worker has kept
                    # up meanwhile (other cases' deadlines passed on the way fire first)
                    clock.move_to(due_at)
                    fired = cli.invoke(args=["timers", "fire"])
                    assert fired.exit_code == 0, fired.output
                browser(unit).complete(case_id, element, **_form(element, unit, context or {}, catalogue))
                done[element] += 1
                busy_with[case_id] -= 1
                if element == "court_judgment":  # the referral chain ran to the court's judgment
                    answered.add(case_id)
            tasks, cases = _open(app)
            busy = {case_id for case_id, *_rest in tasks}
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
        # the plan kept to its last instalment, verified, delisted; the written-off case closed
        # once the court lifted its measures
        with app.extensions["db_sessionmaker"]() as session:
            outcomes = dict(session.execute(select(Case.debtor_name, Case.outcome)).all())
        assert outcomes["某某食品有限公司"] == "delisted"
        assert outcomes["某某化工有限公司"] == "closed"
        # the demo's plan has three instalments: the first confirmed by the demo, two here
        assert done["confirm_instalment"] == 2
        for element in (
            "notify_banks",
            "lookup_holdings",
            "local_follow_up",
            "assess_rectification",
            "police_outcome",
            "prosecution_decision",
            "court_judgment",
            "verify_settlement",
            "lift_sanction",
            "apply_restriction",
            "refer_refusal",
            "police_filing",
            "record_exit",
            "lift_restriction",
        ):
            assert done[element], f"no {element} was completed"
        check = cli.invoke(args=["cases", "check"])
        assert check.exit_code == 0, check.output
        assert "0 stalled, 0 incidents" in check.output
