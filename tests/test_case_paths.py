"""Every outcome of the main diagram, end to end through the HTML pages, with a frozen clock."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from freezegun import freeze_time

from tests.support import assess, case_row, confirm, interview_form, open_tasks, report_payload
from webapp.catalog import load

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
SANCTIONING = ["court", "finance", "land_housing", "market", "ndrc", "publicity"]


def fire_timers(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["timers", "fire"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


def _to_sanction(app: Flask, browser, clock, n: int = 1) -> tuple[int, object, object]:
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(n))
    confirm(browser, case_id)
    assert office.complete(case_id, "interview", **interview_form(30)).status_code == 302
    case = case_row(app, case_id)
    assert case.stage == "rectification"
    assert case.next_timer_at == START + dt.timedelta(days=30)
    # one day before the deadline nothing fires
    clock.move_to(START + dt.timedelta(days=29))
    assert "fired 0 case" in fire_timers(app)
    clock.move_to(START + dt.timedelta(days=30, seconds=1))
    assert f"fired 1 case(s): {case_id}" in fire_timers(app)
    # the office assesses the rectification: sanctions in full
    assert open_tasks(app, case_id) == [("assess_rectification", "office")]
    assess(browser, case_id)
    return case_id, bank, office


def test_rejected_report_closes_case_and_tells_reporter(app, browser, clock):
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(1))
    assert open_tasks(app, case_id) == [("review", "office")]
    response = office.complete(case_id, "review", review_decision="reject", reject_reason="证据不足")
    assert response.status_code == 302
    case = case_row(app, case_id)
    assert (case.status, case.outcome, case.blacklisted) == ("closed", "rejected", False)
    assert open_tasks(app, case_id) == []
    page = bank.get("/notifications").get_data(as_text=True)
    assert "证据不足" in page and f"#{case_id}" in page


def test_negotiation_agreement_runs_a_repayment_plan(app, browser, clock):
    bank = browser("bank_icbc")
    case_id = bank.report(report_payload(2))
    confirm(browser, case_id, "negotiation")
    case = case_row(app, case_id)
    assert case.blacklisted and case.stage == "negotiation"
    assert open_tasks(app, case_id) == [("negotiation", "bank_icbc")]
    # an agreement needs its instalments (posted as rows of the table)
    bank.complete(case_id, "negotiation", expect=422, negotiation_outcome="agreement")
    bank.complete(
        case_id,
        "negotiation",
        negotiation_outcome="agreement",
        **{"instalments.0.due_on": "2026-06-30", "instalments.0.amount": "500000"},
    )
    case = case_row(app, case_id)
    assert (case.status, case.stage, case.blacklisted) == ("open", "repayment_plan", True)
    assert open_tasks(app, case_id) == [("confirm_instalment", "bank_icbc")]


def test_failed_negotiation_goes_to_interview(app, browser, clock):
    bank = browser("bank_icbc")
    case_id = bank.report(report_payload(3))
    confirm(browser, case_id, "negotiation")
    bank.complete(case_id, "negotiation", negotiation_outcome="failed")
    assert open_tasks(app, case_id) == [("interview", "office")]


def test_market_exit(app, browser, clock):
    bank, court = browser("bank_icbc"), browser("court")
    case_id = bank.report(report_payload(4))
    confirm(browser, case_id, "market_exit")
    assert open_tasks(app, case_id) == [("market_exit", "court")]
    court.complete(case_id, "market_exit", bankruptcy_case_no="(2026)皖0321破1号", filing_date="2026-03-02")
    case = case_row(app, case_id)
    assert (case.status, case.outcome, case.blacklisted) == ("closed", "market_exit", False)


@pytest.mark.parametrize("target", ["court", "police", "discipline"])
def test_sanction_then_referral_then_settlement(app, browser, clock, target):
    case_id, bank, office = _to_sanction(app, browser, clock)
    expected = sorted([("apply_sanction", "bank_icbc")] + [("apply_sanction", u) for u in SANCTIONING])
    assert open_tasks(app, case_id) == expected
    assert case_row(app, case_id).stage == "sanction"
    catalogue = load(app.config["PROCESSES_DIR"])
    for _, unit in expected:
        measures = [m.code for m in catalogue.measures_for(unit, "bank" if unit.startswith("bank") else "")][
            :1
        ]
        response = browser(unit).complete(
            case_id, "apply_sanction", measures=measures, document_no=f"{unit}-1"
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert open_tasks(app, case_id) == [("decide_referral", "office")]

    office.complete(case_id, "decide_referral", referral_decision=target, referral_reason="涉嫌拒不执行")
    assert open_tasks(app, case_id) == [("answer_referral", target)]
    answer = (
        {
            "referral_answer": "not_filed",
            "answer_document_no": "公(2026)1号",
            "answer_date": "2026-03-02",
            "answer_reasons": "证据不足",
        }
        if target == "police"
        else {"referral_answer": "filed", "answer_document_no": "(2026)1号", "answer_date": "2026-03-02"}
    )
    assert browser(target).complete(case_id, "answer_referral", **answer).status_code == 302
    if target == "court":  # a filed case at the court goes on to its judgment and enforcement
        assert open_tasks(app, case_id) == [("court_judgment", "court")]
        browser("court").complete(
            case_id,
            "court_judgment",
            judgment_no="(2026)民初1号",
            judgment_date="2026-03-02",
            judgment_result="enforced_in_part",
            amount_enforced=50000,
        )
    # back to the office, which keeps monitoring; the monitoring period brings it back
    office.complete(case_id, "decide_referral", referral_decision="monitor")
    case = case_row(app, case_id)
    assert case.stage == "monitoring" and open_tasks(app, case_id) == []
    clock.move_to(case.next_timer_at + dt.timedelta(seconds=1))
    fire_timers(app)
    assert open_tasks(app, case_id) == [("decide_referral", "office")]

    # the loan is settled: delisting, and every sanctioning unit lifts its sanction
    assert bank.settle(case_id, "JQ-2026-1").status_code == 302
    assert open_tasks(app, case_id) == [("verify_settlement", "office")]
    assert case_row(app, case_id).stage == "delisting"
    office.complete(case_id, "verify_settlement", certificate_decision="verified")
    assert not case_row(app, case_id).blacklisted
    lifts = open_tasks(app, case_id)
    assert lifts == sorted(("lift_sanction", u) for _, u in expected)
    for _, unit in lifts:
        assert case_row(app, case_id).status == "open"
        browser(unit).complete(case_id, "lift_sanction", lift_confirmed=True)
    case = case_row(app, case_id)
    assert (case.status, case.outcome, case.blacklisted) == ("closed", "delisted", False)
    page = office.get(f"/cases/{case_id}")
    assert page.status_code == 200 and 'id="sanctions"' in page.get_data(as_text=True)


def test_settlement_during_review(app, browser, clock):
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(5))
    bank.settle(case_id)
    assert open_tasks(app, case_id) == [("verify_settlement", "office")]
    office.complete(case_id, "verify_settlement", certificate_decision="verified")
    case = case_row(app, case_id)
    assert (case.status, case.outcome, case.blacklisted) == ("closed", "delisted", False)
    assert case.blacklisted_at is None


def test_settlement_while_deadline_runs(app, browser, clock):
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(6))
    office.complete(case_id, "review", review_decision="confirm", classification="evasion")
    office.complete(case_id, "interview", **interview_form(10))
    assert case_row(app, case_id).next_timer_at is not None
    clock.move_to(START + dt.timedelta(days=5))
    bank.settle(case_id)
    case = case_row(app, case_id)
    assert case.next_timer_at is None and case.stage == "delisting"
    # the cancelled deadline never fires
    clock.move_to(START + dt.timedelta(days=11))
    assert "fired 0 case" in fire_timers(app)
    office.complete(case_id, "verify_settlement", certificate_decision="verified")
    case = case_row(app, case_id)
    assert (case.status, case.outcome, case.blacklisted) == ("closed", "delisted", False)


def test_settlement_during_sanction_lifts_only_applied_sanctions(app, browser, clock):
    case_id, bank, office = _to_sanction(app, browser, clock, n=7)
    browser("court").complete(case_id, "apply_sanction", measures=["exit_ban"])
    browser("ndrc").complete(case_id, "apply_sanction", measures=["credit_record"])
    bank.settle(case_id)
    # the open sanction tasks of the other units are cancelled
    assert open_tasks(app, case_id) == [("verify_settlement", "office")]
    office.complete(case_id, "verify_settlement", certificate_decision="verified")
    assert open_tasks(app, case_id) == [("lift_sanction", "court"), ("lift_sanction", "ndrc")]
    browser("court").complete(case_id, "lift_sanction", lift_confirmed=True)
    assert case_row(app, case_id).status == "open"
    browser("ndrc").complete(case_id, "lift_sanction", lift_confirmed=True)
    assert case_row(app, case_id).outcome == "delisted"


def test_officials_path(app, browser, clock):
    bank, office = browser("bank_icbc"), browser("office")
    employer, organization, discipline = (
        browser("employer_education"),
        browser("organization"),
        browser("discipline"),
    )
    case_id = bank.report(report_payload(8, kind="official"))
    confirm(browser, case_id, "official_talk")
    assert open_tasks(app, case_id) == [("official_talk", "employer_education")]
    employer.complete(case_id, "official_talk", talk_date="2026-03-02", talker="局长", rectification_days=20)
    assert case_row(app, case_id).stage == "rectification"
    clock.move_to(START + dt.timedelta(days=21))
    fire_timers(app)
    assert open_tasks(app, case_id) == [("three_stops", "organization")]
    organization.complete(
        case_id, "three_stops", measures=["stop_post", "stop_pay", "no_promotion"], monthly_withholding=3500
    )
    assert open_tasks(app, case_id) == [("answer_referral", "discipline")]
    discipline.complete(
        case_id,
        "answer_referral",
        referral_answer="filed",
        answer_document_no="纪(2026)3号",
        answer_date="2026-03-02",
    )
    assert open_tasks(app, case_id) == [("decide_referral", "office")]
    bank.settle(case_id)
    office.complete(case_id, "verify_settlement", certificate_decision="verified")
    assert open_tasks(app, case_id) == [("lift_sanction", "organization")]
    organization.complete(case_id, "lift_sanction", lift_confirmed=True)
    assert case_row(app, case_id).outcome == "delisted"


def test_same_debtor_from_two_banks_is_one_case(app, browser, clock):
    icbc, abc, office = browser("bank_icbc"), browser("bank_abc"), browser("office")
    first = icbc.report(report_payload(9))
    second_payload = report_payload(9)
    second_payload["loans"][0]["contract_no"] = "ABC-9-1"
    second = abc.report(second_payload)
    assert first == second
    case_id, bank, _ = first, icbc, office
    confirm(browser, case_id)
    office.complete(case_id, "interview", **interview_form(5))
    clock.move_to(START + dt.timedelta(days=6))
    fire_timers(app)
    assess(browser, case_id)
    # both creditor banks sanction
    units = [u for e, u in open_tasks(app, case_id)]
    assert "bank_icbc" in units and "bank_abc" in units
    # one bank's settlement is not enough to delist
    bank.settle(case_id)
    assert case_row(app, case_id).stage == "sanction"
    abc.settle(case_id, "JQ-ABC")
    assert open_tasks(app, case_id) == [("verify_settlement", "office")]


def test_invalid_certificate_sends_the_case_back_to_review(app, browser, clock):
    case_id, bank, office = _to_sanction(app, browser, clock, n=10)
    browser("court").complete(case_id, "apply_sanction", measures=["exit_ban"])
    bank.settle(case_id, "FAKE-1")
    office.complete(
        case_id, "verify_settlement", certificate_decision="rejected", verification_notes="印章不符"
    )
    case = case_row(app, case_id)
    # the case is reviewed again; the debtor stays blacklisted and sanctioned; the loan counts as unpaid
    assert (case.status, case.stage, case.blacklisted) == ("open", "review", True)
    assert open_tasks(app, case_id) == [("review", "office")]
    # a debtor blacklisted and sanctioned is not simply rejected on re-review: it leaves by
    # settlement or by the office's closing, which lift the sanctions
    office.complete(case_id, "review", expect=422, review_decision="reject", reject_reason="重审")
    page = bank.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="settlement-form"' in page
    assert "印章不符" in bank.get("/notifications").get_data(as_text=True)
    # a genuine certificate later still wins, and the court lifts the sanction it applied
    bank.settle(case_id, "JQ-REAL")
    office.complete(case_id, "verify_settlement", certificate_decision="verified")
    assert open_tasks(app, case_id) == [("lift_sanction", "court")]
    browser("court").complete(case_id, "lift_sanction", lift_confirmed=True)
    assert case_row(app, case_id).outcome == "delisted"


def test_settlement_during_negotiation_and_referral(app, browser, clock):
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(11))
    confirm(browser, case_id, "negotiation")
    bank.settle(case_id)
    assert open_tasks(app, case_id) == [("verify_settlement", "office")]

    case_id, bank, office = _to_sanction(app, browser, clock, n=12)
    for _, unit in open_tasks(app, case_id):
        # an empty choice of measures is refused; one measure is enough
        browser(unit).complete(case_id, "apply_sanction", measures=[], expect=422)
        code = "exit_ban" if unit == "court" else _first_measure(app, unit)
        browser(unit).complete(case_id, "apply_sanction", measures=[code])
    office.complete(case_id, "decide_referral", referral_decision="police", referral_reason="涉嫌骗取贷款")
    assert open_tasks(app, case_id) == [("answer_referral", "police")]
    bank.settle(case_id)
    assert open_tasks(app, case_id) == [("verify_settlement", "office")]
    office.complete(case_id, "verify_settlement", certificate_decision="verified")
    assert len(open_tasks(app, case_id)) == 1 + len(SANCTIONING)


def _first_measure(app: Flask, unit: str) -> str:
    catalogue = load(app.config["PROCESSES_DIR"])
    return catalogue.measures_for(unit, "bank" if unit.startswith("bank") else "")[0].code


def test_a_new_loan_does_not_join_a_case_being_delisted(app, browser, clock):
    bank = browser("bank_icbc")
    case_id = bank.report(report_payload(13))
    bank.settle(case_id)
    assert case_row(app, case_id).stage == "delisting"
    other = report_payload(13)
    other["loans"][0]["contract_no"] = "ABC-13"
    from tests.support import flatten_report

    response = browser("bank_abc").post("/report", data=flatten_report(other))
    assert response.status_code == 409
    assert f"#{case_id}" in response.get_data(as_text=True)
