"""Review findings kept fixed: redirects, numbers, CSRF, visibility, form choices, incidents."""

from __future__ import annotations

import json

import pytest

from tests.support import (
    PASSWORD,
    Browser,
    app_with_csrf,
    app_with_edited_diagram,
    case_row,
    flatten_report,
    open_task_id,
    report_payload,
)
from webapp.models import User


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/\\evil.example",
        "/%09/evil.example",
        "/\t/evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
    ],
)
def test_login_never_redirects_to_another_site(app, users, target):
    response = app.test_client().post(
        f"/login?next={target}", data={"username": "office", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/inbox"


def test_login_keeps_a_local_next_page(app, users):
    response = app.test_client().post("/login?next=/cases", data={"username": "office", "password": PASSWORD})
    assert response.headers["Location"] == "/cases"


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_non_finite_numbers_are_refused(app, browser, value):
    payload = report_payload(1)
    payload["loans"][0]["principal"] = value
    response = browser("bank_icbc").post("/report", data=flatten_report(payload))
    assert response.status_code == 422
    assert 'class="invalid" data-field="loans.0.principal"' in response.get_data(as_text=True)


def test_nan_in_api_json_is_refused(app, users):
    token = app.test_cli_runner().invoke(args=["tokens", "issue", "bank_icbc"]).output.strip()
    identifier = report_payload(2)["identifier"]
    # Python's json writes NaN for float("nan"): the literal a careless client sends
    raw = json.dumps(
        {
            "debtor_kind": "enterprise",
            "name": "N",
            "identifier": identifier,
            "legal_representative": "x",
            "behaviour": "other",
            "loans": [
                {"contract_no": "C", "principal": float("nan"), "interest": 0, "overdue_since": "2025-01-01"}
            ],
        }
    )
    assert "NaN" in raw
    response = app.test_client().post(
        "/api/v1/cases",
        data=raw,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422
    assert "loans.0.principal" in response.get_json()["fields"]


def test_forms_are_refused_without_csrf_token(app, users):
    protected = app_with_csrf(app)
    try:
        client = protected.test_client()
        assert client.post("/login", data={"username": "office", "password": PASSWORD}).status_code == 400
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        ok = client.post("/login", data={"username": "office", "password": PASSWORD, "csrf_token": token})
        assert ok.status_code == 302
        assert client.post("/report", data=flatten_report(report_payload(3))).status_code == 400
    finally:
        protected.extensions["db_engine"].dispose()


def test_supervisor_of_a_bank_sees_only_its_cases(app, browser, users):
    with app.extensions["db_sessionmaker"]() as session:
        user = session.get(User, users["bank_abc"])
        user.roles = "caseworker supervisor"
        session.commit()
    case_id = browser("bank_icbc").report(report_payload(4))
    assert browser("bank_abc").get(f"/cases/{case_id}").status_code == 404
    assert browser("auditor").get(f"/cases/{case_id}").status_code == 200
    assert browser("supervisor").get(f"/cases/{case_id}").status_code == 200


def test_official_talk_is_offered_only_for_officials(app, browser):
    office = browser("office")
    enterprise = browser("bank_icbc").report(report_payload(5))
    page = office.get(f"/tasks/{open_task_id(app, enterprise, 'review')}").get_data(as_text=True)
    assert 'value="official_talk"' not in page and 'value="market_exit"' in page
    office.complete(
        enterprise, "review", expect=422, review_decision="confirm", classification="official_talk"
    )
    official = browser("bank_icbc").report(report_payload(6, kind="official"))
    page = office.get(f"/tasks/{open_task_id(app, official, 'review')}").get_data(as_text=True)
    assert 'value="official_talk"' in page and 'value="market_exit"' not in page


def test_incident_is_cleared_by_the_next_successful_step(app, users, tmp_path):
    broken = app_with_edited_diagram(app, tmp_path, "review_decision == 'reject'", "oops == 1")
    try:
        bank = Browser(broken, "bank_icbc")
        case_id = bank.report(report_payload(7))
        Browser(broken, "office").complete(
            case_id, "review", expect=409, review_decision="reject", reject_reason="x"
        )
        assert "oops" in (case_row(app, case_id).incident or "")
        bank.settle(case_id)
        assert case_row(app, case_id).incident is None
        assert case_row(app, case_id).stage == "delisting"
    finally:
        broken.extensions["db_engine"].dispose()


def test_messages_of_posts_never_shown_do_not_pile_up_in_the_session(app, browser):
    # a client that posts without following the redirects keeps only the newest messages:
    # the session cookie stays small, and the next page shows the latest outcome
    bank = browser("bank_icbc")
    cases = [bank.report(report_payload(90 + n)) for n in range(12)]
    cookie = bank.client.get_cookie("session")
    assert cookie is not None and len(cookie.value) < 1000
    page = bank.get("/inbox").get_data(as_text=True)
    assert f"已立案，案件编号 {cases[-1]}。" in page
    assert f"已立案，案件编号 {cases[-5]}。" in page and f"已立案，案件编号 {cases[-6]}。" not in page
