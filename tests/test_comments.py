"""A case's comment thread, through the case page, the API, the notifications page, the
audit replay and the chain verifier (webapp.cases.comments)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.support import PASSWORD, Browser, confirm, report_payload
from webapp.models import Attachment, CaseEvent, Notification

PDF = b"%PDF-1.4 minutes of the coordination meeting"


@pytest.fixture
def api(app, users):
    tokens: dict[str, str] = {}

    def call(method: str, path: str, as_user: str, json=None, **kw):
        if as_user not in tokens:
            tokens[as_user] = app.test_cli_runner().invoke(args=["tokens", "issue", as_user]).output.strip()
        headers = {"Authorization": f"Bearer {tokens[as_user]}"}
        return app.test_client().open(f"/api/v1{path}", method=method, json=json, headers=headers, **kw)

    return call


def _confirmed_case(browser, n: int = 1) -> int:
    """bank_icbc's case, confirmed: the office, the regulator and the market regulator take part."""
    case_id = browser("bank_icbc").report(report_payload(n))
    confirm(browser, case_id)
    return case_id


def _comments(app: Flask, case_id: int) -> list[CaseEvent]:
    with app.extensions["db_sessionmaker"]() as session:
        return list(
            session.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.kind == "comment_added")
                .order_by(CaseEvent.seq)
            )
        )


def _count(app: Flask, model, *where) -> int:
    with app.extensions["db_sessionmaker"]() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _notifications(app: Flask, unit: str) -> list[Notification]:
    with app.extensions["db_sessionmaker"]() as session:
        # the mentions only (a bank is also told of its case's milestones, webapp/notifications)
        mentions = select(Notification).where(
            Notification.unit_code == unit, Notification.kind == "mentioned"
        )
        return list(session.scalars(mentions))


def _section(page: str) -> str:
    """The comment section of a case page."""
    start = page.index('id="comments"')
    return page[start : page.index("</section>", start)]


