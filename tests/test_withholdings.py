"""An official's monthly pay withholdings under "three stops, five nots", through the case
page and the API (webapp.cases.withholdings)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from freezegun import freeze_time
from sqlalchemy import func, select

from tests.support import open_tasks, report_payload
from webapp.models import CaseEvent, Repayment, Withholding

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 2 March 2026 in China
AFTER_DEADLINE = START + dt.timedelta(days=21)  # 23 March 2026
APRIL = dt.datetime(2026, 4, 15, 2, 0, tzinfo=dt.UTC)
MAY = dt.datetime(2026, 5, 10, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


@pytest.fixture
def api(app, users):
    tokens: dict[str, str] = {}

    def call(method: str, path: str, as_user: str, json=None):
        if as_user not in tokens:
            tokens[as_user] = app.test_cli_runner().invoke(args=["tokens", "issue", as_user]).output.strip()
        headers = {"Authorization": f"Bearer {tokens[as_user]}"}
        return app.test_client().open(f"/api/v1{path}", method=method, json=json, headers=headers)

    return call


def _official_at_three_stops(app: Flask, browser, clock, n: int, loans: list[dict] | None = None) -> int:
    """An official's case whose repayment deadline after the organisation talk has passed:
    the organization unit's three_stops task is open."""
    extra = {"loans": loans} if loans else {}
    case_id = browser("bank_icbc").report(report_payload(n, kind="official", **extra))
    browser("office").complete(case_id, "review", review_decision="confirm", classification="official_talk")
    browser("employer_education").complete(
        case_id, "official_talk", talk_date="2026-03-02", talker="局长", rectification_days=20
    )
    clock.move_to(AFTER_DEADLINE)
    result = app.test_cli_runner().invoke(args=["timers", "fire"])
    assert result.exit_code == 0, result.output
    assert ("three_stops", "organization") in open_tasks(app, case_id)
    return case_id


def _apply_three_stops(browser, case_id: int) -> None:
    browser("organization").complete(
        case_id, "three_stops", measures=["stop_post", "stop_pay"], monthly_withholding=3000
    )


def _rows(app: Flask, model, case_id: int) -> list:
    with app.extensions["db_sessionmaker"]() as session:
        rows = list(session.scalars(select(model).where(model.case_id == case_id).order_by(model.id)))
        session.expunge_all()
        return rows


