"""Sessions and login, through the doors an attacker or an operator uses (issue 16):
sessions that end on logout and password change, failed-login throttling that slows one
address without locking everyone out, login time that does not tell whether a user exists,
the password policy, API tokens listed and revoked, and no-store on what must not be cached."""

from __future__ import annotations

import datetime as dt
import statistics
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from tests.support import PASSWORD, app_with_csrf, report_payload
from webapp import create_app
from webapp.auth import passwords, throttle
from webapp.auth.passwords import common_passwords, policy_problem
from webapp.models import ApiToken, CaseEvent, LoginFailure, User

NEW_PASSWORD = "violet-otter-canal"


def login(app: Flask, username: str, password: str = PASSWORD, address: str = "127.0.0.1") -> FlaskClient:
    client = app.test_client()
    response = client.post(
        "/login", data={"username": username, "password": password}, environ_base={"REMOTE_ADDR": address}
    )
    assert response.status_code == 302, response.status_code
    return client


def attempt(client: FlaskClient, username: str, password: str, address: str):
    return client.post(
        "/login", data={"username": username, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    other = app.test_client()
    other.set_cookie("session", cookie.value)
    return other


def logged_out(client: FlaskClient) -> bool:
    response = client.get("/inbox")
    return response.status_code == 302 and "/login" in response.headers["Location"]


# --- sessions ---------------------------------------------------------------------------------


def test_a_session_cookie_copied_before_logout_is_logged_out_afterwards(app, users):
    client = login(app, "court")
    stolen = copy_of(app, client)
    assert stolen.get("/inbox").status_code == 200  # the copy works while the session lives
    assert client.post("/logout").status_code == 302
    assert logged_out(stolen)
    assert logged_out(client)
    assert stolen.get("/account/password").status_code == 302
    # logging in again starts a new session, the old copy stays dead
    fresh = login(app, "court")
    assert fresh.get("/inbox").status_code == 200
    assert logged_out(stolen)


def test_an_own_password_change_ends_every_other_session_and_keeps_this_one(app, users):
    here, elsewhere = login(app, "court"), login(app, "court")
    stolen = copy_of(app, here)
    response = here.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert here.get("/inbox").status_code == 200  # the session that changed it goes on
    assert logged_out(elsewhere)
    assert logged_out(stolen)  # a copy taken before the change is as dead as the others
    login(app, "court", NEW_PASSWORD)


def test_an_admin_reset_or_deactivation_ends_every_session_of_the_user(app, users):
    admin = login(app, "admin")
    court = login(app, "court")
    form = {"unit": "court", "roles": ["caseworker"], "active": "on", "display_name": "court"}
    saved = admin.post(f"/admin/users/{users['court']}", data={**form, "password": NEW_PASSWORD})
    assert saved.status_code == 302
    assert logged_out(court)
    assert admin.get("/admin/users").status_code == 200  # the admin's own session is untouched
    court = login(app, "court", NEW_PASSWORD)
    # saving without a password change and keeping the user active ends nothing
    assert admin.post(f"/admin/users/{users['court']}", data=form).status_code == 302
    assert court.get("/inbox").status_code == 200
    deactivated = {k: v for k, v in form.items() if k != "active"}
    assert admin.post(f"/admin/users/{users['court']}", data=deactivated).status_code == 302
    assert logged_out(court)
    assert attempt(app.test_client(), "court", NEW_PASSWORD, "127.0.0.1").status_code == 401


def test_an_admin_resetting_their_own_password_stays_logged_in(app, users):
    admin, other = login(app, "admin"), login(app, "admin")
    form = {"unit": "office", "roles": ["admin"], "active": "on", "display_name": "admin"}
    assert (
        admin.post(f"/admin/users/{users['admin']}", data={**form, "password": NEW_PASSWORD}).status_code
        == 302
    )
    assert admin.get("/admin/users").status_code == 200
    assert logged_out(other)


# --- throttling -------------------------------------------------------------------------------


def test_an_address_guessing_one_account_is_stopped_and_the_owner_still_logs_in(app, users):
    attacker = app.test_client()
    for _ in range(throttle.PER_PAIR):
        assert attempt(attacker, "court", "wrong-password", "198.51.100.7").status_code == 401
    refused = attempt(attacker, "court", PASSWORD, "198.51.100.7")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= throttle.WINDOW.total_seconds()
    # the same address may still log in to another account, the owner from elsewhere
    login(app, "office", address="198.51.100.7")
    login(app, "court", address="192.0.2.10")


def test_an_account_tried_from_many_addresses_is_throttled_everywhere(app, users, monkeypatch):
    monkeypatch.setattr(throttle, "PER_ACCOUNT", 8)
    client = app.test_client()
    for n in range(8):  # two failures each from four addresses: no pair reaches its limit
        assert attempt(client, "court", "wrong-password", f"198.51.100.{n // 2}").status_code == 401
    refused = attempt(client, "court", PASSWORD, "192.0.2.10")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    login(app, "office", address="192.0.2.10")  # only that account


def test_a_password_spray_from_one_address_slows_it_and_locks_out_nobody(app, users, monkeypatch):
    monkeypatch.setattr(throttle, "PER_ADDRESS", 12)
    spray = "203.0.113.66"
    names = [name for name in users if name not in ("office", "court")]
    client = app.test_client()
    with freeze_time("2026-05-11 02:00:00") as clock:
        for name in (names * 2)[:12]:  # at most two guesses an account: no pair nor account limit
            assert attempt(client, name, "Spring2026!", spray).status_code == 401
        refused = attempt(client, "office", PASSWORD, spray)
        assert refused.status_code == 429
        retry = int(refused.headers["Retry-After"])
        assert 0 < retry <= throttle.ADDRESS_PACE.total_seconds()
        assert "秒后再试" in refused.get_data(as_text=True)  # says how long, in Chinese
        # the same account from another address is not held up by the spray at all
        login(app, "office", address="192.0.2.44")
        # the spraying address is slowed, not blocked: after the pause it gets one more try
        clock.tick(retry + 1)
        login(app, "office", address=spray)
        assert attempt(client, "court", "Spring2026!", spray).status_code == 401
        assert attempt(client, "finance", "Spring2026!", spray).status_code == 429


def test_the_password_change_form_is_throttled_like_login(app, users):
    client = login(app, "court")
    wrong = {
        "current_password": "not-my-password",
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    }
    for _ in range(throttle.PER_PAIR):
        assert client.post("/account/password", data=wrong).status_code == 422
    right = {**wrong, "current_password": PASSWORD}
    refused = client.post("/account/password", data=right)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    # the guesses count against the account on the login page from that address too
    assert attempt(app.test_client(), "court", PASSWORD, "127.0.0.1").status_code == 429


def test_behind_trusted_proxies_the_address_is_the_forwarded_client(app, users):
    proxied = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": app.config["DATABASE_URL"],
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": "test-secret",
            "TRUSTED_PROXIES": 1,
        }
    )
    try:
        client = proxied.test_client()

        def via_proxy(username: str, password: str, client_address: str):
            return client.post(
                "/login",
                data={"username": username, "password": password},
                headers={"X-Forwarded-For": f"10.9.9.9, {client_address}"},  # the first one is spoofable
                environ_base={"REMOTE_ADDR": "10.0.0.2"},  # the proxy
            )

        for _ in range(throttle.PER_PAIR):
            assert via_proxy("court", "wrong-password", "198.51.100.20").status_code == 401
        assert via_proxy("court", PASSWORD, "198.51.100.20").status_code == 429
        assert via_proxy("court", PASSWORD, "198.51.100.21").status_code == 302  # another client, same proxy
        with proxied.extensions["db_sessionmaker"]() as session:
            addresses = set(session.scalars(select(LoginFailure.address)))
        assert addresses == {"198.51.100.20"}
    finally:
        proxied.extensions["db_engine"].dispose()


