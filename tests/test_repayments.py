"""Partial repayments during rectification, through the case page and the API
(webapp.cases.repayments)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from freezegun import freeze_time
from sqlalchemy import func, select

from tests.support import case_row, hide_as_imported, interview_form, report_payload
from webapp.models import Attachment, CaseEvent, Loan, Repayment

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 2 March 2026, 09:00 in China
REPORTED = Decimal("1006000.00")  # report_payload: principal 1,000,000 and interest 6,000


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


@pytest.fixture
def api(app, users):
    tokens: dict[str, str] = {}

    def call(method: str, path: str, as_user: str, json=None, **kw):
        if as_user not in tokens:
            result = app.test_cli_runner().invoke(args=["tokens", "issue", as_user])
            tokens[as_user] = result.output.strip()
        headers = {"Authorization": f"Bearer {tokens[as_user]}"}
        return app.test_client().open(f"/api/v1{path}", method=method, json=json, headers=headers, **kw)

    return call


def _in_rectification(app: Flask, browser, n: int) -> int:
    """A case of bank_icbc's, confirmed (blacklisted) and interviewed: its deadline runs."""
    case_id = browser("bank_icbc").report(report_payload(n))
    office = browser("office")
    office.complete(case_id, "review", review_decision="confirm", classification="evasion")
    office.complete(case_id, "interview", **interview_form(30))
    case = case_row(app, case_id)
    assert case.stage == "rectification" and case.blacklisted
    return case_id


def _count(app: Flask, *where) -> int:
    with app.extensions["db_sessionmaker"]() as session:
        return int(session.scalar(select(func.count()).select_from(Repayment).where(*where)) or 0)


def _events(app: Flask, case_id: int, kind: str) -> list[CaseEvent]:
    with app.extensions["db_sessionmaker"]() as session:
        rows = list(
            session.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
                .order_by(CaseEvent.id)
            )
        )
        session.expunge_all()
        return rows


