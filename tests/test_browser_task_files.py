"""Browser test (Playwright driving Debian's Chromium): a caseworker attaches files to a task
through the form's file input, and the completed task shows the image and frames the PDF in
the page without the browser refusing either."""

from __future__ import annotations

import struct
import zlib

from tests.support import PASSWORD, Browser, confirm, open_task_id, report_payload
from tests.test_browser import AXE, _launch, pytestmark  # noqa: F401 - the skip mark applies here too
from tests.test_browser import live_url as live_url  # the fixture, used by name
from webapp.models import Task

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def _png(width: int = 4, height: int = 3) -> bytes:
    """A real (decodable) PNG of one colour."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + b"\xcc\x33\x33" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_files_attached_in_the_browser_are_shown_on_the_task(app, users, live_url, tmp_path):
    from playwright.sync_api import sync_playwright

    case_id = Browser(app, "bank_icbc").report(report_payload(1))
    confirm(lambda username: Browser(app, username), case_id)
    interview = open_task_id(app, case_id, "interview")
    minutes, photo = tmp_path / "约谈笔录.pdf", tmp_path / "现场照片.png"
    minutes.write_bytes(PDF)
    photo.write_bytes(_png())

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 900})
            page = context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            # a frame or an image the browser refused (headers, CSP) is said on the console
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.goto(f"{live_url}/login")
            page.fill("#username", "office")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")

            page.goto(f"{live_url}/tasks/{interview}")
            assert page.locator("#required-legend").inner_text().strip() == "* 必填"
            assert page.locator("#interview_date").get_attribute("aria-required") == "true"
            page.fill("#interview_date", page.locator("#interview_date").get_attribute("max"))
            page.fill("#attendees", "办公室、债权银行")
            page.set_input_files("#minutes_files", [str(minutes), str(photo)])
            page.click(f"form[action$='/tasks/{interview}'] button[type=submit]")
            page.wait_for_url(f"**/cases/{case_id}")

            page.goto(f"{live_url}/tasks/{interview}")
            image = page.locator("#submitted img")
            image.wait_for()
            page.wait_for_function("() => document.querySelector('#submitted img').complete")
            assert page.evaluate("() => document.querySelector('#submitted img').naturalWidth") == 4
            frame = page.locator("#submitted iframe")
            assert frame.count() == 1 and "inline=1" in (frame.get_attribute("src") or "")
            page.wait_for_timeout(500)
            refused = [p for p in problems if "frame" in p.lower() or "Content Security Policy" in p]
            assert refused == [], problems

            # the form with its file input has no serious accessibility violation axe-core finds
            # (axe is injected inline: a second page, without the CSP)
            other = open_task_id(app, Browser(app, "bank_icbc").report(report_payload(2)), "review")
            checked = browser.new_context(bypass_csp=True).new_page()
            checked.goto(f"{live_url}/login")
            checked.fill("#username", "office")
            checked.fill("#password", PASSWORD)
            checked.click("button[type=submit]")
            checked.goto(f"{live_url}/tasks/{other}")
            checked.add_script_tag(content=AXE.read_text(encoding="utf-8"))
            violations = checked.evaluate(
                "async () => (await axe.run()).violations"
                ".filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id)"
            )
            assert violations == []
        finally:
            browser.close()
    with app.extensions["db_sessionmaker"]() as session:
        task = session.get(Task, interview)
        assert task is not None and task.submitted is not None
        assert [f["name"] for f in task.submitted["minutes_files"]] == ["约谈笔录.pdf", "现场照片.png"]
