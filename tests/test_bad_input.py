"""Bad input never gives a 500 (issue 16): numbers past what a column holds, NUL characters,
text that cannot be encoded, the 500 page itself, a database that is down, 405 answers,
and logs without identifiers. Every test goes through HTTP, on both databases."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import DataError

from tests.support import PASSWORD, flatten_report, open_task_id, report_payload
from webapp import create_app
from webapp.db import get_session

BEYOND_64 = "9223372036854775808"  # 2**63: past a signed 64-bit integer
HUGE = "99999999999999999999"
BEYOND_32 = "2147483648"  # 2**31: past an INTEGER id column on PostgreSQL
SECURITY = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options")


def api_token(app: Flask, username: str = "bank_icbc") -> dict[str, str]:
    token = app.test_cli_runner().invoke(args=["tokens", "issue", username]).output.strip()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def answered(app: Flask) -> Iterator[None]:
    """An unhandled exception is answered with the 500 page, as in production (tests
    propagate it by default)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        yield
    finally:
        app.config["PROPAGATE_EXCEPTIONS"] = None


# --- numbers past what the database holds ------------------------------------------------------


PAGES_WITH_AN_ID = [
    ("office", "/cases/{n}"),
    ("office", "/cases/{n}/diagram.bpmn"),
    ("office", "/audit/cases/{n}"),
    ("office", "/audit/cases/{n}/export.json"),
    ("admin", "/admin/users/{n}"),
    ("bank_icbc", "/ledger/{n}"),
    ("bank_icbc", "/ledger/{n}/progress"),
]


def test_ids_past_the_column_are_not_found_on_pages(app, browser):
    clients = {who: browser(who) for who in {who for who, _path in PAGES_WITH_AN_ID}}
    for who, path in PAGES_WITH_AN_ID:
        for number in (BEYOND_32, BEYOND_64, HUGE, "9" * 5000):
            response = clients[who].get(path.format(n=number))
            assert response.status_code == 404, (path, number)
    assert clients["office"].get("/cases/2147483647").status_code == 404  # the largest id: looked up


@pytest.mark.parametrize("number", [BEYOND_32, BEYOND_64, HUGE])
def test_ids_past_the_column_are_not_found_in_posts(app, browser, number):
    office = browser("office")
    assert office.post(f"/cases/{number}/reveal", data={"reason": "x"}).status_code == 404
    assert office.post(f"/supervision/cases/{number}/retry").status_code == 404
    assert browser("bank_icbc").post(f"/cases/{number}/settlement", data={}).status_code == 404


@pytest.mark.parametrize("number", [BEYOND_32, BEYOND_64, HUGE])
def test_ids_past_the_column_are_not_found_in_the_api(app, users, number):
    client, headers = app.test_client(), api_token(app)
    response = client.get(f"/api/v1/cases/{number}", headers=headers)
    assert response.status_code == 404 and response.get_json() == {"error": "not found"}
    response = client.post(
        f"/api/v1/cases/{number}/settlement", json={"certificate_no": "x"}, headers=headers
    )
    assert response.status_code == 404


@pytest.mark.parametrize("number", [BEYOND_32, BEYOND_64, HUGE])
def test_a_case_number_past_the_column_in_a_json_batch_is_refused(app, users, number):
    body = {"settlements": [{"case_id": int(number), "certificate_no": "JQ"}]}
    response = app.test_client().post("/api/v1/settlements/batch", json=body, headers=api_token(app))
    assert response.status_code == 422
    assert "settlements.0.case_id" in response.get_json()["fields"]


def test_an_integer_past_64_bits_in_a_json_body_is_refused_by_name(app, users):
    payload = report_payload(1)
    payload["loans"][0]["principal"] = int(HUGE)
    response = app.test_client().post("/api/v1/cases", json=payload, headers=api_token(app))
    assert response.status_code == 422
    assert list(response.get_json()["fields"]) == ["loans.0.principal"]


