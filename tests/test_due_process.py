"""Issue 18's paths through the main diagram, end to end through the pages and the API with a
frozen clock: the office's assessment at the deadline's end (each option), repayment plans
kept and broken, the police → procuratorate → court chain, the tax inspection, every unit's
part, and every way of closing a case without settlement (with its lifts)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from tests.support import (
    SANCTION_MEASURES,
    case_row,
    interview_form,
    open_task_id,
    open_tasks,
    report_payload,
)
from webapp.models import CaseEvent, Loan, Sanction, Task

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
SANCTIONING = ["bank_icbc", "court", "finance", "land_housing", "market", "ndrc", "publicity"]


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


@pytest.fixture
def api(app, users):
    """JSON completion through /api/v1 (tables of rows post as JSON lists there)."""
    tokens: dict[str, str] = {}

    def complete(username: str, case_id: int, element: str, data: dict[str, Any], expect: int = 200) -> Any:
        if username not in tokens:
            result = app.test_cli_runner().invoke(args=["tokens", "issue", username])
            assert result.exit_code == 0, result.output
            tokens[username] = result.output.strip()
        task_id = open_task_id(app, case_id, element, unit=username)
        response = app.test_client().post(
            f"/api/v1/tasks/{task_id}/complete",
            json={"data": data},
            headers={"Authorization": f"Bearer {tokens[username]}"},
        )
        assert response.status_code == expect, response.get_data(as_text=True)[:1500]
        return response.get_json()

    return complete


def fire_timers(app) -> str:
    result = app.test_cli_runner().invoke(args=["timers", "fire"])
    assert result.exit_code == 0, result.output
    return result.output


def confirmed(app, browser, n: int, classification: str = "evasion", kind: str = "enterprise") -> int:
    """A reported case the office confirmed; the regulator and the market regulator do their part."""
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(n, kind=kind))
    office.complete(case_id, "review", review_decision="confirm", classification=classification)
    assert ("notify_banks", "regulator") in open_tasks(app, case_id)
    assert ("lookup_holdings", "market") in open_tasks(app, case_id)
    browser("regulator").complete(
        case_id, "notify_banks", notice_date="2026-03-02", notice_document_no="金监通〔2026〕3号"
    )
    browser("market").complete(case_id, "lookup_holdings", holdings_found="none")
    return case_id


def to_assessment(app, browser, clock, n: int, days: int = 30) -> int:
    case_id = confirmed(app, browser, n)
    browser("office").complete(case_id, "interview", **interview_form(days))
    assert case_row(app, case_id).stage == "rectification"
    clock.move_to(case_row(app, case_id).next_timer_at + dt.timedelta(seconds=1))
    assert f"{case_id}" in fire_timers(app)
    assert open_tasks(app, case_id) == [("assess_rectification", "office")]
    assert case_row(app, case_id).stage == "assessment"
    return case_id


def sanction_tasks(app, case_id: int) -> list[str]:
    return sorted(u for e, u in open_tasks(app, case_id) if e == "apply_sanction")


def events(app, case_id: int, kind: str) -> list[dict[str, Any]]:
    with app.extensions["db_sessionmaker"]() as session:
        return [
            e.data
            for e in session.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
                .order_by(CaseEvent.seq)
            )
        ]


def sanction_all(browser, case_id: int) -> None:
    for unit in SANCTIONING:
        browser(unit).complete(case_id, "apply_sanction", measures=[SANCTION_MEASURES[unit]])


# ---- the office's assessment ------------------------------------------------------------------
def test_assessment_in_full_opens_every_sanction(app, browser, clock):
    case_id = confirmed(app, browser, 1)
    browser("office").complete(case_id, "interview", **interview_form(30))
    # rectification progress while the deadline runs: a partial repayment by the bank
    clock.tick(dt.timedelta(days=10))
    response = browser("bank_icbc").post(
        f"/cases/{case_id}/repayments",
        data={"contract_no": "C-1-1", "amount": "12345.00", "paid_on": clock().date().isoformat()},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    clock.move_to(case_row(app, case_id).next_timer_at + dt.timedelta(seconds=1))
    fire_timers(app)
    # the office sees the progress when it assesses
    task_id = open_task_id(app, case_id, "assess_rectification")
    page = browser("office").get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'id="task-repayments"' in page and "12,345.00" in page
    browser("office").complete(case_id, "assess_rectification", assessment="full")
    assert sanction_tasks(app, case_id) == SANCTIONING


def test_lighter_sanction_only_chosen_units_and_measures(app, browser, clock):
    case_id = to_assessment(app, browser, clock, 2)
    office = browser("office")
    # a lighter sanction needs its units and measures
    office.complete(case_id, "assess_rectification", expect=422, assessment="partial")
    office.complete(
        case_id,
        "assess_rectification",
        assessment="partial",
        partial_units=["creditor_bank", "publicity"],
        partial_measures=["no_new_credit", "notify_employer"],
    )
    assert sanction_tasks(app, case_id) == ["bank_icbc", "publicity"]
    publicity = browser("publicity")
    task_id = open_task_id(app, case_id, "apply_sanction", unit="publicity")
    page = publicity.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "通报其工作单位" in page and "通过报纸、电视、政府门户网站曝光" not in page
    # exposure was not among the office's choices: refused
    publicity.complete(case_id, "apply_sanction", expect=422, measures=["expose_media"])
    publicity.complete(case_id, "apply_sanction", measures=["notify_employer"])
    browser("bank_icbc").complete(case_id, "apply_sanction", measures=["no_new_credit"])
    with app.extensions["db_sessionmaker"]() as session:
        applied = {
            s.unit_code: s.measures
            for s in session.scalars(select(Sanction).where(Sanction.case_id == case_id))
        }
    assert applied == {"publicity": ["notify_employer"], "bank_icbc": ["no_new_credit"]}
    assert case_row(app, case_id).published_at is None  # no exposure, so not on the public list
    assert open_tasks(app, case_id) == [("decide_referral", "office")]


def test_deadline_extended_once(app, browser, clock):
    case_id = to_assessment(app, browser, clock, 3)
    office = browser("office")
    office.complete(case_id, "assess_rectification", expect=422, assessment="extend", extension_days=15)
    office.complete(
        case_id, "assess_rectification", assessment="extend", extension_days=15, extension_reason="已还款三成"
    )
    case = case_row(app, case_id)
    assert case.stage == "rectification" and open_tasks(app, case_id) == []
    assert case.next_timer_at.date() == (clock().date() + dt.timedelta(days=15))
    clock.move_to(case.next_timer_at + dt.timedelta(seconds=1))
    fire_timers(app)
    assert open_tasks(app, case_id) == [("assess_rectification", "office")]
    # a second extension is not offered and is refused
    task_id = open_task_id(app, case_id, "assess_rectification")
    assert 'value="extend"' not in office.get(f"/tasks/{task_id}").get_data(as_text=True)
    office.complete(
        case_id,
        "assess_rectification",
        expect=422,
        assessment="extend",
        extension_days=5,
        extension_reason="再延",
    )
    office.complete(case_id, "assess_rectification", assessment="full")
    assert sanction_tasks(app, case_id) == SANCTIONING


# ---- repayment plans ----------------------------------------------------------------------------
PLAN = [{"due_on": "2026-05-10", "amount": 100000}, {"due_on": "2026-06-10", "amount": 200000}]


def test_exempt_plan_kept_goes_to_verification_and_delisting(app, browser, clock, api):
    case_id = to_assessment(app, browser, clock, 4)
    api(
        "office",
        case_id,
        "assess_rectification",
        {"assessment": "exempt", "exempt_reason": "银行认可", "instalments": PLAN},
    )
    assert open_tasks(app, case_id) == [("confirm_instalment", "bank_icbc")]
    with app.extensions["db_sessionmaker"]() as session:
        task = session.get(Task, open_task_id(app, case_id, "confirm_instalment"))
        assert task.due_at is not None and task.due_at.astimezone(
            dt.timezone(dt.timedelta(hours=8))
        ).date() == dt.date(2026, 5, 10)
    browser("bank_icbc").complete(
        case_id, "confirm_instalment", instalment_status="paid", paid_amount=100000, paid_on="2026-03-02"
    )
    # the last instalment asks for the settlement certificate, and its page says which it is
    task_id = open_task_id(app, case_id, "confirm_instalment")
    page = browser("bank_icbc").get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "第 2 期（共 2 期）：200,000.00 元，2026-06-10 到期" in page
    assert "settlement_certificate_no" in browser("bank_icbc").get(f"/tasks/{task_id}").get_data(as_text=True)
    browser("bank_icbc").complete(
        case_id,
        "confirm_instalment",
        expect=422,
        instalment_status="paid",
        paid_amount=200000,
        paid_on="2026-03-02",
    )
    browser("bank_icbc").complete(
        case_id,
        "confirm_instalment",
        instalment_status="paid",
        paid_amount=200000,
        paid_on="2026-03-02",
        settlement_certificate_no="JQ-PLAN-4",
    )
    assert open_tasks(app, case_id) == [("verify_settlement", "office")]
    with app.extensions["db_sessionmaker"]() as session:
        loans = list(session.scalars(select(Loan).where(Loan.case_id == case_id)))
    assert all(ln.settlement_certificate_no == "JQ-PLAN-4" and ln.settled_at for ln in loans)
    browser("office").complete(case_id, "verify_settlement", certificate_decision="verified")
    case = case_row(app, case_id)
    assert (case.status, case.outcome, case.blacklisted) == ("closed", "delisted", False)


def test_negotiated_plan_broken_goes_to_interview(app, browser, clock, api):
    case_id = confirmed(app, browser, 5, classification="negotiation")
    api("bank_icbc", case_id, "negotiation", {"negotiation_outcome": "agreement", "instalments": PLAN})
    assert case_row(app, case_id).stage == "repayment_plan"
    bank, office = browser("bank_icbc"), browser("office")
    bank.complete(case_id, "confirm_instalment", instalment_status="missed", instalment_notes="未还")
    # the office may find it no breach: the same instalment is confirmed again
    office.complete(
        case_id, "confirm_missed", breach_confirmed="not_breach", breach_reason="银行系统延迟入账"
    )
    assert open_tasks(app, case_id) == [("confirm_instalment", "bank_icbc")]
    bank.complete(case_id, "confirm_instalment", instalment_status="missed", instalment_notes="仍未还")
    office.complete(case_id, "confirm_missed", breach_confirmed="confirmed", breach_reason="逾期两次")
    assert open_tasks(app, case_id) == [("interview", "office")]
    assert case_row(app, case_id).blacklisted


# ---- the referral chain ---------------------------------------------------------------------------
def to_referral(app, browser, clock, n: int) -> int:
    case_id = to_assessment(app, browser, clock, n)
    browser("office").complete(case_id, "assess_rectification", assessment="full")
    sanction_all(browser, case_id)
    assert open_tasks(app, case_id) == [("decide_referral", "office")]
    return case_id


def test_police_procuratorate_court_chain(app, browser, clock):
    case_id = to_referral(app, browser, clock, 6)
    office = browser("office")
    office.complete(case_id, "decide_referral", referral_decision="police", referral_reason="涉嫌拒执")
    browser("police").complete(
        case_id,
        "answer_referral",
        referral_answer="filed",
        answer_document_no="公立〔2026〕8号",
        answer_date="2026-03-02",
    )
    assert open_tasks(app, case_id) == [("police_outcome", "police")]
    browser("police").complete(
        case_id,
        "police_outcome",
        police_result="transferred",
        document_no="公诉移〔2026〕2号",
        decision_date="2026-03-02",
    )
    assert open_tasks(app, case_id) == [("prosecution_decision", "procuratorate")]
    browser("procuratorate").complete(
        case_id,
        "prosecution_decision",
        prosecution_result="prosecuted",
        document_no="检诉〔2026〕5号",
        decision_date="2026-03-02",
    )
    assert open_tasks(app, case_id) == [("court_judgment", "court")]
    court = browser("court")
    court.complete(
        case_id,
        "court_judgment",
        expect=422,
        judgment_no="(2026)刑初12号",
        judgment_date="2026-03-02",
        judgment_result="enforcement_terminated",
        amount_enforced=0,
    )
    court.complete(
        case_id,
        "court_judgment",
        judgment_no="(2026)刑初12号",
        judgment_date="2026-03-02",
        judgment_result="enforced_in_part",
        amount_enforced=120000,
    )
    assert open_tasks(app, case_id) == [("decide_referral", "office")]
    answers = [(e["answer"]) for e in events(app, case_id, "referral_answered")]
    assert answers == ["filed", "transferred", "prosecuted", "enforced_in_part"]
    with app.extensions["db_sessionmaker"]() as session:
        due = (
            session.scalars(select(Task).where(Task.case_id == case_id, Task.element_id == "court_judgment"))
            .one()
            .due_at
        )
    assert due is not None


def test_police_withdrawal_and_no_prosecution_return_to_the_office(app, browser, clock):
    case_id = to_referral(app, browser, clock, 7)
    office, police = browser("office"), browser("police")
    office.complete(case_id, "decide_referral", referral_decision="police", referral_reason="涉嫌拒执")
    police.complete(
        case_id, "answer_referral", referral_answer="filed", answer_document_no="A1", answer_date="2026-03-02"
    )
    police.complete(
        case_id,
        "police_outcome",
        expect=422,
        police_result="withdrawn",
        document_no="A2",
        decision_date="2026-03-02",
    )
    police.complete(
        case_id,
        "police_outcome",
        police_result="withdrawn",
        document_no="A2",
        decision_date="2026-03-02",
        reasons="证据不足",
    )
    assert open_tasks(app, case_id) == [("decide_referral", "office")]
    office.complete(case_id, "decide_referral", referral_decision="tax", referral_reason="疑似隐匿收入")
    assert open_tasks(app, case_id) == [("tax_inspection", "tax")]
    browser("tax").complete(
        case_id,
        "tax_inspection",
        inspection_result="none_found",
        document_no="税稽1",
        decision_date="2026-03-02",
    )
    assert open_tasks(app, case_id) == [("decide_referral", "office")]


def test_township_follows_up_when_asked(app, browser, clock):
    case_id = confirmed(app, browser, 8)
    browser("office").complete(case_id, "interview", assisting_town="town_chengguan", **interview_form(30))
    assert ("local_follow_up", "town_chengguan") in open_tasks(app, case_id)
    browser("town_chengguan").complete(
        case_id, "local_follow_up", debtor_located="located", follow_up_date="2026-03-02"
    )
    assert open_tasks(app, case_id) == []
    assert case_row(app, case_id).stage == "rectification"


# ---- closing without settlement ------------------------------------------------------------------
CLOSINGS = {
    "written_off": {"bank_confirmation_no": "工银核〔2026〕12号"},
    "enforcement_terminated": {"court_ruling_no": "(2026)执12号之一"},
    "deceased_dissolved": {"certificate_no": "注销2026-31"},
    "bankruptcy": {"court_ruling_no": "(2026)破终3号"},
}


@pytest.mark.parametrize("reason", sorted(CLOSINGS))
def test_closing_without_settlement_lifts_every_sanction(app, browser, clock, reason):
    n = 20 + sorted(CLOSINGS).index(reason)
    case_id = to_referral(app, browser, clock, n)
    office = browser("office")
    assert 'id="close-case"' in office.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="close-case"' not in browser("bank_icbc").get(f"/cases/{case_id}").get_data(as_text=True)
    # the reason's document is required: nothing happens without it
    response = office.post(
        f"/cases/{case_id}/close", data={"closing_reason": reason, "closing_notes": "材料齐全"}
    )
    assert response.status_code == 422
    assert case_row(app, case_id).status == "open" and case_row(app, case_id).closing_reason is None
    assert browser("bank_icbc").post(f"/cases/{case_id}/close", data={}).status_code == 403
    response = office.post(
        f"/cases/{case_id}/close",
        data={"closing_reason": reason, "closing_notes": "材料齐全", **CLOSINGS[reason]},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:1500]
    case = case_row(app, case_id)
    assert (case.closing_reason, case.blacklisted, case.published_at) == (reason, False, None)
    assert sorted(u for e, u in open_tasks(app, case_id) if e == "lift_sanction") == SANCTIONING
    assert all(e == "lift_sanction" for e, _u in open_tasks(app, case_id))
    # while the units lift, the case page does not say it is closed yet
    page = office.get(f"/cases/{case_id}").get_data(as_text=True)
    assert '<span class="tag" id="case-outcome">未结清结案，惩戒解除中</span>' in page
    for unit in SANCTIONING:
        browser(unit).complete(case_id, "lift_sanction", lift_confirmed=True)
    case = case_row(app, case_id)
    assert (case.status, case.outcome) == ("closed", "closed")
    page = office.get(f"/cases/{case_id}").get_data(as_text=True)
    assert '<span class="tag" id="case-outcome">未结清结案</span>' in page
    with app.extensions["db_sessionmaker"]() as session:
        unlifted = session.scalars(
            select(Sanction).where(Sanction.case_id == case_id, Sanction.lifted_at.is_(None))
        )
        assert list(unlifted) == []
    page = browser("bank_icbc").get(f"/cases/{case_id}").get_data(as_text=True)
    assert ('id="closing-note"' in page) == (reason == "written_off")
    # the reporting bank is told, in Chinese
    assert f"案件 #{case_id} 已未结清结案" in browser("bank_icbc").get("/notifications").get_data(
        as_text=True
    )
    [ordered] = events(app, case_id, "closing_ordered")
    assert ordered["closing_reason"] == reason and ordered["lift_units"] == SANCTIONING


def test_closing_before_any_sanction_and_through_the_api(app, browser, clock, users):
    case_id = confirmed(app, browser, 30)
    result = app.test_cli_runner().invoke(args=["tokens", "issue", "office"])
    token = result.output.strip()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    bad = client.post(
        f"/api/v1/cases/{case_id}/closing", json={"closing_reason": "bankruptcy"}, headers=headers
    )
    assert bad.status_code == 422 and "court_ruling_no" in bad.get_json()["fields"]
    done = client.post(
        f"/api/v1/cases/{case_id}/closing",
        json={
            "closing_reason": "deceased_dissolved",
            "certificate_no": "死亡证明123",
            "closing_notes": "户籍注销",
        },
        headers=headers,
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["lift_units"] == []
    case = case_row(app, case_id)
    # the regulator's and market regulator's open tasks went with the case body
    assert (case.status, case.outcome, case.blacklisted) == ("closed", "closed", False)
    assert open_tasks(app, case_id) == []
    again = client.post(
        f"/api/v1/cases/{case_id}/closing",
        json={"closing_reason": "deceased_dissolved", "certificate_no": "x", "closing_notes": "y"},
        headers=headers,
    )
    assert again.status_code == 409


def test_plan_kept_while_side_tasks_are_open_still_reaches_verification(app, browser, clock, api):
    """The regulator's notice is still open when the plan's last instalment is paid: the plan
    ends the case body at once (a terminate end) and its data decides what follows."""
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(40))
    office.complete(case_id, "review", review_decision="confirm", classification="negotiation")
    api("bank_icbc", case_id, "negotiation", {"negotiation_outcome": "agreement", "instalments": PLAN[:1]})
    assert ("notify_banks", "regulator") in open_tasks(app, case_id)
    bank.complete(
        case_id,
        "confirm_instalment",
        instalment_status="paid",
        paid_amount=100000,
        paid_on="2026-03-02",
        settlement_certificate_no="JQ-40",
    )
    assert open_tasks(app, case_id) == [("verify_settlement", "office")]
    office.complete(case_id, "verify_settlement", certificate_decision="verified")
    assert (case_row(app, case_id).status, case_row(app, case_id).outcome) == ("closed", "delisted")


def test_a_deadline_passed_before_the_timer_worker_came_fires_in_another_units_step(app, browser, clock):
    """The engine fires due timers at the end of any step: the history records it, so the
    office's assessment and the sanctions that follow are not refused (rule 1)."""
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(41))
    office.complete(case_id, "review", review_decision="confirm", classification="evasion")
    office.complete(case_id, "interview", **interview_form(30))
    clock.move_to(case_row(app, case_id).next_timer_at + dt.timedelta(hours=1))
    # no timer worker yet: the regulator's late notice is the step that passes the deadline
    browser("regulator").complete(
        case_id, "notify_banks", notice_date="2026-03-02", notice_document_no="金监通〔2026〕9号"
    )
    assert ("assess_rectification", "office") in open_tasks(app, case_id)
    fired = events(app, case_id, "timer_fired")
    assert len(fired) == 1 and fired[0]["during_step"] is True
    office.complete(case_id, "assess_rectification", assessment="full")
    assert sanction_tasks(app, case_id) == SANCTIONING
    assert case_row(app, case_id).incident is None


