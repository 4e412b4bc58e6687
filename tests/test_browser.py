"""Browser test (Playwright driving Debian's Chromium): the case diagram renders with bpmn-js
and highlights completed and active elements."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update
from werkzeug.serving import make_server

from tests.support import PASSWORD, Browser, confirm, interview_form, open_tasks, report_payload
from webapp.models import Case, Task

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Debian's chromium is not installed: browser tests SKIPPED"
)


def _launch(pw: Any) -> Any:
    """Debian's Chromium, with the flags this machine's closed network needs."""
    return pw.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )


def _logged_in_page(browser: Any, live_url: str, username: str) -> tuple[Any, list[str]]:
    """A page logged in as ``username``, and the list its script errors go to."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    return page, errors


@pytest.fixture
def live_url(app) -> Iterator[str]:
    if app.config["BACKEND"] != "sqlite":
        pytest.skip("browser tests run once, on SQLite")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_case_diagram_highlights_completed_and_active_elements(app, users, live_url):
    from playwright.sync_api import sync_playwright

    case_id = Browser(app, "bank_icbc").report(report_payload(1))
    office = Browser(app, "office")
    office.complete(case_id, "review", review_decision="confirm", classification="evasion")
    office.complete(case_id, "interview", **interview_form(30))

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page, errors = _logged_in_page(browser, live_url, "office")
            page.goto(f"{live_url}/cases/{case_id}")
            page.wait_for_selector("#case-diagram[data-rendered=true]", timeout=15000)
            completed = page.eval_on_selector_all(
                ".djs-element.ld-completed", "els => els.map(e => e.getAttribute('data-element-id'))"
            )
            active = page.eval_on_selector_all(
                ".djs-element.ld-active", "els => els.map(e => e.getAttribute('data-element-id'))"
            )
            assert {"start", "review", "interview", "enter_blacklist"} <= set(completed)
            assert "rectification_deadline" in active and "apply_sanction" not in active + completed
            # the highlight is visible: the active timer is drawn in the active colour
            fill = page.eval_on_selector(
                "[data-element-id=rectification_deadline] .djs-visual > :first-child",
                "el => getComputedStyle(el).fill",
            )
            assert fill == "rgb(255, 244, 229)"
            assert errors == []
        finally:
            browser.close()


def test_replay_steps_through_the_history_on_the_diagram(app, users, live_url):
    from playwright.sync_api import sync_playwright

    case_id = Browser(app, "bank_icbc").report(report_payload(2))
    office = Browser(app, "office")
    office.complete(case_id, "review", review_decision="confirm", classification="evasion")
    Browser(app, "bank_icbc").settle(case_id)
    office.complete(case_id, "verify_settlement", certificate_decision="verified")

    def marked(page, cls: str) -> set[str]:
        return set(
            page.eval_on_selector_all(
                f".djs-element.{cls}", "els => els.map(e => e.getAttribute('data-element-id'))"
            )
        )

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page, errors = _logged_in_page(browser, live_url, "auditor")
            # deep link to the first step: the report, review waiting
            page.goto(f"{live_url}/audit/cases/{case_id}?step=1")
            page.wait_for_selector("#case-diagram[data-rendered=true]", timeout=15000)
            assert "review" in marked(page, "ld-active")
            assert "review" not in marked(page, "ld-completed")
            assert page.inner_text("#replay-position").startswith("1 /")
            # step forward until the settlement reached the case: verification active, review cancelled
            for _ in range(30):
                if "verify_settlement" in marked(page, "ld-active"):
                    break
                page.click("#replay-next")
            assert "verify_settlement" in marked(page, "ld-active")
            assert {"review", "enter_blacklist", "settled"} <= marked(page, "ld-completed")
            assert "step=" in page.url
            # the last step: delisted
            total = int(page.get_attribute("#replay-slider", "max"))
            page.goto(f"{live_url}/audit/cases/{case_id}?step={total}")
            page.wait_for_selector("#case-diagram[data-rendered=true]", timeout=15000)
            assert "end_delisted" in marked(page, "ld-completed")
            assert marked(page, "ld-active") == set()
            page.click("#replay-prev")
            assert page.inner_text("#replay-position").startswith(f"{total - 1} /")
            assert errors == []
        finally:
            browser.close()


def test_ledger_upload_preview_and_import(app, users, live_url, tmp_path):
    """The page follows the worker by itself: checked rows appear, then the import's result."""
    from playwright.sync_api import sync_playwright

    from tests.ledger_files import person_row, to_csv

    ledger = tmp_path / "台账.csv"
    ledger.write_bytes(to_csv([person_row(2, "P-2"), person_row(3, "P-3", principal="-1")], encoding="gbk"))
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            app.test_cli_runner().invoke(args=["worker", "--once"])
            stop.wait(0.3)

    with sync_playwright() as pw:
        browser = _launch(pw)
        thread = threading.Thread(target=worker, daemon=True)
        try:
            page, errors = _logged_in_page(browser, live_url, "bank_icbc")
            page.goto(f"{live_url}/ledger/")
            page.set_input_files("#file", str(ledger))
            page.click("#upload button[type=submit]")
            page.wait_for_selector("#progress")  # waiting for the worker
            thread.start()
            page.wait_for_selector("[data-status=previewed]", timeout=20000)  # the page reloaded itself
            assert page.inner_text("#counts tr[data-kind=new] td:last-child") == "1"
            assert page.inner_text("#counts tr[data-kind=invalid] td:last-child") == "1"
            page.click("#confirm")
            page.wait_for_selector("[data-status=done]", timeout=20000)
            assert page.query_selector("#batch-result") is not None
            assert errors == []
        finally:
            stop.set()
            browser.close()


AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"


def test_supervision_lists_stuck_cases_on_a_phone_and_passes_axe(app, users, live_url):
    """A supervisor on a phone sees the stalled and the incident case in Chinese, the page has
    no accessibility violation axe-core finds, and a retry runs the stalled case on."""
    from playwright.sync_api import sync_playwright

    bank = Browser(app, "bank_icbc")
    stalled, broken = bank.report(report_payload(1)), bank.report(report_payload(2))
    # confirmed, the regulator's and the market regulator's tasks beside the path done
    confirm(lambda username: Browser(app, username), stalled)
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(delete(Task).where(Task.case_id == stalled))  # its interview task lost
        session.execute(update(Case).where(Case.id == broken).values(incident="element x is in error"))
        session.commit()

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            # axe is injected as an inline script, which the app's CSP would refuse
            context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
            page = context.new_page()
            page.goto(f"{live_url}/login")
            page.fill("#username", "supervisor")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{live_url}/supervision/")
            assert "停滞案件" in page.inner_text("body") and "异常案件" in page.inner_text("body")
            assert page.locator(f"#stalled-cases a[href='/cases/{stalled}']").count() == 1
            assert page.locator(f"#incident-cases a[href='/cases/{broken}']").count() == 1
            # nothing wider than the phone's screen
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
            violations = page.evaluate("async () => (await axe.run()).violations.map(v => v.id)")
            assert violations == []
            page.click(f"form[action$='/cases/{stalled}/retry'] button")
            assert page.locator(f"#stalled-cases a[href='/cases/{stalled}']").count() == 0
        finally:
            browser.close()
    assert open_tasks(app, stalled) == [("interview", "office")]


def test_a_bank_follows_a_cut_off_import_on_a_phone_and_discards_it(app, users, live_url, tmp_path):
    """An import cut off midway, seen by its bank on a phone in Chinese: the rows done, the
    note that its cases stay hidden, resume and discard; no axe-core violation; the discard
    runs and the page follows it by itself."""
    from playwright.sync_api import sync_playwright

    from tests.ledger_files import enterprise_row, to_csv
    from tests.test_ledger import batch_of, upload, work
    from tests.test_ledger_chunks import cut_off_after_a_chunk

    bank = Browser(app, "bank_icbc")
    batch_id = upload(bank, to_csv([enterprise_row(n, f"HT-{n}") for n in range(1, 301)]))
    work(app)
    assert bank.post(f"/ledger/{batch_id}/confirm").status_code == 303
    cut_off_after_a_chunk(app, tmp_path, batch_id, chunk=5)
    done = batch_of(app, batch_id).rows_done

    with sync_playwright() as pw:
        browser = _launch(pw)
        stop = threading.Event()

        def discarding_worker() -> None:
            while not stop.is_set():
                app.test_cli_runner().invoke(args=["worker", "--once"])
                stop.wait(0.3)

        thread = threading.Thread(target=discarding_worker, daemon=True)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{live_url}/login")
            page.fill("#username", "bank_icbc")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{live_url}/ledger/{batch_id}")
            body = page.inner_text("body")
            assert "导入中" in body or "正在导入" in body, body[:500]
            assert f"{done} / 300" in page.inner_text("#progress-text")
            assert "在此之前任何人都看不到" in page.inner_text("#hidden-note")
            assert page.locator("#discard-import").count() == 1
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
            violations = page.evaluate("async () => (await axe.run()).violations.map(v => v.id)")
            assert violations == []
            page.screenshot(path=str(tmp_path / "ledger-importing-phone.png"))
            page.click("#discard-import")
            page.wait_for_selector("[data-status=discarding]")
            thread.start()
            page.wait_for_selector("[data-status=discarded]", timeout=30000)  # it reloaded itself
            assert errors == []
        finally:
            stop.set()
            browser.close()
    assert batch_of(app, batch_id).status == "discarded"


def test_the_public_list_on_a_phone_searches_by_name_and_passes_axe(app, live_url):
    """A visitor on a phone, no login: the published debtors in Chinese, a search by name, no
    axe-core violation, nothing wider than the screen."""
    from playwright.sync_api import sync_playwright

    result = app.test_cli_runner().invoke(args=["demo", "--if-empty"])
    assert "Demo cases" in result.output, result.output
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
            page = context.new_page()
            page.goto(f"{live_url}/public/blacklist")
            assert "某某纺织有限公司" in page.inner_text("#blacklist")  # exposed as a sanction
            assert "某某农业科技有限公司" not in page.inner_text("body")  # deadline still running
            page.fill("input[name=q]", "纺织")
            page.click("form[role=search] button")
            assert "某某纺织有限公司" in page.inner_text("#blacklist")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
            violations = page.evaluate("async () => (await axe.run()).violations.map(v => v.id)")
            assert violations == []
        finally:
            browser.close()
