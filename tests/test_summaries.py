"""Campaign summary rounds (issue 20, seed 000 §四(三)): the office opens a round, the units
asked see it in their inbox and submit their written summary once (text and an optional
file), late units show on the round's page, the office compiles one numbered DOCX with the
period's figures and every text; each submission and the compilation are events of the
units' hash chains; who may do what; bad input changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from docx import Document
from flask import Flask
from freezegun import freeze_time
from sqlalchemy import func, select

from tests.support import Browser, confirm, report_payload
from tests.test_browser import live_url as live_url  # the fixture, used by name
from tests.test_browser import pytestmark as needs_chromium
from webapp.audit.chain import verify_chain
from webapp.models import Attachment, CaseEvent, Notification, SummaryRequest, SummaryRound

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # Mon 2 Mar 2026, 09:00 in China
PDF = b"%PDF-1.4 court summary"
COURT_TEXT = (
    "本院专项行动期间共受理金融借款执行案件12件。\n对3名被执行人采取限制高消费措施，执行到位资金86万元。"
)
BANK_TEXT = "我行梳理不良贷款逃废债名单5户，报送小组办公室并配合开展约谈，收回贷款本息120万元。"
POLICE_TEXT = "我局对移送的2起涉嫌贷款诈骗线索进行初查，立案1起，已移送检察院审查起诉。"
ROUND = {
    "title": "2026年3月打击逃废金融债务工作总结",
    "start": "2026-03-01",
    "end": "2026-03-31",
    "due": "2026-03-10",
    "units": ["court", "bank_icbc", "police", "tax"],
}


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


def _rounds(app: Flask) -> list[SummaryRound]:
    with app.extensions["db_sessionmaker"]() as session:
        return list(session.scalars(select(SummaryRound).order_by(SummaryRound.id)))


def _request(app: Flask, round_id: int, unit: str) -> SummaryRequest:
    with app.extensions["db_sessionmaker"]() as session:
        row = session.scalar(
            select(SummaryRequest).where(
                SummaryRequest.round_id == round_id, SummaryRequest.unit_code == unit
            )
        )
        assert row is not None
        return row


def _chain(app: Flask, name: str) -> list[CaseEvent]:
    with app.extensions["db_sessionmaker"]() as session:
        assert verify_chain(session, name).ok
        return list(session.scalars(select(CaseEvent).where(CaseEvent.chain == name).order_by(CaseEvent.seq)))


def _attachments(app: Flask) -> int:
    with app.extensions["db_sessionmaker"]() as session:
        return int(session.scalar(select(func.count(Attachment.id))) or 0)


def _open(browser) -> int:
    response = browser("office").post("/summaries/", data=ROUND)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def _file(user, url: str) -> tuple[int, bytes]:
    """A download's status and content (the file it streams closed)."""
    response = user.get(url)
    try:
        return response.status_code, response.data
    finally:
        response.close()


def _docx_text(content: bytes) -> tuple[str, list[list[str]]]:
    document = Document(io.BytesIO(content))
    text = "\n".join(p.text for p in document.paragraphs)
    rows = [[c.text for c in row.cells] for table in document.tables for row in table.rows]
    return text, rows


