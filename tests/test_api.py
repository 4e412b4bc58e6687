"""The JSON API under /api/v1, with bearer tokens issued by the CLI command."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time

from tests.support import report_payload


def issue_token(app, username: str) -> str:
    result = app.test_cli_runner().invoke(args=["tokens", "issue", username])
    assert result.exit_code == 0, result.output
    return result.output.strip()


@pytest.fixture
def api(app, users):
    tokens: dict[str, str] = {}

    def call(method: str, path: str, as_user: str, json=None):
        if as_user not in tokens:
            tokens[as_user] = issue_token(app, as_user)
        client = app.test_client()
        return client.open(
            f"/api/v1{path}", method=method, json=json, headers={"Authorization": f"Bearer {tokens[as_user]}"}
        )

    return call


def _task(api, as_user: str, element: str, case_id: int) -> dict:
    tasks = api("GET", "/tasks", as_user).get_json()["tasks"]
    return next(t for t in tasks if t["element_id"] == element and t["case_id"] == case_id)


def test_requires_a_valid_token(app, users):
    client = app.test_client()
    response = client.get("/api/v1/tasks")
    assert response.status_code == 401 and response.get_json() == {"error": "missing or invalid bearer token"}
    assert client.get("/api/v1/tasks", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_whole_path_through_the_api(app, api):
    with freeze_time("2026-03-02 01:00:00") as clock:
        created = api("POST", "/cases", "bank_icbc", report_payload(1))
        assert created.status_code == 201
        case = created.get_json()["case"]
        assert case["stage"] == "review" and case["debtor"]["identifier"].count("*") == 10
        case_id = case["id"]

        review = _task(api, "office", "review", case_id)
        shown = api("GET", f"/tasks/{review['id']}", "office").get_json()
        assert shown["form_schema"]["properties"]["review_decision"]["enum"] == ["confirm", "reject"]
        assert api("POST", f"/tasks/{review['id']}/claim", "office").get_json()["claimed_by"] == "office"
        done = api(
            "POST",
            f"/tasks/{review['id']}/complete",
            "office",
            {"data": {"review_decision": "confirm", "classification": "evasion"}},
        )
        assert done.status_code == 200 and done.get_json()["case"]["blacklisted"] is True
        # beside the path: the regulator's notice to the banks, the market regulator's look-up
        notice = _task(api, "regulator", "notify_banks", case_id)
        noticed = api(
            "POST",
            f"/tasks/{notice['id']}/complete",
            "regulator",
            {"data": {"notice_date": "2026-03-02", "notice_document_no": "金监通〔2026〕1号"}},
        )
        assert noticed.status_code == 200
        lookup = _task(api, "market", "lookup_holdings", case_id)
        looked = api(
            "POST", f"/tasks/{lookup['id']}/complete", "market", {"data": {"holdings_found": "none"}}
        )
        assert looked.status_code == 200

        interview = _task(api, "office", "interview", case_id)
        api(
            "POST",
            f"/tasks/{interview['id']}/complete",
            "office",
            {"data": {"interview_date": "2026-03-02", "attendees": "办公室", "rectification_days": 7}},
        )
        clock.move_to(dt.datetime(2026, 3, 9, 2, 0))
        assert app.test_cli_runner().invoke(args=["timers", "fire"]).exit_code == 0
        # the office assesses the rectification: sanctions in full
        assessment = _task(api, "office", "assess_rectification", case_id)
        assessed = api(
            "POST", f"/tasks/{assessment['id']}/complete", "office", {"data": {"assessment": "full"}}
        )
        assert assessed.status_code == 200 and assessed.get_json()["case"]["stage"] == "sanction"
        court_task = _task(api, "court", "apply_sanction", case_id)
        schema = api("GET", f"/tasks/{court_task['id']}", "court").get_json()["form_schema"]
        assert schema["properties"]["measures"]["items"]["enum"] == ["restrict_high_consumption", "exit_ban"]
        api("POST", f"/tasks/{court_task['id']}/complete", "court", {"data": {"measures": ["exit_ban"]}})

        settled = api("POST", f"/cases/{case_id}/settlement", "bank_icbc", {"certificate_no": "JQ-1"})
        assert settled.status_code == 200 and settled.get_json()["all_settled"] is True
        verify = _task(api, "office", "verify_settlement", case_id)
        api(
            "POST",
            f"/tasks/{verify['id']}/complete",
            "office",
            {"data": {"certificate_decision": "verified"}},
        )
        lift = _task(api, "court", "lift_sanction", case_id)
        api("POST", f"/tasks/{lift['id']}/complete", "court", {"data": {"lift_confirmed": True}})
        final = api("GET", f"/cases/{case_id}", "office").get_json()
        assert (final["status"], final["outcome"], final["blacklisted"]) == ("closed", "delisted", False)
        assert final["sanctions"][0]["lifted_at"] is not None


def test_api_errors_are_json(app, api):
    case_id = api("POST", "/cases", "bank_icbc", report_payload(2)).get_json()["case"]["id"]
    review = _task(api, "office", "review", case_id)
    # wrong unit
    wrong = api(
        "POST", f"/tasks/{review['id']}/complete", "bank_icbc", {"data": {"review_decision": "reject"}}
    )
    assert wrong.status_code == 403 and "error" in wrong.get_json()
    # invalid data: field-level messages
    bad = api("POST", f"/tasks/{review['id']}/complete", "office", {"data": {"review_decision": "reject"}})
    assert bad.status_code == 422 and "reject_reason" in bad.get_json()["fields"]
    # not an object
    assert api("POST", f"/tasks/{review['id']}/complete", "office", ["x"]).status_code == 422
    ok = api(
        "POST",
        f"/tasks/{review['id']}/complete",
        "office",
        {"data": {"review_decision": "reject", "reject_reason": "证据不足"}},
    )
    assert ok.status_code == 200
    again = api(
        "POST",
        f"/tasks/{review['id']}/complete",
        "office",
        {"data": {"review_decision": "reject", "reject_reason": "证据不足"}},
    )
    assert again.status_code == 409 and "error" in again.get_json()
    # a closed case takes no settlement
    closed = api("POST", f"/cases/{case_id}/settlement", "bank_icbc", {"certificate_no": "JQ"})
    assert closed.status_code == 409
    # unknown task and case: 404 JSON
    assert api("GET", "/tasks/00000000-0000-0000-0000-000000000000", "office").status_code == 404
    missing = api("GET", "/cases/999999", "office")
    assert missing.status_code == 404 and set(missing.get_json()) == {"error"}


def test_report_twice_joins_the_open_case(app, api):
    first = api("POST", "/cases", "bank_icbc", report_payload(3)).get_json()["case"]["id"]
    other = report_payload(3)
    other["loans"][0]["contract_no"] = "ABC-3"
    second = api("POST", "/cases", "bank_abc", other)
    assert second.status_code == 200 and second.get_json()["created"] is False
    assert second.get_json()["case"]["id"] == first
    assert [ln["bank"] for ln in second.get_json()["case"]["loans"]] == ["bank_icbc", "bank_abc"]
    # the same loan again is refused, naming the field
    again = api("POST", "/cases", "bank_abc", other)
    assert again.status_code == 422 and "loans.0.contract_no" in again.get_json()["fields"]


def test_settlement_with_certificate_file_through_the_api(app, api):
    import io

    case_id = api("POST", "/cases", "bank_icbc", report_payload(4)).get_json()["case"]["id"]
    token = issue_token(app, "bank_icbc")
    response = app.test_client().post(
        f"/api/v1/cases/{case_id}/settlement",
        data={"certificate_no": "JQ-4", "certificate_file": (io.BytesIO(b"%PDF-1.4"), "jq.pdf")},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["case"]["loans"][0]["settlement_certificate_no"] == "JQ-4"
    assert response.get_json()["case"]["stage"] == "delisting"