def test_a_reassignment_to_a_user_number_past_the_column_is_not_found(app, browser):
    case_id = browser("bank_icbc").report(report_payload(2))
    task_id = open_task_id(app, case_id, "review")
    for number in (BEYOND_32, HUGE):
        response = browser("supervisor").post(
            "/supervision/reassign", data={"task_ids": task_id, "to_user": number, "reason": "x"}
        )
        assert response.status_code == 404


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("office", "/cases"),
        ("office", "/inbox"),
        ("office", "/audit/events"),
        ("supervisor", "/supervision/tasks"),
        ("bank_icbc", "/ledger/"),
        (None, "/public/blacklist"),
    ],
)
def test_page_numbers_past_64_bits_are_not_found(app, browser, who, path):
    client = browser(who).client if who else app.test_client()
    for page in (HUGE, BEYOND_64, str(2**63 // 50 + 1)):
        response = client.get(f"{path}?page={page}")
        assert response.status_code == 404, page
    assert client.get(f"{path}?page=2").status_code == 200  # a page past the last is empty


def test_api_page_numbers_past_64_bits_are_not_found(app, users):
    client, headers = app.test_client(), api_token(app)
    assert client.get(f"/api/v1/tasks?page={HUGE}", headers=headers).status_code == 404
    assert client.get("/api/v1/tasks?page=3", headers=headers).get_json() == {"tasks": []}


def test_the_largest_page_is_answered(app, browser):
    from webapp.paging import MAX_PAGE

    assert browser("office").get(f"/cases?page={MAX_PAGE}").status_code == 200


# --- NUL characters and text that cannot be stored ----------------------------------------------


def test_a_nul_in_the_report_form_names_the_field(app, browser):
    payload = report_payload(3)
    payload["loans"][0]["contract_no"] = "C-3\x00-1"
    response = browser("bank_icbc").post("/report", data=flatten_report(payload))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "loans-0-contract_no" in page and "NUL" in page


def test_a_nul_in_a_task_form_names_the_field(app, browser):
    case_id = browser("bank_icbc").report(report_payload(4))
    task_id = open_task_id(app, case_id, "review")
    office = browser("office")
    office.get("/lang/en")
    response = office.post(f"/tasks/{task_id}", data={"review_decision": "reject", "reject_reason": "no\x00"})
    assert response.status_code == 422
    assert "reject_reason" in response.get_data(as_text=True)
    # nothing happened: the task is still open
    assert open_task_id(app, case_id, "review") == task_id


@pytest.mark.parametrize(
    ("who", "url", "field"),
    [
        ("office", "/cases?q=9111%00", "q"),
        ("office", "/audit/events?user=office%00", "user"),
        ("office", "/inbox?order=%00", "order"),
        (None, "/public/blacklist?q=%00", "q"),
        ("office", "/tasks/%00", "task_id"),
        ("office", "/cases?%00=1", "\\0"),
    ],
)
def test_a_nul_in_a_query_or_path_names_it(app, browser, who, url, field):
    client = browser(who).client if who else app.test_client()
    response = client.get(url)
    assert response.status_code == 422
    assert field in response.get_data(as_text=True)
    assert all(name in response.headers for name in SECURITY)


def test_a_nul_in_the_api_names_the_field(app, users):
    client, headers = app.test_client(), api_token(app)
    payload = report_payload(5)
    payload["name"] = "债务人\x00"
    payload["loans"][0]["guarantee"] = "\x00"
    response = client.post("/api/v1/cases", json=payload, headers=headers)
    assert response.status_code == 422
    assert set(response.get_json()["fields"]) == {"name", "loans.0.guarantee"}
    response = client.post("/api/v1/cases", json={**report_payload(5), "x\x00": 1}, headers=headers)
    assert response.status_code == 422 and "x\\0" in response.get_json()["fields"]
    response = client.get("/api/v1/tasks?order=%00", headers=headers)
    assert response.status_code == 422 and "order" in response.get_json()["fields"]
    response = client.get("/api/v1/tasks/a%00b", headers=headers)
    assert response.status_code == 422 and "task_id" in response.get_json()["fields"]
    response = client.post(
        "/api/v1/cases/1/settlement",
        data={"certificate_no": "JQ\x00"},
        content_type="multipart/form-data",
        headers=headers,
    )
    assert response.status_code == 422 and "certificate_no" in response.get_json()["fields"]
    assert app.test_client().get("/cases").status_code == 302  # nothing else was touched


def test_a_lone_surrogate_in_json_is_refused(app, users):
    raw = json.dumps({**report_payload(6), "name": "\ud800"})  # json writes it as "\\ud800"
    response = app.test_client().post(
        "/api/v1/cases", data=raw, content_type="application/json", headers=api_token(app)
    )
    assert response.status_code == 422 and "name" in response.get_json()["fields"]


@pytest.mark.parametrize("depth", [150, 100_000])
def test_a_deeply_nested_json_body_is_refused(app, users, depth):
    raw = "[" * depth + "]" * depth
    response = app.test_client().post(
        "/api/v1/cases", data=raw, content_type="application/json", headers=api_token(app)
    )
    assert response.status_code == 422


# --- 405 -----------------------------------------------------------------------------------------


def test_405_answers_carry_allow(app, browser, users):
    response = browser("office").client.delete("/cases")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}
    assert all(name in response.headers for name in SECURITY)
    response = app.test_client().put("/api/v1/cases", headers=api_token(app))
    assert response.status_code == 405 and response.is_json
    assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


# --- the 500 page --------------------------------------------------------------------------------


def _fail_after_a_failed_statement(*_args, **_kwargs):
    """A view's code that hits a database error, swallows it, then fails: on PostgreSQL the
    transaction is aborted, and every statement after it fails until it is rolled back."""
    with contextlib.suppress(Exception):
        get_session().execute(text("SELECT * FROM no_such_table"))
    raise RuntimeError("boom")


def test_the_500_page_rolls_back_and_shows_the_users_menu(app, browser, monkeypatch, answered):
    office = browser("office")
    monkeypatch.setattr("webapp.cases.queries.list_cases", _fail_after_a_failed_statement)
    response = office.get("/cases")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert 'id="nav-inbox-count"' in page  # the top bar read the database after the rollback
    assert all(name in response.headers for name in SECURITY)


def test_the_api_500_is_json(app, users, monkeypatch, answered):
    monkeypatch.setattr("webapp.tasks.service.inbox", _fail_after_a_failed_statement)
    response = app.test_client().get("/api/v1/tasks", headers=api_token(app))
    assert response.status_code == 500 and response.get_json() == {"error": "internal error"}


def test_the_500_page_renders_when_the_database_fails_it_too(app, browser, monkeypatch, answered):
    office = browser("office")
    monkeypatch.setattr("webapp.cases.queries.list_cases", _fail_after_a_failed_statement)

    def broken(*_args, **_kwargs):
        raise RuntimeError("the menu cannot be read")

    monkeypatch.setattr("webapp.templating.nav_counts", broken)
    response = office.get("/cases")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert 'id="nav-inbox-count"' not in page and "<h1>" in page
    assert all(name in response.headers for name in SECURITY)


def test_a_value_the_database_refuses_is_422_not_500(app, browser, users, monkeypatch, answered):
    # the net under the guards: what a database refuses as data (a number out of a column's
    # range, a text too long for it) is the request's fault
    def refused(*_args, **_kwargs):
        raise DataError("SELECT 1", {}, Exception("value out of range"))

    monkeypatch.setattr("webapp.cases.queries.list_cases", refused)
    monkeypatch.setattr("webapp.tasks.service.inbox", refused)
    response = browser("office").get("/cases")
    assert response.status_code == 422 and 'id="nav-inbox-count"' in response.get_data(as_text=True)
    response = app.test_client().get("/api/v1/tasks", headers=api_token(app))
    assert response.status_code == 422 and response.is_json


# --- a database that is down ---------------------------------------------------------------------


@pytest.fixture
def database_down(app: Flask, tmp_path) -> Iterator[Flask]:
    """The app as configured, against a database that cannot be reached (same secret key:
    a session cookie of the real app is replayed to it)."""
    url = (
        f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}"
        if app.config["BACKEND"] == "sqlite"
        else "postgresql+psycopg://liandong@127.0.0.1:1/liandong?connect_timeout=2"
    )
    down = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": app.config["SECRET_KEY"],
            "UPLOAD_DIR": str(tmp_path / "uploads"),
        }
    )
    yield down
    down.extensions["db_engine"].dispose()