def test_a_round_from_opening_to_the_compiled_document(app, browser, clock):
    office, court, bank, police = browser("office"), browser("court"), browser("bank_icbc"), browser("police")
    # the period's figures: one debtor reported and confirmed in March
    case_id = bank.report(report_payload(1))
    confirm(browser, case_id)

    # the form asks every member unit by default: departments, banks, guarantors; not townships
    form = office.get("/summaries/").get_data(as_text=True)
    assert 'id="round-form"' in form and "工作总结" in form
    for member in ("court", "bank_abc", "guarantor_county", "ndrc"):
        assert f'value="{member}" checked' in form
    assert 'value="town_chengguan">' in form and 'value="office"' not in form
    assert 'id="nav-summaries"' in form

    round_id = _open(browser)
    [opened] = _rounds(app)
    assert (opened.title, opened.due_date, opened.closed_at) == (ROUND["title"], dt.date(2026, 3, 10), None)

    # each unit asked is told and sees the request above its tasks, with the days left
    notices = court.get("/notifications").get_data(as_text=True)
    assert ROUND["title"] in notices and f"/summaries/{round_id}/submit" in notices
    inbox = court.get("/inbox").get_data(as_text=True)
    section = inbox[
        inbox.index('id="summary-requests"') : inbox.index("</section>", inbox.index('id="summary-requests"'))
    ]
    assert "待提交的工作总结" in section and "2026-03-10" in section and "还剩 8 天" in section
    assert 'id="summary-requests"' not in browser("bank_abc").get("/inbox").get_data(as_text=True)
    assert 'id="summary-requests"' not in office.get("/inbox").get_data(as_text=True)

    # the court submits with a file, the bank its text alone, both in time
    clock.tick(dt.timedelta(days=3))
    page = court.get(f"/summaries/{round_id}/submit")
    assert page.status_code == 200 and 'id="summary-form"' in page.get_data(as_text=True)
    sent = court.post(
        f"/summaries/{round_id}/submit",
        data={"text": COURT_TEXT, "file": (io.BytesIO(PDF), "法院总结.pdf")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302
    assert bank.post(f"/summaries/{round_id}/submit", data={"text": BANK_TEXT}).status_code == 302
    # once: a second submission is refused, the first stays as it was
    again = court.post(f"/summaries/{round_id}/submit", data={"text": BANK_TEXT})
    assert again.status_code == 409
    assert _request(app, round_id, "court").text == COURT_TEXT.replace("\r\n", "\n")
    shown = court.get(f"/summaries/{round_id}/submit").get_data(as_text=True)
    assert 'id="summary-submitted"' in shown and 'id="summary-form"' not in shown
    assert "本院专项行动期间共受理金融借款执行案件12件。" in shown
    assert 'id="summary-requests"' not in court.get("/inbox").get_data(as_text=True)

    # the police is late: two days past the due date, and the round's page says so
    clock.move_to(dt.datetime(2026, 3, 12, 2, 0, tzinfo=dt.UTC))
    inbox = police.get("/inbox").get_data(as_text=True)
    assert "已逾期 2 天" in inbox
    overview = office.get(f"/summaries/{round_id}").get_data(as_text=True)
    police_row = overview[
        overview.index('id="unit-police"') : overview.index("</tr>", overview.index('id="unit-police"'))
    ]
    court_row = overview[
        overview.index('id="unit-court"') : overview.index("</tr>", overview.index('id="unit-court"'))
    ]
    assert "未提交" in police_row and "逾期" in police_row
    assert "已提交" in court_row and "逾期" not in court_row and "2026-03-05" in court_row
    assert "2 / 4" in overview and COURT_TEXT.splitlines()[1] in overview and BANK_TEXT in overview
    assert police.post(f"/summaries/{round_id}/submit", data={"text": POLICE_TEXT}).status_code == 302
    assert "逾期" in browser("auditor").get(f"/summaries/{round_id}").get_data(as_text=True)

    # compiled: one numbered DOCX with the figures and each text; the tax bureau named missing
    compiled = office.post(f"/summaries/{round_id}/compile")
    assert compiled.status_code == 302
    [done] = _rounds(app)
    assert (
        done.number == "联动总〔2026〕1号" and done.closed_at is not None and done.pdf_attachment_id is None
    )
    status, docx = _file(browser("auditor"), f"/summaries/{round_id}/document.docx")
    assert status == 200
    text, rows = _docx_text(docx)
    assert "联动总〔2026〕1号" in text and ROUND["title"] in text and "2026年3月1日至2026年3月31日" in text
    assert ["报送债务人（户）", "1"] in rows and ["确认列入名单（户）", "1"] in rows
    assert ["报送金额（元）", "1,006,000.00"] in rows
    for line in [*COURT_TEXT.splitlines(), BANK_TEXT, POLICE_TEXT]:
        assert line in text
    assert "应报送单位4家，已报送3家（其中逾期报送1家），未报送：县税务局" in text
    assert "附件：法院总结.pdf" in text and "县公安局（2026年3月12日报送，逾期）" in text
    assert text.index("县人民法院") < text.index("县公安局")
    page = office.get(f"/summaries/{round_id}").get_data(as_text=True)
    assert "联动总〔2026〕1号" in page and 'id="compile-form"' not in page and 'id="pdf-unavailable"' in page

    # closed: no more submissions, no second compilation
    assert browser("tax").post(f"/summaries/{round_id}/submit", data={"text": POLICE_TEXT}).status_code == 409
    assert office.post(f"/summaries/{round_id}/compile").status_code == 409
    assert 'id="summary-closed"' in browser("tax").get(f"/summaries/{round_id}/submit").get_data(as_text=True)

    # the history: each submission in its unit's chain, the opening and compilation in the office's
    [court_event] = _chain(app, "unit:court")
    assert court_event.kind == "summary_submitted" and court_event.data["round"] == round_id
    assert court_event.data["text_sha256"] == hashlib.sha256(COURT_TEXT.encode()).hexdigest()
    assert court_event.data["sha256"] == hashlib.sha256(PDF).hexdigest() and court_event.data["late"] is False
    [police_event] = _chain(app, "unit:police")
    assert police_event.data["late"] is True and "sha256" not in police_event.data
    assert [e.kind for e in _chain(app, "unit:bank_icbc")] == ["summary_submitted"]
    assert _chain(app, "unit:tax") == []
    opened_event, compiled_event = _chain(app, "unit:office")
    assert opened_event.kind == "summary_round_opened" and opened_event.data["units"] == ROUND["units"]
    assert compiled_event.kind == "summary_compiled" and compiled_event.data["missing"] == ["tax"]
    assert compiled_event.data["sha256"] == [hashlib.sha256(docx).hexdigest()]
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output

    # the court's file: the court and the office read it, another unit is told it does not exist
    court_file = f"/summaries/requests/{_request(app, round_id, 'court').id}/file"
    assert _file(court, court_file) == (200, PDF)
    assert _file(office, court_file) == (200, PDF)
    assert _file(bank, court_file)[0] == 404


def test_who_may_do_what(app, browser, clock):
    round_id = _open(browser)
    outsider, auditor, admin = browser("bank_abc"), browser("auditor"), browser("admin")
    text = {"text": BANK_TEXT}
    # a unit not asked cannot see nor submit the round; the office (not asked) neither
    assert outsider.get(f"/summaries/{round_id}/submit").status_code == 404
    assert outsider.post(f"/summaries/{round_id}/submit", data=text).status_code == 404
    assert browser("office").post(f"/summaries/{round_id}/submit", data=text).status_code == 404
    # auditors read and never write; units do not read the round; administrators do nothing here
    assert auditor.get(f"/summaries/{round_id}").status_code == 200
    assert auditor.post(f"/summaries/{round_id}/submit", data=text).status_code == 403
    assert auditor.post(f"/summaries/{round_id}/compile").status_code == 403
    assert auditor.post("/summaries/", data=ROUND).status_code == 403
    assert browser("court").get(f"/summaries/{round_id}").status_code == 403
    assert browser("court").post(f"/summaries/{round_id}/compile").status_code == 403
    assert browser("court").post("/summaries/", data=ROUND).status_code == 403
    assert admin.get("/summaries/").status_code == 403
    assert 'id="nav-summaries"' not in browser("court").get("/inbox").get_data(as_text=True)
    # a unit asked lists its own requests
    own = browser("court").get("/summaries/").get_data(as_text=True)
    assert ROUND["title"] in own and f"/summaries/{round_id}/submit" in own
    assert ROUND["title"] not in outsider.get("/summaries/").get_data(as_text=True)
    assert [_request(app, round_id, u).submitted_at for u in ROUND["units"]] == [None] * 4
    assert len(_rounds(app)) == 1


def test_bad_input_is_refused_with_a_message_and_nothing_written(app, browser, clock):
    office = browser("office")
    backwards = office.post("/summaries/", data={**ROUND, "start": "2026-03-31", "end": "2026-03-01"})
    assert backwards.status_code == 422 and "统计期间的截止日期早于起始日期" in backwards.get_data(
        as_text=True
    )
    for bad in ({"title": " "}, {"units": []}, {"units": ["nowhere"]}, {"due": "2026-03-01"}, {"start": "x"}):
        assert office.post("/summaries/", data={**ROUND, **bad}).status_code == 422, bad
    assert _rounds(app) == []
    with app.extensions["db_sessionmaker"]() as session:
        assert session.scalar(select(func.count(Notification.id))) == 0

    round_id = _open(browser)
    court = browser("court")
    empty = court.post(f"/summaries/{round_id}/submit", data={"text": "   "})
    assert empty.status_code == 422 and "至少写 20 个字" in empty.get_data(as_text=True)
    short = court.post(f"/summaries/{round_id}/submit", data={"text": "已完成。"})
    assert short.status_code == 422
    for name, content in (
        ("总结.pdf", b"MZ\x90\x00 a program"),
        ("总结.exe", PDF),
        ("照片.png", b"\x89PNG\r\n\x1a\n"),
    ):
        refused = court.post(
            f"/summaries/{round_id}/submit",
            data={"text": COURT_TEXT, "file": (io.BytesIO(content), name)},
            content_type="multipart/form-data",
        )
        assert refused.status_code == 422, name
        page = refused.get_data(as_text=True)
        assert "本院专项行动期间" in page  # the text comes back to be sent again
    assert "只接受 PDF、Word 和 Excel 文件" in page
    assert _request(app, round_id, "court").submitted_at is None
    assert _attachments(app) == 0
    assert _chain(app, "unit:court") == []


def test_the_office_is_told_when_every_unit_asked_has_submitted(app, browser, clock):
    response = browser("office").post("/summaries/", data={**ROUND, "units": ["court", "police"]})
    round_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    browser("court").post(f"/summaries/{round_id}/submit", data={"text": COURT_TEXT})
    notices = browser("office").get("/notifications").get_data(as_text=True)
    assert "都已提交" not in notices
    browser("police").post(f"/summaries/{round_id}/submit", data={"text": POLICE_TEXT})
    notices = browser("office").get("/notifications").get_data(as_text=True)
    assert "都已提交" in notices and f"/summaries/{round_id}" in notices


@needs_chromium
def test_the_summary_pages_fit_a_phone(app, users, live_url):
    """The round's list and form, its page, the inbox's request and the unit's form at 390 px
    (the live server runs on the real clock: the due date is ten days from today)."""
    from playwright.sync_api import sync_playwright

    from tests.test_browser import _launch
    from tests.test_browser_phone import _check, _phone
    from webapp.deadlines.calendar import local_today

    due = (local_today() + dt.timedelta(days=10)).isoformat()
    opened = Browser(app, "office").post("/summaries/", data={**ROUND, "due": due})
    round_id = int(opened.headers["Location"].rstrip("/").split("/")[-1])
    Browser(app, "bank_icbc").post(f"/summaries/{round_id}/submit", data={"text": BANK_TEXT * 3})
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            office, office_errors = _phone(browser, live_url, "office")
            _check(office, "/summaries/")
            assert office.get_attribute("#round-list tbody td:first-child", "data-label") == "标题"
            _check(office, f"/summaries/{round_id}")
            assert office.locator("#compile-form button").is_visible()
            court, court_errors = _phone(browser, live_url, "court")
            _check(court, "/inbox")
            assert "待提交的工作总结" in court.inner_text("#summary-requests")
            court.click(f"#summary-requests a[href='/summaries/{round_id}/submit']")
            court.wait_for_selector("#summary-form")
            _check(court, f"/summaries/{round_id}/submit")
            court.fill("#summary-text", COURT_TEXT)
            court.click("#summary-form button[type=submit]")
            court.wait_for_selector("#summary-submitted")
            _check(court, f"/summaries/{round_id}/submit")
            assert office_errors == [] and court_errors == []
        finally:
            browser.close()