def test_without_trusted_proxies_a_forwarded_header_changes_nothing(app, users):
    client = app.test_client()
    for n in range(throttle.PER_PAIR):
        forged = {"X-Forwarded-For": f"198.51.100.{n}"}
        assert (
            client.post("/login", data={"username": "court", "password": "x"}, headers=forged).status_code
            == 401
        )
    forged = {"X-Forwarded-For": "198.51.100.99"}
    assert (
        client.post("/login", data={"username": "court", "password": PASSWORD}, headers=forged).status_code
        == 429
    )


def test_login_time_does_not_tell_whether_the_user_exists(app, users):
    client = app.test_client()

    def timed(username: str, n: int) -> float:
        start = time.perf_counter()
        response = attempt(client, username, "wrong-password", f"192.0.2.{n}")
        elapsed = time.perf_counter() - start
        assert response.status_code == 401
        return elapsed

    attempt(client, "nobody-warmup", "x", "192.0.2.250")  # the stand-in hash is made once
    known, unknown = [], []
    for n in range(9):  # interleaved, each from its own address: no limit is reached
        known.append(timed("court", n))
        unknown.append(timed(f"nobody{n}", 100 + n))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2, (statistics.median(known), statistics.median(unknown))


def test_an_inactive_user_costs_a_hash_check_too(app, users, monkeypatch):
    checks: list[str] = []
    real = passwords.check_password_hash
    monkeypatch.setattr(passwords, "check_password_hash", lambda h, p: checks.append(p) or real(h, p))
    with app.extensions["db_sessionmaker"]() as session:
        session.get(User, users["court"]).active = False
        session.commit()
    for name in ("court", "no-such-user", "office"):
        attempt(app.test_client(), name, "wrong-password", "192.0.2.77")
    assert checks == ["wrong-password"] * 3


