"""Every route of the app (from its URL map), for every role and for a user of an unrelated
unit, answers what the access rules say. A new route without a rule here fails the test."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from flask import Flask
from freezegun import freeze_time
from sqlalchemy import select

from tests.ledger_files import person_row, to_csv
from tests.support import (
    PASSWORD,
    Browser,
    assess,
    case_row,
    confirm,
    hide_as_imported,
    interview_form,
    open_task_id,
    report_payload,
)
from webapp import create_app
from webapp.auth import throttle
from webapp.models import Attachment, CaseEvent

ROLES = ("anonymous", "participant", "unrelated", "office", "supervisor", "auditor", "admin")
USERS = {
    "participant": "bank_icbc",
    "unrelated": "bank_abc",
    "office": "office",
    "supervisor": "supervisor",
    "auditor": "auditor",
    "admin": "admin",
}


def same(code: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, code)


def logged_in(anonymous: int, others: int) -> dict[str, int]:
    return {**same(others), "anonymous": anonymous}


def case_rule(participant: int, office: int, others: int | None = None) -> dict[str, int]:
    """A page about a case: outsiders get 404; the office, supervisors, auditors, admins see it."""
    return {
        "anonymous": 302,
        "participant": participant,
        "unrelated": 404,
        "office": office,
        "supervisor": office if others is None else others,
        "auditor": office if others is None else others,
        "admin": office if others is None else others,
    }


AUDIT = {
    "anonymous": 302,
    "participant": 403,
    "unrelated": 403,
    "office": 200,
    "supervisor": 200,
    "auditor": 200,
    "admin": 200,
}
ADMIN_GET = {
    "anonymous": 302,
    "participant": 403,
    "unrelated": 403,
    "office": 403,
    "supervisor": 403,
    "auditor": 403,
    "admin": 200,
}
ADMIN_POST = {**ADMIN_GET, "admin": 422}
SUPERVISE_GET = {**ADMIN_GET, "supervisor": 200}
SUPERVISE_POST = {**ADMIN_GET, "supervisor": 422, "admin": 422}


def api(participant: int, unrelated: int, office: int, others: int) -> dict[str, int]:
    return {
        "anonymous": 401,
        "participant": participant,
        "unrelated": unrelated,
        "office": office,
        "supervisor": others,
        "auditor": others,
        "admin": others,
    }


# a ledger batch is seen by its own unit only
UNIT_BATCH = {**same(404), "anonymous": 302, "participant": 200}

# (endpoint, method) -> expected status per role; POSTs carry empty or invalid data so that
# nothing but claims changes
RULES: dict[tuple[str, str], dict[str, int]] = {
    ("static", "GET"): same(200),
    ("public.blacklist", "GET"): same(200),
    ("auth.index", "GET"): same(302),
    ("auth.login", "GET"): same(200),
    ("auth.login", "POST"): same(401),
    ("auth.set_language", "GET"): same(302),
    ("auth.change_password", "GET"): logged_in(302, 200),
    ("auth.change_password", "POST"): logged_in(302, 422),
    ("tasks.inbox", "GET"): logged_in(302, 200),
    ("tasks.notices", "GET"): logged_in(302, 200),
    # one's own e-mail address and choice (auditors change nothing)
    ("notifications.preferences", "GET"): logged_in(302, 200),
    ("notifications.preferences", "POST"): logged_in(302, 422),
    ("tasks.show", "GET"): case_rule(200, 200),
    ("tasks.claim", "POST"): case_rule(403, 302, 403),
    ("tasks.unclaim", "POST"): case_rule(403, 302, 403),
    ("tasks.complete", "POST"): case_rule(403, 422, 403),
    ("cases.index", "GET"): logged_in(302, 200),
    ("cases.report", "GET"): logged_in(302, 200),
    ("cases.report", "POST"): {
        "anonymous": 302,
        "participant": 422,
        "unrelated": 422,
        "office": 403,
        "supervisor": 403,
        "auditor": 403,
        "admin": 403,
    },
    ("cases.show", "GET"): case_rule(200, 200),
    ("cases.diagram", "GET"): case_rule(200, 200),
    ("cases.attachment", "GET"): case_rule(200, 200),
    ("cases.report_settlement", "POST"): case_rule(422, 403),
    ("cases.reveal", "POST"): case_rule(422, 422),
    # the case is at review, an enterprise's: the creditor and the office are told what is missing;
    # withholdings are the organization department's or the official's employer's
    ("cases.record_repayment", "POST"): case_rule(422, 422, 403),
    ("cases.record_withholding", "POST"): case_rule(403, 403),
    # comments: caseworkers of the office and of the units taking part post (the empty text is told
    # what is missing); supervisors, auditors and admins read only
    ("cases.post_comment", "POST"): case_rule(422, 422, 403),
    # official letters: the office's caseworkers and supervisors generate them (the empty form is
    # told what is missing); auditors and admins do not (tests/test_documents.py)
    ("cases.generate", "POST"): {**case_rule(403, 422, 403), "supervisor": 422},
    # closing without settlement is the office caseworkers' alone (not its supervisors, auditors or
    # admins); the empty form is told what is missing (test_closing_is_the_office_caseworkers_alone)
    # only the court's caseworkers list judgment defaulters (tests/test_judgment_defaulter.py)
    ("defaulters.new", "GET"): logged_in(302, 403),
    ("defaulters.new", "POST"): logged_in(302, 403),
    # the court's file of listings: its caseworkers only (none of the matrix's roles); a batch
    # is its own unit's, and a bank's ledger batch is none (tests/test_defaulter_intake.py)
    ("defaulter_files.index", "GET"): logged_in(302, 403),
    ("defaulter_files.upload", "POST"): logged_in(302, 403),
    ("defaulter_files.template", "GET"): logged_in(302, 403),
    ("defaulter_files.show", "GET"): logged_in(302, 403),
    ("defaulter_files.show_progress", "GET"): logged_in(302, 403),
    ("defaulter_files.error_file", "GET"): logged_in(302, 403),
    ("defaulter_files.confirm", "POST"): logged_in(302, 403),
    ("defaulter_files.discard", "POST"): logged_in(302, 403),
    ("defaulter_files.resume", "POST"): logged_in(302, 403),
    # the units' cooperation on judgment-defaulter cases: the political-legal committee, the office
    # and auditors, as the referred cases (tests/test_defaulter_pages.py)
    ("defaulters.cooperation_page", "GET"): AUDIT,
    ("cases.close", "GET"): case_rule(403, 200, 403),
    ("cases.close", "POST"): case_rule(403, 422, 403),
    ("audit.replay_case", "GET"): AUDIT,
    ("audit.export_json", "GET"): AUDIT,
    ("audit.export_csv", "GET"): AUDIT,
    ("audit.print_case", "GET"): AUDIT,
    ("audit.events", "GET"): AUDIT,
    ("audit.verify", "GET"): AUDIT,
    ("supervision.dashboard", "GET"): SUPERVISE_GET,
    ("supervision.tasks", "GET"): SUPERVISE_GET,
    ("supervision.reassign", "POST"): SUPERVISE_POST,
    ("supervision.remind", "POST"): SUPERVISE_POST,
    # a healthy case is simply run again (and the retry recorded)
    ("supervision.retry", "POST"): {**ADMIN_GET, "supervisor": 302, "admin": 302},
    ("admin.units", "GET"): ADMIN_GET,
    ("admin.units", "POST"): ADMIN_POST,
    ("admin.users", "GET"): ADMIN_GET,
    ("admin.users", "POST"): ADMIN_POST,
    ("admin.edit_user", "GET"): ADMIN_GET,
    ("admin.edit_user", "POST"): ADMIN_POST,
    ("admin.revoke_token", "POST"): ADMIN_POST,
    ("admin.calendar", "GET"): ADMIN_GET,
    ("admin.calendar", "POST"): ADMIN_POST,
    # process versions and the move of running cases: administrators only; without a chosen
    # source and target the dry run and the move are refused as invalid (tests/test_version_migration.py)
    ("admin.versions", "GET"): ADMIN_GET,
    ("admin.versions_dry_run", "GET"): {**ADMIN_GET, "admin": 422},
    ("admin.versions_migrate", "POST"): ADMIN_POST,
    ("api.report_case", "POST"): api(422, 422, 403, 403),
    ("api.show_case", "GET"): api(200, 404, 200, 200),
    ("api.report_settlement", "POST"): api(422, 404, 403, 403),
    ("api.list_tasks", "GET"): api(200, 200, 200, 200),
    ("api.show_task", "GET"): api(200, 404, 200, 200),
    ("api.claim_task", "POST"): api(403, 404, 200, 403),
    ("api.unclaim_task", "POST"): api(403, 404, 200, 403),
    ("api.complete_task", "POST"): api(403, 404, 422, 403),
    ("api.openapi", "GET"): same(200),
    ("api.report_cases", "POST"): api(422, 422, 403, 403),
    # the court lists defaulters by API; every other unit is refused
    ("api.list_defaulter", "POST"): api(403, 403, 403, 403),
    ("api.report_settlements", "POST"): {**api(422, 422, 422, 422), "auditor": 403},
    ("api.list_repayments", "GET"): api(200, 404, 200, 200),
    ("api.record_repayment", "POST"): api(422, 404, 422, 403),
    ("api.list_withholdings", "GET"): api(200, 404, 200, 200),
    ("api.record_withholding", "POST"): api(403, 404, 403, 403),
    ("api.list_comments", "GET"): api(200, 404, 200, 200),
    ("api.post_comment", "POST"): api(422, 404, 422, 403),
    ("api.list_documents", "GET"): api(200, 404, 200, 200),
    ("api.generate_document", "POST"): {**api(403, 404, 422, 403), "supervisor": 422},
    ("api.close_case", "POST"): api(403, 404, 422, 403),
    # a case's file by token, as the case page serves it (the certificate of the settled case)
    ("api.attachment", "GET"): api(200, 404, 200, 200),
    ("ledger.index", "GET"): {**same(403), "anonymous": 302, "participant": 200, "unrelated": 200},
    ("ledger.upload", "POST"): {**same(403), "anonymous": 302, "participant": 422, "unrelated": 422},
    ("ledger.template", "GET"): logged_in(302, 200),
    ("ledger.show", "GET"): UNIT_BATCH,
    ("ledger.show_progress", "GET"): UNIT_BATCH,
    ("ledger.error_file", "GET"): UNIT_BATCH,
    ("ledger.confirm", "POST"): {**same(403), "anonymous": 302, "participant": 409, "unrelated": 404},
    ("ledger.discard", "POST"): {**same(403), "anonymous": 302, "participant": 409, "unrelated": 404},
    ("ledger.resume", "POST"): {**same(403), "anonymous": 302, "participant": 409, "unrelated": 404},
    # referred cases: the political-legal committee (tests/test_referrals_view.py), the office and
    # auditors; the matrix's case was never referred, so its chain is not found
    ("referrals.index", "GET"): AUDIT,
    ("referrals.show", "GET"): {**AUDIT, "office": 404, "supervisor": 404, "auditor": 404, "admin": 404},
    # cycle times: the office (its supervisors and admins) and auditors; the assessment: every
    # unit, which sees its own row only (tests/test_cycle_times.py, tests/test_assessment.py)
    ("cycle_times.heatmap", "GET"): AUDIT,
    ("cycle_times.heatmap_csv", "GET"): AUDIT,
    ("cycle_times.heatmap_diagram", "GET"): AUDIT,
    ("cycle_times.assessment_page", "GET"): logged_in(302, 200),
    ("cycle_times.assessment_csv", "GET"): logged_in(302, 200),
    # statistics: every logged-in user, the office and auditors all units', others their own
    ("stats.index", "GET"): logged_in(302, 200),
    ("stats.export", "GET"): logged_in(302, 200),
    # blacklist look-ups: caseworkers and supervisors of every unit (the empty question is told what
    # is missing); auditors and administrators do not look up (tests/test_lookups.py)
    ("lookups.index", "GET"): {**logged_in(302, 200), "auditor": 403, "admin": 403},
    ("lookups.look_up", "POST"): {**logged_in(302, 422), "auditor": 403, "admin": 403},
    ("lookups.batch", "POST"): {**logged_in(302, 422), "auditor": 403, "admin": 403},
    ("lookups.template", "GET"): logged_in(302, 200),
    # bulletins: every logged-in user reads them (the matrix has none: 404); the office's
    # caseworkers and supervisors make them, the empty form told what is missing (test_bulletins.py)
    ("bulletins.index", "GET"): logged_in(302, 200),
    ("bulletins.generate", "POST"): {**logged_in(302, 403), "office": 422, "supervisor": 422},
    ("bulletins.show", "GET"): logged_in(302, 404),
    ("bulletins.xlsx", "GET"): logged_in(302, 404),
    ("bulletins.pdf", "GET"): logged_in(302, 404),
    ("api.look_up", "POST"): {**api(422, 422, 422, 422), "auditor": 403, "admin": 403},
    # summary rounds (tests/test_summaries.py): the office's caseworkers and supervisors open and
    # compile them (the empty form is told what is missing), they and auditors read every round (the
    # matrix has none: 404); each unit's caseworkers and supervisors see and submit their own unit's
    # summary only (a round the unit is not asked in: 404); administrators have no part
    ("summaries.index", "GET"): {**logged_in(302, 200), "admin": 403},
    ("summaries.open_round", "POST"): {**logged_in(302, 403), "office": 422, "supervisor": 422},
    ("summaries.show", "GET"): {**logged_in(302, 403), "office": 404, "supervisor": 404, "auditor": 404},
    ("summaries.compile_round", "POST"): {**logged_in(302, 403), "office": 404, "supervisor": 404},
    ("summaries.document_docx", "GET"): {
        **logged_in(302, 403),
        "office": 404,
        "supervisor": 404,
        "auditor": 404,
    },
    ("summaries.document_pdf", "GET"): {
        **logged_in(302, 403),
        "office": 404,
        "supervisor": 404,
        "auditor": 404,
    },
    ("summaries.submit_form", "GET"): {**logged_in(302, 404), "auditor": 403, "admin": 403},
    ("summaries.submit", "POST"): {**logged_in(302, 404), "auditor": 403, "admin": 403},
    ("summaries.request_file", "GET"): logged_in(302, 404),
    # the exact identifier search: a bad identifier goes back to the list with a message
    ("cases.search_identifier", "POST"): logged_in(302, 303),
    # logging out ends the session: checked last, each role with its own client
    ("auth.logout", "POST"): logged_in(302, 302),
}


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, rule.rule))
    return routes


def test_every_route_has_a_rule(app):
    missing = [(e, m, r) for e, m, r in _routes(app) if (e, m) not in RULES]
    assert missing == [], "routes without an access rule: add them to RULES"


def test_access_matrix(app, users, browser):
    case_id = browser("bank_icbc").report(report_payload(1))
    task_id = open_task_id(app, case_id, "review")
    pdf = (io.BytesIO(b"%PDF-1.4 x"), "jq.pdf")
    settled = browser("bank_icbc").report(report_payload(2))
    browser("bank_icbc").post(
        f"/cases/{settled}/settlement",
        data={"certificate_no": "JQ", "certificate_file": pdf},
        content_type="multipart/form-data",
    )
    with app.extensions["db_sessionmaker"]() as session:
        attachment_id = session.scalar(select(Attachment.id))
    ledger = io.BytesIO(to_csv([person_row(2, "P-2")]))
    upload = browser("bank_icbc").post(
        "/ledger/", data={"file": (ledger, "l.csv")}, content_type="multipart/form-data"
    )
    values = {
        "batch_id": int(upload.headers["Location"].rstrip("/").split("/")[-1]),
        "file_format": "csv",
        "case_id": case_id,
        "task_id": task_id,
        "attachment_id": attachment_id,
        "user_id": users["office"],
        "code": "en",
        "bulletin_id": 999999,
        "round_id": 999999,
        "request_id": 999999,
        "filename": "css/app.css",
    }
    tokens = {
        role: app.test_cli_runner().invoke(args=["tokens", "issue", name]).output.strip()
        for role, name in USERS.items()
    }
    clients = {"anonymous": app.test_client()}
    for role, name in USERS.items():
        clients[role] = Browser(app, name).client

    failures = []
    order = list(RULES)
    for endpoint, method, rule in sorted(_routes(app), key=lambda r: order.index((r[0], r[1]))):
        url = rule
        for key, value in values.items():
            url = url.replace(f"<int:{key}>", str(value)).replace(f"<{key}>", str(value))
            url = url.replace(f"<path:{key}>", str(value))
        for role in ROLES:
            expected = RULES[(endpoint, method)][role]
            if endpoint.startswith("api."):
                headers = {"Authorization": f"Bearer {tokens[role]}"} if role in tokens else {}
                response = app.test_client().open(
                    url, method=method, json={} if method == "POST" else None, headers=headers
                )
            elif endpoint == "auth.logout" and role != "anonymous":
                client = Browser(app, USERS[role]).client
                response = client.post(url)
            else:
                # a failed login per role under its own name, so the per-account limit stays out of the way
                data = {"username": f"nobody-{role}", "password": "x"} if endpoint == "auth.login" else {}
                response = clients[role].open(url, method=method, data=data if method == "POST" else None)
            if response.status_code != expected:
                failures.append(f"{method} {url} as {role}: {response.status_code}, expected {expected}")
            response.close()
    assert failures == []


def test_public_blacklist_needs_no_login_and_masks(app, browser):
    bank, office = browser("bank_icbc"), browser("office")
    with freeze_time(dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)) as clock:
        case_id = bank.report(report_payload(3))
        confirm(browser, case_id)
        office.complete(case_id, "interview", **interview_form(10))
        clock.tick(dt.timedelta(days=11))
        assert app.test_cli_runner().invoke(args=["timers", "fire"]).exit_code == 0
        assess(browser, case_id)
        # published while exposed as a sanction (GUARANTEES rule 8)
        browser("publicity").complete(case_id, "apply_sanction", measures=["expose_media"])
        page = app.test_client().get("/public/blacklist").get_data(as_text=True)
        identifier = report_payload(3)["identifier"]
        assert "测试债务人3" in page and identifier not in page
        assert identifier[:4] + "*" * 10 + identifier[-4:] in page
        assert "1,006,000.00" in page
        bank.settle(case_id)
        assert "测试债务人3" not in app.test_client().get("/public/blacklist").get_data(as_text=True)


def _hide(app: Flask, case_id: int, user_id: int) -> None:
    """``case_id`` owned by a batch whose import is still under way: seen by nobody yet."""
    hide_as_imported(app, user_id, case_id)


def test_closing_is_the_office_caseworkers_alone(app, users, browser):
    """Closing without settlement (the page and the API): the office's caseworkers only. Others
    who see the case are refused, those who do not are told it is not found, anonymous users
    are sent to log in; a case hidden by an import under way is not found even by the office.
    A refused closing, even with a complete form, changes nothing."""
    bank = browser("bank_icbc")
    case_id = bank.report(report_payload(6))
    confirm(browser, case_id)
    hidden = bank.report(report_payload(7))
    _hide(app, hidden, users["bank_icbc"])
    valid = {
        "closing_reason": "written_off",
        "closing_notes": "材料齐全",
        "bank_confirmation_no": "工银核1号",
    }
    runner = app.test_cli_runner()
    tokens = {
        role: runner.invoke(args=["tokens", "issue", name]).output.strip() for role, name in USERS.items()
    }

    def api_close(role: str, target: int):
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role in tokens else {}
        return app.test_client().post(f"/api/v1/cases/{target}/closing", json=valid, headers=headers)

    refused = {"participant": 403, "unrelated": 404, "supervisor": 403, "auditor": 403, "admin": 403}
    failures = []
    for role in ("anonymous", *refused):
        client = app.test_client() if role == "anonymous" else Browser(app, USERS[role]).client
        page, posted = (
            client.get(f"/cases/{case_id}/close"),
            client.post(f"/cases/{case_id}/close", data=valid),
        )
        through_api = api_close(role, case_id)
        expected = (302, 302, 401) if role == "anonymous" else (refused[role],) * 3
        got = (page.status_code, posted.status_code, through_api.status_code)
        if got != expected:
            failures.append(f"{role}: {got}, expected {expected}")
        if role == "anonymous":
            assert "/login" in page.headers["Location"] and "/login" in posted.headers["Location"]
    assert failures == []
    case = case_row(app, case_id)
    assert (case.status, case.closing_reason, case.blacklisted) == ("open", None, True)

    office = browser("office")
    for unseen in (hidden, 999999):
        assert office.get(f"/cases/{unseen}/close").status_code == 404
        assert office.post(f"/cases/{unseen}/close", data=valid).status_code == 404
        assert api_close("office", unseen).status_code == 404
    assert case_row(app, hidden).status == "open"

    page = office.get(f"/cases/{case_id}/close")
    assert page.status_code == 200 and 'name="closing_reason"' in page.get_data(as_text=True)
    assert office.post(f"/cases/{case_id}/close", data=valid).status_code == 302
    case = case_row(app, case_id)
    assert (case.status, case.outcome, case.closing_reason) == ("closed", "closed", "written_off")
    assert api_close("office", case_id).status_code == 409


@pytest.mark.parametrize("who", ["office", "bank_icbc"])
def test_reveal_needs_a_reason_and_is_recorded(app, browser, who):
    case_id = browser("bank_icbc").report(report_payload(4))
    identifier = report_payload(4)["identifier"]
    user = browser(who)
    assert identifier not in user.get(f"/cases/{case_id}").get_data(as_text=True)
    assert user.post(f"/cases/{case_id}/reveal", data={"reason": ""}).status_code == 422
    response = user.post(f"/cases/{case_id}/reveal", data={"reason": "核对法院执行信息"})
    assert response.status_code == 200 and identifier in response.get_data(as_text=True)
    with app.extensions["db_sessionmaker"]() as session:
        event = session.scalar(select(CaseEvent).where(CaseEvent.kind == "identifier_revealed"))
        assert event is not None and event.data["reason"] == "核对法院执行信息" and event.case_id == case_id


def test_login_is_rate_limited_per_account(app, users):
    client = app.test_client()
    for _ in range(5):
        assert (
            client.post("/login", data={"username": "court", "password": "wrong-password"}).status_code == 401
        )
    blocked = client.post("/login", data={"username": "court", "password": PASSWORD})
    assert blocked.status_code == 429
    # another account from the same address still works
    assert client.post("/login", data={"username": "office", "password": PASSWORD}).status_code == 302


def test_login_is_rate_limited_per_address(app, users, monkeypatch):
    # beyond its (higher) ceiling an address is slowed to one try every few seconds, not
    # blocked (webapp.auth.throttle; tests/test_sessions.py has the rest)
    monkeypatch.setattr(throttle, "PER_ADDRESS", 20)
    client = app.test_client()
    for n in range(20):
        client.post("/login", data={"username": f"nobody{n}", "password": "x"})
    slowed = client.post("/login", data={"username": "office", "password": PASSWORD})
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) > 0


def test_security_headers(app, users):
    response = app.test_client().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.get_data(as_text=True)
    client = app.test_client()
    client.post("/login", data={"username": "office", "password": PASSWORD})
    cookie = next(c for c in client._cookies.values() if c.key == "session")
    assert cookie.http_only and cookie.same_site == "Lax"


def test_uploads_are_checked(app, browser):
    bank = browser("bank_icbc")
    case_id = bank.report(report_payload(5))

    def upload(name: str, content: bytes):
        return bank.post(
            f"/cases/{case_id}/settlement",
            data={"certificate_no": "JQ", "certificate_file": (io.BytesIO(content), name)},
            content_type="multipart/form-data",
        )

    assert upload("cert.pdf", b"MZ\x90\x00 a program").status_code == 422  # content is not a PDF
    assert upload("cert.exe", b"%PDF-1.4").status_code == 422
    app.config["MAX_CONTENT_LENGTH"] = 1024
    try:
        assert upload("big.pdf", b"%PDF-" + b"0" * 4096).status_code == 413
    finally:
        app.config["MAX_CONTENT_LENGTH"] = 10 * 1024 * 1024
    ok = upload("../../etc/passwd.pdf", b"%PDF-1.4 fine")
    assert ok.status_code == 302
    with app.extensions["db_sessionmaker"]() as session:
        stored = session.scalar(select(Attachment))
        assert stored.original_name == "passwd.pdf" and "/" not in stored.stored_name
    files = list(Path(app.config["UPLOAD_DIR"]).iterdir())
    assert [f.name for f in files if f.name == stored.stored_name]


def test_password_change(app, browser):
    user = browser("court")
    assert (
        user.post(
            "/account/password",
            data={"current_password": "nope", "new_password": "x", "confirm_password": "x"},
        ).status_code
        == 422
    )
    ok = user.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a-new-passw0rd",
            "confirm_password": "a-new-passw0rd",
        },
    )
    assert ok.status_code == 302
    client = app.test_client()
    assert client.post("/login", data={"username": "court", "password": "a-new-passw0rd"}).status_code == 302


def test_admin_manages_units_and_users(app, browser):
    admin = browser("admin")
    assert (
        admin.post(
            "/admin/units",
            data={"code": "bank_ccb", "kind": "bank", "name_zh": "建设银行县支行", "name_en": "CCB"},
        ).status_code
        == 302
    )
    response = admin.post(
        "/admin/users",
        data={
            "username": "ccb1",
            "unit": "bank_ccb",
            "roles": ["caseworker"],
            "password": "long-enough-pw",
            "display_name": "建行经办",
        },
    )
    assert response.status_code == 302
    client = app.test_client()
    assert client.post("/login", data={"username": "ccb1", "password": "long-enough-pw"}).status_code == 302
    bad = admin.post("/admin/users", data={"username": "Bad Name", "unit": "bank_ccb", "password": "short"})
    assert bad.status_code == 422


def test_server_errors_show_a_generic_page(app, users):
    failing = create_app({"DATABASE_URL": app.config["DATABASE_URL"], "SECRET_KEY": "x", "TESTING": False})

    @failing.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    try:
        response = failing.test_client().get("/boom")
        body = response.get_data(as_text=True)
        assert response.status_code == 500
        assert "secret internals" not in body and "Traceback" not in body
        assert response.headers["Content-Security-Policy"]
        assert failing.test_client().get("/api/v1/nope").get_json() == {"error": "not found"}
    finally:
        failing.extensions["db_engine"].dispose()