def test_a_database_that_is_down_gives_503_with_a_retry_hint(app, browser, database_down):
    office = browser("office")
    cookie = office.client.get_cookie("session")
    assert cookie is not None
    client = database_down.test_client()
    client.set_cookie("session", cookie.value)
    for page in ("/inbox", "/cases/1"):
        response = client.get(page)
        assert response.status_code == 503, page
        assert int(response.headers["Retry-After"]) > 0
        assert all(name in response.headers for name in SECURITY)
        assert 'id="nav-inbox-count"' not in response.get_data(as_text=True)
    response = database_down.test_client().post("/login", data={"username": "office", "password": PASSWORD})
    assert response.status_code == 503 and "Retry-After" in response.headers
    response = database_down.test_client().get("/public/blacklist")
    assert response.status_code == 503


def test_the_api_with_the_database_down_gives_503_json(app, users, database_down):
    response = database_down.test_client().get("/api/v1/tasks", headers=api_token(app))
    assert response.status_code == 503
    assert "Retry-After" in response.headers
    assert "unavailable" in response.get_json()["error"]


# --- logs ----------------------------------------------------------------------------------------


def _forced_failure_ddl(backend: str) -> tuple[list[str], list[str]]:
    """A trigger that fails every new debtor's insert, quoting its identifier where
    PostgreSQL shows the row's values (DETAIL)."""
    if backend == "sqlite":
        return (
            [
                "CREATE TRIGGER forced_failure BEFORE INSERT ON debtors "
                "BEGIN INSERT INTO no_such_table VALUES (NEW.identifier); END"
            ],
            ["DROP TRIGGER IF EXISTS forced_failure"],
        )
    return (
        [
            "CREATE FUNCTION forced_failure() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'forced failure' "
            "USING DETAIL = 'Failing row contains (' || NEW.identifier || ')'; "
            "END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER forced_failure BEFORE INSERT ON debtors "
            "FOR EACH ROW EXECUTE FUNCTION forced_failure()",
        ],
        ["DROP TRIGGER IF EXISTS forced_failure ON debtors", "DROP FUNCTION IF EXISTS forced_failure()"],
    )


def test_a_failing_report_logs_no_identifier(app, browser, caplog, answered):
    create, drop = _forced_failure_ddl(app.config["BACKEND"])
    with app.extensions["db_engine"].begin() as conn:
        for statement in create:
            conn.execute(text(statement))
    payload = report_payload(7)
    identifier = payload["identifier"]
    try:
        with caplog.at_level(logging.INFO):
            page = browser("bank_icbc").post("/report", data=flatten_report(payload))
            api = app.test_client().post("/api/v1/cases", json=payload, headers=api_token(app))
    finally:
        with app.extensions["db_engine"].begin() as conn:
            for statement in drop:
                conn.execute(text(statement))
    assert page.status_code in (500, 503) and api.status_code in (500, 503)
    assert "INSERT INTO debtors" in caplog.text  # the failure was logged, with its statement
    assert "SQL parameters hidden" in caplog.text
    assert identifier not in caplog.text
    assert identifier[:-4] not in caplog.text  # nor most of it