# --- password policy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short-pw", "at least"),
        ("court-is-my-home", "user name"),
        ("COURT2026!!", "user name"),
        ("aaaaaaaaaaaa", "repeated"),
        ("abababababab", "repeated"),
        ("1234567890", "sequence"),
        ("0987654321", "sequence"),
        ("abcdefghij", "sequence"),
        ("qwertyuiop", "sequence"),
        ("1qaz2wsx3edc", "sequence"),
        ("password123", "common"),
        ("P@ssw0rd123", "common"),
        ("Password-2024", "common"),
        ("woaini5201314", "common"),
        ("iloveyou1314", "common"),
        ("liandong123", "common"),
    ],
)
def test_the_policy_refuses_weak_passwords(app, password, why):
    with app.test_request_context("/?lang=en"):
        problem = policy_problem(password, "court")
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    "password",
    [PASSWORD, "liandong-demo", "a-new-passw0rd", "long-enough-pw", "long-enough-password", NEW_PASSWORD],
)
def test_the_policy_accepts_the_passwords_in_use(app, password):
    with app.test_request_context("/"):
        assert policy_problem(password, "court") is None


def test_the_common_passwords_ship_as_data():
    common = common_passwords()
    assert len(common) > 1000
    assert {"1234567890", "qwertyuiop", "password123", "woaini1314"} <= common


def test_the_policy_holds_wherever_a_password_is_set(app, users):
    court = login(app, "court")
    own = court.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "court12345678",
            "confirm_password": "court12345678",
        },
    )
    assert own.status_code == 422 and "密码不能包含用户名" in own.get_data(as_text=True)  # Chinese by default
    admin = login(app, "admin")
    created = admin.post(
        "/admin/users",
        data={"username": "ccb2", "unit": "court", "roles": ["caseworker"], "password": "1234567890"},
    )
    assert created.status_code == 422 and "连续的字符序列" in created.get_data(as_text=True)
    reset = admin.post(
        f"/admin/users/{users['court']}",
        data={"unit": "court", "roles": ["caseworker"], "active": "on", "password": "password2024"},
    )
    assert reset.status_code == 422 and "最常见的密码" in reset.get_data(as_text=True)
    cli = app.test_cli_runner().invoke(
        args=["users", "create", "x9", "--unit", "court", "--password", "qqqqqqqqqqqq"]
    )
    assert cli.exit_code != 0 and "重复" in cli.output
    # the refused passwords were not set
    login(app, "court")


# --- API tokens -------------------------------------------------------------------------------