def test_a_unit_posts_on_the_case_page_and_the_units_it_mentions_are_told(app, browser):
    case_id = _confirmed_case(browser)
    bank = browser("bank_icbc")
    page = bank.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "讨论留言" in page and "还没有留言。" in _section(page) and 'id="comment-form"' in page

    posted = bank.post(
        f"/cases/{case_id}/comments",
        data={"text": "债务人称下周还款，请 @market 核查其股权，@金融监管局监管组 请知悉。"},
    )
    assert posted.status_code == 302
    [first] = _comments(app, case_id)
    assert posted.headers["Location"].endswith(f"/cases/{case_id}#comment-{first.id}")
    assert first.unit_code == "bank_icbc" and first.data["mentions"] == ["market", "regulator"]
    assert first.data["text"].startswith("债务人称下周还款") and first.data["corrects"] is None

    # each mentioned unit is told once, with the author and an excerpt; the author's unit is not
    for unit in ("market", "regulator"):
        [notice] = _notifications(app, unit)
        assert (notice.kind, notice.case_id, notice.params["comment_id"]) == ("mentioned", case_id, first.id)
        assert notice.params["by_unit"] == "bank_icbc" and "债务人称下周还款" in notice.params["excerpt"]
    assert _notifications(app, "bank_icbc") == [] and _notifications(app, "court") == []
    notices = browser("market").get("/notifications").get_data(as_text=True)
    assert f"在案件 #{case_id} 的留言中提及了本单位" in notices and "工商银行县支行" in notices
    assert f"/cases/{case_id}#comment-{first.id}" in notices

    # the market regulator answers with the minutes as a file
    answer = browser("market").post(
        f"/cases/{case_id}/comments",
        data={"text": "已核查，会议纪要见附件。", "comment_file": (io.BytesIO(PDF), "纪要.pdf")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    second = _comments(app, case_id)[1]
    assert second.data["sha256"] == hashlib.sha256(PDF).hexdigest() and second.data["file_name"] == "纪要.pdf"
    with app.extensions["db_sessionmaker"]() as session:
        stored = session.get(Attachment, second.data["attachment_id"])
        assert stored is not None and stored.case_id == case_id and stored.size == len(PDF)
    assert (Path(app.config["UPLOAD_DIR"]) / stored.stored_name).read_bytes() == PDF

    section = _section(bank.get(f"/cases/{case_id}").get_data(as_text=True))
    assert "请 @market 核查其股权" in section and "已核查，会议纪要见附件。" in section
    assert hashlib.sha256(PDF).hexdigest() in section and f"/attachments/{stored.id}" in section
    assert "县市场监管局" in section and "提及" in section
    download = bank.get(f"/attachments/{stored.id}")
    assert download.status_code == 200 and download.data == PDF
    download.close()
    # supervisors and auditors read the thread but get no form
    for reader in ("supervisor", "auditor"):
        page = browser(reader).get(f"/cases/{case_id}").get_data(as_text=True)
        assert "已核查，会议纪要见附件。" in page and 'id="comment-form"' not in page


def test_the_api_lists_and_posts_comments_and_a_correction_links_to_the_original(app, browser, api):
    case_id = _confirmed_case(browser, 2)
    made = api("POST", f"/cases/{case_id}/comments", "bank_icbc", {"text": "还款日为 3 月 10 日。"})
    assert made.status_code == 201
    original = made.get_json()["comment"]
    assert original["text"] == "还款日为 3 月 10 日。" and original["unit"] == "bank_icbc"
    assert original["attachment"] is None and original["corrects"] is None
    [before] = _comments(app, case_id)

    with_file = api(
        "POST",
        f"/cases/{case_id}/comments",
        "office",
        data={"text": "@工商银行县支行 请补充还款计划", "file": (io.BytesIO(PDF), "plan.pdf")},
        content_type="multipart/form-data",
    )
    assert with_file.status_code == 201
    attached = with_file.get_json()["comment"]
    assert attached["attachment"]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert attached["mentions"] == ["bank_icbc"]
    assert [n.params["comment_id"] for n in _notifications(app, "bank_icbc")] == [attached["id"]]

    fixed = api(
        "POST",
        f"/cases/{case_id}/comments",
        "bank_icbc",
        {"text": "更正：还款日为 3 月 12 日。", "corrects": original["id"]},
    )
    assert fixed.status_code == 201 and fixed.get_json()["comment"]["corrects"] == original["id"]

    # another unit's comment, another case's or no comment at all cannot be corrected
    other_case = _confirmed_case(browser, 3)
    elsewhere = api("POST", f"/cases/{other_case}/comments", "bank_icbc", {"text": "别案留言"}).get_json()
    for target in (attached["id"], elsewhere["comment"]["id"], 999999, "x"):
        refused = api("POST", f"/cases/{case_id}/comments", "bank_icbc", {"text": "更正", "corrects": target})
        assert refused.status_code == 422 and "corrects" in refused.get_json()["fields"], target

    listed = api("GET", f"/cases/{case_id}/comments", "auditor")
    assert listed.status_code == 200
    thread = listed.get_json()["comments"]
    assert [c["text"] for c in thread] == [
        "还款日为 3 月 10 日。",
        "@工商银行县支行 请补充还款计划",
        "更正：还款日为 3 月 12 日。",
    ]
    assert thread[0]["corrected_by"] == [thread[2]["id"]] and thread[2]["corrects"] == thread[0]["id"]

    # the original stays as it was written: same data, same hash
    after = next(e for e in _comments(app, case_id) if e.id == before.id)
    assert (after.data, after.hash, after.seq) == (before.data, before.hash, before.seq)

    # the page shows the correction linked both ways
    section = _section(browser("office").get(f"/cases/{case_id}").get_data(as_text=True))
    corrected = re.search(rf'<li id="comment-{original["id"]}".*?</li>', section, re.S)
    correction = re.search(rf'<li id="comment-{thread[2]["id"]}".*?</li>', section, re.S)
    assert (
        corrected
        and "已更正" in corrected.group(0)
        and f'href="#comment-{thread[2]["id"]}"' in corrected.group(0)
    )
    assert correction and "更正留言" in correction.group(0)
    assert f'href="#comment-{original["id"]}"' in correction.group(0)
    # the page's form corrects too: the bank may pick its own comments only
    form = _section(browser("bank_icbc").get(f"/cases/{case_id}").get_data(as_text=True))
    assert f'<option value="{original["id"]}"' in form and f'<option value="{attached["id"]}"' not in form
    page_fix = browser("bank_icbc").post(
        f"/cases/{case_id}/comments",
        data={"text": "再次更正：3 月 15 日。", "corrects": str(thread[2]["id"])},
    )
    assert page_fix.status_code == 302
    assert _comments(app, case_id)[-1].data["corrects"] == thread[2]["id"]


def test_units_not_taking_part_and_readers_are_refused_and_nothing_is_written(app, browser, api):
    case_id = _confirmed_case(browser, 4)
    # a unit outside the case does not learn that it exists
    assert browser("bank_abc").post(f"/cases/{case_id}/comments", data={"text": "看看"}).status_code == 404
    assert api("POST", f"/cases/{case_id}/comments", "bank_abc", {"text": "看看"}).status_code == 404
    assert api("GET", f"/cases/{case_id}/comments", "bank_abc").status_code == 404
    assert api("GET", f"/cases/{case_id}/comments", "court").status_code == 404
    # supervisors, auditors and administrators read only
    for reader in ("supervisor", "auditor", "admin"):
        assert browser(reader).post(f"/cases/{case_id}/comments", data={"text": "督办"}).status_code == 403
        assert api("POST", f"/cases/{case_id}/comments", reader, {"text": "督办"}).status_code == 403
        assert api("GET", f"/cases/{case_id}/comments", reader).status_code == 200
    assert _comments(app, case_id) == []
    assert _count(app, Notification, Notification.kind == "mentioned") == 0


def test_empty_text_a_bad_file_or_an_outsider_mentioned_is_refused_in_chinese_with_nothing_written(
    app, browser, api
):
    case_id = _confirmed_case(browser, 5)
    bank = browser("bank_icbc")
    events_before = _count(app, CaseEvent, CaseEvent.case_id == case_id)
    uploads = Path(app.config["UPLOAD_DIR"])
    files_before = sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []

    # a good file with a blank text: neither the file nor an event is kept
    blank = bank.post(
        f"/cases/{case_id}/comments",
        data={"text": "   ", "comment_file": (io.BytesIO(PDF), "a.pdf")},
        content_type="multipart/form-data",
    )
    assert blank.status_code == 422
    body = blank.get_data(as_text=True)
    assert "请填写留言内容。" in body and 'id="comment-form"' in body
    # a program renamed to .pdf, and a type that is not accepted
    for name, content, message in (
        ("a.pdf", b"MZ\x90\x00 a program", "文件内容与文件类型不符。"),
        ("a.exe", b"MZ", "仅支持 PDF、JPEG、PNG 及 Office（Word、Excel）格式的文件。"),
        ("a.pdf", b"", "文件内容为空。"),
    ):
        bad = bank.post(
            f"/cases/{case_id}/comments",
            data={"text": "见附件", "comment_file": (io.BytesIO(content), name)},
            content_type="multipart/form-data",
        )
        assert bad.status_code == 422 and message in bad.get_data(as_text=True), name
    # the court does not take part in the case: mentioning it would tell it about the case
    outsider = bank.post(f"/cases/{case_id}/comments", data={"text": "请 @court 协助"})
    assert outsider.status_code == 422 and "只能提及参与本案的单位" in outsider.get_data(as_text=True)
    assert "县人民法院" in outsider.get_data(as_text=True)
    through_api = api("POST", f"/cases/{case_id}/comments", "bank_icbc", {"text": ""})
    assert through_api.status_code == 422 and "text" in through_api.get_json()["fields"]
    assert api("POST", f"/cases/{case_id}/comments", "bank_icbc", {"text": "x" * 4001}).status_code == 422

    assert _count(app, CaseEvent, CaseEvent.case_id == case_id) == events_before
    assert _count(app, Attachment) == 0 and _count(app, Notification, Notification.kind == "mentioned") == 0
    assert (sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []) == files_before
    # an e-mail address is not a mention
    ok = bank.post(f"/cases/{case_id}/comments", data={"text": "联系 zhang@court.example"})
    assert ok.status_code == 302 and _comments(app, case_id)[0].data["mentions"] == []


def test_the_chain_verifies_after_comments_and_the_replay_shows_them(app, browser, api):
    case_id = _confirmed_case(browser, 6)
    api("POST", f"/cases/{case_id}/comments", "bank_icbc", {"text": "第一条留言"})
    browser("office").post(
        f"/cases/{case_id}/comments",
        data={"text": "附会议纪要 @market", "comment_file": (io.BytesIO(PDF), "纪要.pdf")},
        content_type="multipart/form-data",
    )
    first = _comments(app, case_id)[0]
    api("POST", f"/cases/{case_id}/comments", "bank_icbc", {"text": "更正第一条", "corrects": first.id})

    result = app.test_cli_runner().invoke(args=["audit", "verify", "--case", str(case_id)])
    assert result.exit_code == 0, result.output

    page = browser("auditor").get(f"/audit/cases/{case_id}").get_data(as_text=True)
    assert 'data-ok="true"' in page
    steps = json.loads(
        re.search(r'<script type="application/json" id="replay-steps">(.*?)</script>', page, re.S).group(1)
    )
    shown = [s for s in steps if s["kind"] == "发布留言"]
    assert [s["data"]["text"] for s in shown] == ["第一条留言", "附会议纪要 @market", "更正第一条"]
    assert shown[1]["data"]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert shown[1]["attachments"] and shown[1]["attachments"][0]["id"] == shown[1]["data"]["attachment_id"]
    assert shown[2]["data"]["corrects"] == first.id and shown[0]["unit"] == "工商银行县支行"
    # the export carries them too, readable
    exported = browser("auditor").get(f"/audit/cases/{case_id}/export.json").get_data(as_text=True)
    assert "附会议纪要 @market" in exported and hashlib.sha256(PDF).hexdigest() in exported


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_the_thread_fits_a_phone(app, users, tmp_path):
    """At 390 px wide, a long comment with a file (its 64-character hash) and the form fit the
    screen: nothing in the section is wider than the page."""
    if app.config["BACKEND"] != "sqlite":
        pytest.skip("browser tests run once, on SQLite")
    import threading

    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from tests.test_browser import _launch

    bank = Browser(app, "bank_icbc")
    case_id = bank.report(report_payload(7))
    bank.post(
        f"/cases/{case_id}/comments",
        data={
            "text": "长" * 300 + "https://example.org/" + "a" * 120,
            "comment_file": (io.BytesIO(PDF), "纪要.pdf"),
        },
        content_type="multipart/form-data",
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with sync_playwright() as pw:
            chromium = _launch(pw)
            try:
                page = chromium.new_context(viewport={"width": 390, "height": 844}).new_page()
                page.goto(f"{url}/login")
                page.fill("#username", "bank_icbc")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.goto(f"{url}/cases/{case_id}#comments")
                assert page.locator("#comment-list li").count() == 1
                widths = page.evaluate(
                    """() => Array.from(document.querySelectorAll('#comments, #comments *'))
                         .map(e => e.getBoundingClientRect().right)"""
                )
                assert max(widths) <= 390
                page.fill("#comment-text", "手机上发布的留言")
                page.click("#comment-form button[type=submit]")
                # the new page may still be loading after the redirect: wait for the second post
                page.locator("#comment-list li").nth(1).wait_for()
                assert page.locator("#comment-list li").count() == 2
            finally:
                chromium.close()
    finally:
        server.shutdown()