def _verify(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def test_withholdings_after_three_stops_repay_the_oldest_loan_first(app, browser, clock):
    loans = [
        {"contract_no": "NEW-1", "principal": 50000, "interest": 0, "overdue_since": "2025-06-01"},
        {"contract_no": "OLD-1", "principal": 4000, "interest": 100, "overdue_since": "2025-01-15"},
    ]
    case_id = _official_at_three_stops(app, browser, clock, 1, loans)
    organization, employer = browser("organization"), browser("employer_education")
    page = employer.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="withholdings"' in page and "三停五不" in page
    assert 'id="withholding-form"' not in page  # not before three_stops is completed
    early = employer.post(
        f"/cases/{case_id}/withholdings", data={"month": "2026-03", "salary": "6000", "withheld": "3000"}
    )
    assert early.status_code == 409
    assert _rows(app, Withholding, case_id) == []

    _apply_three_stops(browser, case_id)
    page = employer.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="withholding-form"' in page and "1,850.00" in page
    done = employer.post(
        f"/cases/{case_id}/withholdings",
        data={"month": "2026-03", "salary": "6000.00", "withheld": "4150", "notes": "三月工资"},
    )
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    # the older loan (4,100.00) is repaid first, the rest goes to the newer one
    repaid = {(r.loan_id, str(r.amount), r.source, r.paid_on) for r in _rows(app, Repayment, case_id)}
    assert {(amount, source, day) for _, amount, source, day in repaid} == {
        ("4100.00", "withholding", dt.date(2026, 3, 23)),
        ("50.00", "withholding", dt.date(2026, 3, 23)),
    }
    # the organization unit records the next month (paid today, not at its end)
    clock.move_to(APRIL)
    april = organization.post(
        f"/cases/{case_id}/withholdings", data={"month": "2026-04", "salary": "5850", "withheld": "4000"}
    )
    assert april.status_code == 302
    with app.extensions["db_sessionmaker"]() as session:
        days = set(session.scalars(select(Repayment.paid_on).where(Repayment.case_id == case_id)))
        assert days == {dt.date(2026, 3, 23), dt.date(2026, 4, 15)}
    page = employer.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "2026-03" in page and "2026-04" in page and "三月工资" in page
    assert "8,150.00" in page  # withheld in all
    assert "45,950.00" in page  # 54,100.00 reported less 8,150.00
    assert "登记工资扣划" in page  # the history's label
    events = [e for e in _rows(app, CaseEvent, case_id) if e.kind == "withholding_recorded"]
    assert [e.data["month"] for e in events] == ["2026-03", "2026-04"]
    assert events[0].data["withheld"] == "4150.00" and events[0].data["minimum_wage"] == "1850.00"
    assert events[0].data["repaid"] == [
        {"loan": "OLD-1", "amount": "4100.00"},
        {"loan": "NEW-1", "amount": "50.00"},
    ]
    _verify(app)


def test_bad_withholdings_are_refused_with_nothing_written(app, browser, clock):
    case_id = _official_at_three_stops(app, browser, clock, 2)
    _apply_three_stops(browser, case_id)
    clock.move_to(MAY)
    employer = browser("employer_education")
    url = f"/cases/{case_id}/withholdings"
    ok = {"month": "2026-03", "salary": "6000", "withheld": "3000"}
    assert employer.post(url, data=ok).status_code == 302
    for bad, message in (
        # 6,000 - 4,200 leaves 1,800, below the minimum living wage of 1,850
        ({"month": "2026-04", "withheld": "4200"}, "最低生活保障"),
        ({"month": "2026-03"}, "已登记"),
        ({"month": "2026-06"}, "不能晚于本月"),
        ({"month": "2026-13"}, "YYYY-MM"),
        ({"month": "2026-04", "salary": "0"}, "大于零"),
        ({"month": "2026-04", "withheld": "-5"}, "负数"),
        # before three stops, five nots was applied (23 March)
        ({"month": "2026-02"}, "起扣划"),
    ):
        response = employer.post(url, data={**ok, **bad})
        assert response.status_code == 422, bad
        body = response.get_data(as_text=True)
        assert message in body, (bad, re.findall(r"field-error\">([^<]*)", body))
    # a salary below the minimum wage: nothing can be withheld, and nothing is refused
    assert employer.post(url, data={"month": "2026-04", "salary": "1500", "withheld": "0"}).status_code == 302
    assert [w.month for w in _rows(app, Withholding, case_id)] == ["2026-03", "2026-04"]
    assert len(_rows(app, Repayment, case_id)) == 1
    # the bank, the office and another employer do not record withholdings; auditors write nothing
    for who, status in (("bank_icbc", 403), ("office", 403), ("auditor", 403), ("court", 404)):
        assert browser(who).post(url, data={**ok, "month": "2026-05"}).status_code == status, who
    _verify(app)


def test_withholdings_end_when_the_loans_are_settled(app, browser, clock):
    case_id = _official_at_three_stops(app, browser, clock, 3)
    _apply_three_stops(browser, case_id)
    browser("bank_icbc").settle(case_id)
    employer = browser("employer_education")
    response = employer.post(
        f"/cases/{case_id}/withholdings", data={"month": "2026-03", "salary": "6000", "withheld": "3000"}
    )
    assert response.status_code == 409
    assert 'id="withholding-form"' not in employer.get(f"/cases/{case_id}").get_data(as_text=True)


def test_withholdings_through_the_api(app, api, browser, clock):
    case_id = _official_at_three_stops(app, browser, clock, 4)
    body = {"month": "2026-03", "salary": "6000", "withheld": 4150}
    assert api("POST", f"/cases/{case_id}/withholdings", "organization", body).status_code == 409
    _apply_three_stops(browser, case_id)
    made = api("POST", f"/cases/{case_id}/withholdings", "organization", body)
    assert made.status_code == 201, made.get_json()
    answer = made.get_json()
    assert answer["withholding"]["withheld"] == "4150.00"
    assert answer["repayments"]["total_outstanding"] == "1001850.00"
    clock.move_to(APRIL)
    twice = api("POST", f"/cases/{case_id}/withholdings", "organization", body)
    assert twice.status_code == 422 and "month" in twice.get_json()["fields"]
    low = api(
        "POST",
        f"/cases/{case_id}/withholdings",
        "organization",
        {**body, "month": "2026-04", "withheld": 4151},
    )
    assert low.status_code == 422 and "1,850.00" in low.get_json()["fields"]["withheld"][0]
    listed = api("GET", f"/cases/{case_id}/withholdings", "bank_icbc").get_json()
    assert [e["month"] for e in listed["entries"]] == ["2026-03"] and listed["accepting"] is True
    assert api("POST", f"/cases/{case_id}/withholdings", "bank_icbc", body).status_code == 403
    assert api("POST", f"/cases/{case_id}/withholdings", "auditor", body).status_code == 403
    assert api("GET", f"/cases/{case_id}/withholdings", "bank_rcb").status_code == 404
    with app.extensions["db_sessionmaker"]() as session:
        assert session.scalar(select(func.count()).select_from(Withholding)) == 1


def test_no_withholding_on_a_case_that_is_not_an_official(app, browser, clock):
    case_id = browser("bank_icbc").report(report_payload(5))
    page = browser("organization").get(f"/cases/{case_id}")
    assert page.status_code == 404  # not a participant
    office_page = browser("office").get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="withholdings"' not in office_page