def _cli(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_tokens_are_listed_and_revoked_with_the_cli(app, users):
    first = _cli(app, "tokens", "issue", "bank_icbc", "--label", "core banking").strip()
    second = _cli(app, "tokens", "issue", "bank_icbc", "--label", "ledger robot").strip()
    bearer = {"Authorization": f"Bearer {first}"}
    client = app.test_client()
    assert client.get("/api/v1/tasks", headers=bearer).status_code == 200
    listing = _cli(app, "tokens", "list", "bank_icbc")
    assert "core banking" in listing and "ledger robot" in listing and "2 token(s), 2 active" in listing
    with app.extensions["db_sessionmaker"]() as session:
        rows = {t.label: t for t in session.scalars(select(ApiToken))}
    assert rows["core banking"].last_used_at is not None and rows["ledger robot"].last_used_at is None
    assert first not in listing and rows["core banking"].token_sha256 not in listing  # never shown again
    revoked = _cli(app, "tokens", "revoke", str(rows["core banking"].id))
    assert "revoked" in revoked
    assert client.get("/api/v1/tasks", headers=bearer).status_code == 401  # at once
    assert client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {second}"}).status_code == 200
    assert "2 token(s), 1 active" in _cli(app, "tokens", "list", "bank_icbc")
    missing = app.test_cli_runner().invoke(args=["tokens", "revoke", "999999"])
    assert missing.exit_code != 0 and "no token" in missing.output
    assert app.test_cli_runner().invoke(args=["tokens", "list", "nobody"]).exit_code != 0


def test_a_token_records_its_last_use_at_most_once_a_minute(app, users):
    token = _cli(app, "tokens", "issue", "bank_icbc").strip()
    bearer = {"Authorization": f"Bearer {token}"}
    client = app.test_client()

    def last_used() -> dt.datetime | None:
        with app.extensions["db_sessionmaker"]() as session:
            return session.scalar(select(ApiToken.last_used_at))

    with freeze_time("2026-05-11 02:00:00") as clock:
        assert client.get("/api/v1/tasks", headers=bearer).status_code == 200
        first = last_used()
        assert first == dt.datetime(2026, 5, 11, 2, 0, tzinfo=dt.UTC)
        clock.tick(30)
        assert client.get("/api/v1/tasks", headers=bearer).status_code == 200
        assert last_used() == first  # no write within the minute
        clock.tick(31)
        assert client.get("/api/v1/tasks", headers=bearer).status_code == 200
        assert last_used() == dt.datetime(2026, 5, 11, 2, 1, 1, tzinfo=dt.UTC)


def test_an_admin_sees_and_revokes_a_users_tokens(app, users):
    token = _cli(app, "tokens", "issue", "bank_icbc", "--label", "core banking").strip()
    bearer = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/tasks", headers=bearer).status_code == 200
    with app.extensions["db_sessionmaker"]() as session:
        token_id = session.scalar(select(ApiToken.id))
    admin = login(app, "admin")
    page = admin.get(f"/admin/users/{users['bank_icbc']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "core banking" in html and f'value="{token_id}"' in html
    assert 'name="csrf_token"' in html.split("/tokens/revoke")[1].split("</form>")[0]
    assert "从未使用" not in html  # it was used just now: its time is shown
    # not through another user's page
    other = admin.post(f"/admin/users/{users['court']}/tokens/revoke", data={"token_id": token_id})
    assert other.status_code == 404
    assert admin.post(f"/admin/users/{users['bank_icbc']}/tokens/revoke", data={}).status_code == 422
    done = admin.post(f"/admin/users/{users['bank_icbc']}/tokens/revoke", data={"token_id": token_id})
    assert done.status_code == 302
    assert app.test_client().get("/api/v1/tasks", headers=bearer).status_code == 401
    assert "已于" in admin.get(f"/admin/users/{users['bank_icbc']}").get_data(as_text=True)
    with app.extensions["db_sessionmaker"]() as session:
        event = session.scalar(select(CaseEvent).where(CaseEvent.kind == "token_revoked"))
        assert event is not None and event.actor_id == users["admin"] and event.data["token_id"] == token_id
    # only admins
    assert (
        login(app, "office")
        .post(f"/admin/users/{users['bank_icbc']}/tokens/revoke", data={"token_id": token_id})
        .status_code
        == 403
    )


def test_the_admin_revoke_form_needs_its_csrf_token(app, users):
    _cli(app, "tokens", "issue", "bank_icbc")
    protected = app_with_csrf(app)
    try:
        client = protected.test_client()
        page = client.get("/login").get_data(as_text=True)
        csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf})
        with protected.extensions["db_sessionmaker"]() as session:
            token_id = session.scalar(select(ApiToken.id))
        url = f"/admin/users/{users['bank_icbc']}/tokens/revoke"
        assert client.post(url, data={"token_id": token_id}).status_code == 400
        assert client.post(url, data={"token_id": token_id, "csrf_token": csrf}).status_code == 302
    finally:
        protected.extensions["db_engine"].dispose()


# --- no-store ---------------------------------------------------------------------------------


def test_what_must_not_be_cached_says_no_store(app, browser):
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(7))
    responses = {
        "case page": office.get(f"/cases/{case_id}"),
        "reveal": office.post(f"/cases/{case_id}/reveal", data={"reason": "核对法院执行信息"}),
        "audit json": office.get(f"/audit/cases/{case_id}/export.json"),
        "audit csv": office.get(f"/audit/cases/{case_id}/export.csv"),
        "audit print": office.get(f"/audit/cases/{case_id}/print"),
        "inbox": office.get("/inbox"),
    }
    assert report_payload(7)["identifier"] in responses["reveal"].get_data(as_text=True)
    token = _cli(app, "tokens", "issue", "bank_icbc").strip()
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    responses["api case"] = api.get(f"/api/v1/cases/{case_id}", headers=bearer)
    responses["api tasks"] = api.get("/api/v1/tasks", headers=bearer)
    responses["api 401"] = api.get("/api/v1/tasks")
    responses["api 404"] = api.get("/api/v1/nowhere", headers=bearer)
    responses["api openapi"] = api.get("/api/v1/openapi.json")
    for name, response in responses.items():
        assert response.status_code in (200, 401, 404), name
        assert response.headers.get("Cache-Control") == "no-store", name