def test_plan_kept_on_a_reopened_sanctioned_case_lifts_the_sanctions_in_force(app, browser, clock, api):
    """Found by the property run: sanctions applied, an invalid certificate reopens the case,
    the office sends it to negotiation and the plan is kept. Delisting must ask every unit
    whose sanctions are still in force to lift them (rule 2), as a reported settlement does."""
    case_id = to_assessment(app, browser, clock, 42)
    bank, office = browser("bank_icbc"), browser("office")
    office.complete(case_id, "assess_rectification", assessment="full")
    for unit in ("court", "publicity"):
        browser(unit).complete(case_id, "apply_sanction", measures=[SANCTION_MEASURES[unit]])
    bank.settle(case_id, "FAKE-42")
    office.complete(case_id, "verify_settlement", certificate_decision="rejected", verification_notes="伪造")
    office.complete(case_id, "review", review_decision="confirm", classification="negotiation")
    api("bank_icbc", case_id, "negotiation", {"negotiation_outcome": "agreement", "instalments": PLAN[:1]})
    bank.complete(
        case_id,
        "confirm_instalment",
        instalment_status="paid",
        paid_amount=100000,
        paid_on="2026-03-02",
        settlement_certificate_no="JQ-42",
    )
    assert ("verify_settlement", "office") in open_tasks(app, case_id)
    office.complete(case_id, "verify_settlement", certificate_decision="verified")
    case = case_row(app, case_id)
    assert case.incident is None and not case.blacklisted
    assert sorted(u for e, u in open_tasks(app, case_id) if e == "lift_sanction") == ["court", "publicity"]
    for unit in ("court", "publicity"):
        browser(unit).complete(case_id, "lift_sanction", lift_confirmed=True)
    case = case_row(app, case_id)
    assert (case.status, case.outcome) == ("closed", "delisted")
    with app.extensions["db_sessionmaker"]() as session:
        assert all(s.lifted_at for s in session.scalars(select(Sanction).where(Sanction.case_id == case_id)))