def _verify(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def test_bank_records_a_repayment_and_the_outstanding_falls(app, browser, clock):
    case_id = _in_rectification(app, browser, 1)
    bank = browser("bank_icbc")
    page = bank.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="repayment-form"' in page and "还款" in page
    assert "不视为结清" in page  # a repayment never settles the loan: the certificate does
    evidence = (io.BytesIO(b"%PDF-1.4 bank receipt"), "回单.pdf")
    response = bank.post(
        f"/cases/{case_id}/repayments",
        data={
            "contract_no": "C-1-1",
            "amount": "200000.50",
            "paid_on": "2026-02-27",
            "notes": "债务人主动还款",
            "evidence_file": evidence,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    page = bank.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "805,999.50" in page and "200,000.50" in page and "债务人主动还款" in page
    [event] = _events(app, case_id, "repayment_recorded")
    with app.extensions["db_sessionmaker"]() as session:
        attachment = session.scalar(select(Attachment).where(Attachment.case_id == case_id))
        assert attachment is not None
        loan = session.scalar(select(Loan).where(Loan.case_id == case_id))
        assert loan is not None and loan.settled_at is None
    assert event.unit_code == "bank_icbc"
    assert event.data["loan"] == "C-1-1" and event.data["amount"] == "200000.50"
    assert event.data["paid_on"] == "2026-02-27" and event.data["sha256"] == attachment.sha256
    assert event.data["outstanding"] == "805999.50"
    # the case page's history names the event in Chinese
    assert "记录部分还款" in page
    _verify(app)


def test_the_office_records_for_the_bank_and_a_full_repayment_does_not_settle(app, browser, clock):
    case_id = _in_rectification(app, browser, 2)
    office = browser("office")
    assert 'id="repayment-form"' in office.get(f"/cases/{case_id}").get_data(as_text=True)
    done = office.post(
        f"/cases/{case_id}/repayments",
        data={"contract_no": "C-2-1", "amount": str(REPORTED), "paid_on": "2026-03-01"},
    )
    assert done.status_code == 302
    [event] = _events(app, case_id, "repayment_recorded")
    assert event.unit_code == "office" and event.data["outstanding"] == "0.00"
    case = case_row(app, case_id)
    assert case.stage == "rectification" and case.blacklisted  # still to be settled by certificate
    with app.extensions["db_sessionmaker"]() as session:
        assert session.scalar(select(Loan.settled_at).where(Loan.case_id == case_id)) is None
    # nothing is left to repay
    more = office.post(
        f"/cases/{case_id}/repayments", data={"contract_no": "C-2-1", "amount": "1", "paid_on": "2026-03-01"}
    )
    assert more.status_code == 422 and "尚欠" in more.get_data(as_text=True)
    assert _count(app) == 1


def test_other_banks_auditors_and_bad_input_are_refused_with_nothing_written(app, browser, clock):
    case_id = _in_rectification(app, browser, 3)
    # bank_abc reports a loan of its own to the same debtor: a co-creditor, not of icbc's loan
    browser("bank_abc").report(
        report_payload(
            3, loans=[{**report_payload(3)["loans"][0], "contract_no": "ABC-3", "principal": 5000}]
        )
    )
    abc, bank = browser("bank_abc"), browser("bank_icbc")
    form = {"contract_no": "C-3-1", "amount": "100", "paid_on": "2026-03-01"}
    refused = abc.post(f"/cases/{case_id}/repayments", data=form)
    assert refused.status_code == 422
    assert "C-3-1" in refused.get_data(as_text=True)
    # the abc loan is abc's own to record
    assert abc.post(f"/cases/{case_id}/repayments", data={**form, "contract_no": "ABC-3"}).status_code == 302
    # a bank outside the case does not see it
    assert browser("bank_rcb").post(f"/cases/{case_id}/repayments", data=form).status_code == 404
    # read-only and non-caseworker users of the office write nothing
    assert browser("auditor").post(f"/cases/{case_id}/repayments", data=form).status_code == 403
    assert browser("supervisor").post(f"/cases/{case_id}/repayments", data=form).status_code == 403
    # above the outstanding amount: refused before the evidence file is written
    uploads = Path(app.config["UPLOAD_DIR"])
    files_before = sorted(uploads.iterdir()) if uploads.exists() else []
    events_before = len(_events(app, case_id, "attachment_added"))
    too_much = bank.post(
        f"/cases/{case_id}/repayments",
        data={
            **form,
            "amount": "1006000.01",
            "evidence_file": (io.BytesIO(b"%PDF-1.4 x"), "r.pdf"),
        },
        content_type="multipart/form-data",
    )
    body = too_much.get_data(as_text=True)
    assert too_much.status_code == 422 and "1,006,000.00" in body and "field-error" in body
    assert (sorted(uploads.iterdir()) if uploads.exists() else []) == files_before
    assert len(_events(app, case_id, "attachment_added")) == events_before
    # in the future, before the loan was overdue, zero, three decimals, no loan
    for bad, field in (
        ({"paid_on": "2026-03-03"}, "不能晚于今天"),
        ({"paid_on": "2025-01-14"}, "逾期"),
        ({"amount": "0"}, "大于零"),
        ({"amount": "1.005"}, "两位小数"),
        ({"amount": "abc"}, "金额"),
        ({"contract_no": ""}, "贷款"),
    ):
        response = bank.post(f"/cases/{case_id}/repayments", data={**form, **bad})
        assert response.status_code == 422, bad
        assert field in response.get_data(as_text=True), bad
    assert _count(app, Repayment.unit_code == "bank_icbc") == 0
    assert len(_events(app, case_id, "repayment_recorded")) == 1  # abc's
    _verify(app)


def test_no_repayment_before_the_blacklist(app, browser, clock):
    case_id = browser("bank_icbc").report(report_payload(4))
    bank = browser("bank_icbc")
    assert 'id="repayment-form"' not in bank.get(f"/cases/{case_id}").get_data(as_text=True)
    response = bank.post(
        f"/cases/{case_id}/repayments", data={"contract_no": "C-4-1", "amount": "10", "paid_on": "2026-03-01"}
    )
    assert response.status_code == 409
    assert _count(app) == 0


def test_the_api_records_and_lists_repayments(app, api, browser, clock):
    case_id = _in_rectification(app, browser, 5)
    body = {"contract_no": "C-5-1", "amount": "6000", "paid_on": "2026-02-01", "notes": "利息"}
    made = api("POST", f"/cases/{case_id}/repayments", "bank_icbc", body)
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["total_outstanding"] == "1000000.00"
    # a JSON number is taken as the decimal it reads
    assert api("POST", f"/cases/{case_id}/repayments", "office", {**body, "amount": 0.1}).status_code == 201
    listed = api("GET", f"/cases/{case_id}/repayments", "bank_icbc").get_json()
    assert [r["amount"] for r in listed["repayments"]] == ["6000.00", "0.10"]
    assert listed["loans"][0]["repaid"] == "6000.10" and listed["loans"][0]["outstanding"] == "999999.90"
    # per-field messages in Chinese by default
    bad = api("POST", f"/cases/{case_id}/repayments", "bank_icbc", {**body, "amount": "-1", "paid_on": "x"})
    assert bad.status_code == 422
    fields = bad.get_json()["fields"]
    assert "大于零" in fields["amount"][0] and "YYYY-MM-DD" in fields["paid_on"][0]
    assert api("POST", f"/cases/{case_id}/repayments", "auditor", body).status_code == 403
    assert api("POST", f"/cases/{case_id}/repayments", "bank_rcb", body).status_code == 404
    assert api("GET", f"/cases/{case_id}/repayments", "bank_rcb").status_code == 404
    assert api("GET", f"/cases/{case_id}/repayments", "auditor").status_code == 200
    _verify(app)


def test_a_hidden_case_is_not_reachable(app, api, browser, users, clock):
    case_id = _in_rectification(app, browser, 6)
    hide_as_imported(app, users["bank_icbc"], case_id)
    form = {"contract_no": "C-6-1", "amount": "10", "paid_on": "2026-03-01"}
    assert browser("bank_icbc").post(f"/cases/{case_id}/repayments", data=form).status_code == 404
    assert browser("office").post(f"/cases/{case_id}/repayments", data=form).status_code == 404
    assert api("POST", f"/cases/{case_id}/repayments", "office", form).status_code == 404
    assert api("GET", f"/cases/{case_id}/repayments", "office").status_code == 404
    assert _count(app) == 0


def test_the_page_speaks_english_on_request(app, browser, clock):
    case_id = _in_rectification(app, browser, 7)
    bank = browser("bank_icbc")
    bank.get("/lang/en")
    page = bank.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Record a partial repayment" in page and "does not settle it" in page
