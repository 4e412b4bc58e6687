"""API batches (all or nothing), Idempotency-Key replays, and the OpenAPI document."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from sqlalchemy import func, select

from tests.support import report_payload
from webapp.models import Case, IdempotencyKey, Loan


@pytest.fixture
def api(app, users):
    tokens: dict[str, str] = {}

    def call(method: str, path: str, as_user: str, json=None, key: str | None = None):
        if as_user not in tokens:
            tokens[as_user] = app.test_cli_runner().invoke(args=["tokens", "issue", as_user]).output.strip()
        headers = {"Authorization": f"Bearer {tokens[as_user]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return app.test_client().open(f"/api/v1{path}", method=method, json=json, headers=headers)

    return call


def count(app, model) -> int:
    with app.extensions["db_sessionmaker"]() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_batch_report_merges_and_is_all_or_nothing(app, api):
    second_loan = report_payload(1)
    second_loan["loans"][0]["contract_no"] = "C-1-2"
    body = {"reports": [report_payload(1), report_payload(2, kind="individual"), second_loan]}
    answer = api("POST", "/cases/batch", "bank_icbc", body)
    assert answer.status_code == 201, answer.get_json()
    results = answer.get_json()["results"]
    assert [r["created"] for r in results] == [True, True, False]
    assert results[2]["case_id"] == results[0]["case_id"]  # the same debtor: one case, two loans
    assert count(app, Case) == 2 and count(app, Loan) == 3

    bad = report_payload(3)
    bad["identifier"] = bad["identifier"][:-1] + ("0" if bad["identifier"][-1] != "0" else "1")
    refused = api("POST", "/cases/batch", "bank_icbc", {"reports": [report_payload(4), bad]})
    assert refused.status_code == 422
    assert list(refused.get_json()["fields"]) == ["reports.1.identifier"]
    again = api("POST", "/cases/batch", "bank_icbc", {"reports": [report_payload(5), report_payload(1)]})
    assert again.status_code == 422 and "reports.1.loans.0.contract_no" in again.get_json()["fields"]
    assert count(app, Case) == 2 and count(app, Loan) == 3  # neither batch left anything


def test_idempotency_key_replays_the_first_answer(app, api):
    first = api("POST", "/cases", "bank_icbc", report_payload(1), key="ledger-2026-11-23-0001")
    replay = api("POST", "/cases", "bank_icbc", report_payload(1), key="ledger-2026-11-23-0001")
    assert first.status_code == replay.status_code == 201
    assert replay.get_json() == first.get_json() and replay.headers["Idempotent-Replayed"] == "true"
    assert count(app, Case) == 1 and count(app, IdempotencyKey) == 1

    other = api("POST", "/cases", "bank_icbc", report_payload(2), key="ledger-2026-11-23-0001")
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["fields"]
    # another client's key space is its own
    assert (
        api("POST", "/cases", "bank_abc", report_payload(3), key="ledger-2026-11-23-0001").status_code == 201
    )
    # without a key, the duplicate is refused as already reported
    assert api("POST", "/cases", "bank_icbc", report_payload(1)).status_code == 422
    assert count(app, Case) == 2


def test_a_failed_request_keeps_its_key_free(app, api):
    bad = report_payload(1, name="")
    assert api("POST", "/cases", "bank_icbc", bad, key="k-1").status_code == 422
    assert api("POST", "/cases", "bank_icbc", report_payload(1), key="k-1").status_code == 201
    assert api("POST", "/cases", "bank_icbc", report_payload(1), key="x" * 121).status_code == 422


def test_settlement_batch(app, api):
    reports = {"reports": [report_payload(1), report_payload(2)]}
    cases = [r["case_id"] for r in api("POST", "/cases/batch", "bank_icbc", reports).get_json()["results"]]
    body = {"settlements": [{"case_id": c, "certificate_no": f"JQ-{c}"} for c in cases]}
    unknown = {"settlements": [*body["settlements"], {"case_id": 999, "certificate_no": "JQ"}]}
    refused = api("POST", "/settlements/batch", "bank_icbc", unknown)
    assert refused.status_code == 404 and refused.get_json()["error"].startswith("settlements[2]")
    with app.extensions["db_sessionmaker"]() as session:
        assert session.scalar(select(func.count()).where(Loan.settled_at.is_not(None))) == 0
    done = api("POST", "/settlements/batch", "bank_icbc", body, key="settle-1")
    assert done.status_code == 200
    assert [r["delivered"] for r in done.get_json()["results"]] == [True, True]
    replay = api("POST", "/settlements/batch", "bank_icbc", body, key="settle-1")
    assert replay.get_json() == done.get_json()
    stages = [api("GET", f"/cases/{c}", "bank_icbc").get_json()["stage"] for c in cases]
    assert stages == ["delisting", "delisting"]


def test_openapi_document_is_valid_and_covers_every_route(app):
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["components"]["schemas"]["Report"]["properties"]["identifier"]["maxLength"] == 30
    documented = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule.removeprefix("/api/v1").replace("<int:", "{").replace("<", "{").replace(">", "}")
            routes |= {(path, m) for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    assert routes == documented
