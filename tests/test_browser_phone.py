"""Browser test (Playwright driving Debian's Chromium) of the main pages on a phone, in
Chinese: nothing wider than the screen, no serious or critical axe-core violation, the top
bar folded into a menu; the diagram in Chinese with its zoom buttons, readable on a desk."""

from __future__ import annotations

import re

from tests.support import PASSWORD, Browser, confirm, open_task_id, report_payload
from tests.test_browser import AXE, _launch, pytestmark  # noqa: F401 - the skip mark applies here too
from tests.test_browser import live_url as live_url  # the fixture, used by name
from tests.test_browser_forms import _fits, _phone_page

SERIOUS = (
    "async () => (await axe.run()).violations"
    ".filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id + ': ' + v.help)"
)
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def _check(page, path: str, wait: str | None = None) -> None:
    """The page at ``path`` fits the phone's width and axe-core finds nothing serious."""
    page.goto(f"{page.live_url}{path}")
    if wait:
        page.wait_for_selector(wait, timeout=15000)
    assert _fits(page), (path, page.evaluate("document.documentElement.scrollWidth"))
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    assert page.evaluate(SERIOUS) == [], path


def _phone(browser, live_url: str, username: str):
    page, errors = _phone_page(browser, live_url, username, bypass_csp=True)
    page.live_url = live_url
    return page, errors


def _labels(page) -> list[str]:
    return page.eval_on_selector_all(
        "#case-diagram .djs-element text", "els => els.map(e => e.textContent.trim()).filter(Boolean)"
    )


def _scale(page) -> float:
    return float(page.get_attribute("#case-diagram", "data-scale") or 0)


def test_main_pages_on_a_phone_in_chinese(app, users, live_url):
    from playwright.sync_api import sync_playwright

    make = lambda name: Browser(app, name)  # noqa: E731
    case_id = make("bank_icbc").report(report_payload(1))
    confirm(make, case_id)
    interview = open_task_id(app, case_id, "interview")

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page, errors = _phone(browser, live_url, "office")
            page.goto(f"{live_url}/inbox")
            # the top bar folds into a menu the button opens and closes
            menu, toggle = page.locator("#site-menu"), page.locator("#menu-toggle")
            assert toggle.is_visible() and menu.is_hidden()
            toggle.click()
            assert menu.is_visible() and toggle.get_attribute("aria-expanded") == "true"
            assert page.locator("#site-menu a[href='/inbox']").is_visible()
            # an office caseworker does not supervise: no menu entry leads to a refusal
            assert page.locator("#site-menu a[href^='/supervision']").count() == 0
            toggle.click()
            assert menu.is_hidden() and toggle.get_attribute("aria-expanded") == "false"

            _check(page, "/inbox")
            assert page.locator("#inbox").count() == 1
            # the rows are stacked, each cell under its column's heading
            assert page.get_attribute("#inbox tbody td:first-child", "data-label") == "任务"
            _check(page, f"/tasks/{interview}")
            _check(page, "/notifications")
            _check(page, f"/cases/{case_id}", wait="#case-diagram[data-rendered=true]")
            assert page.locator("#close-case").is_visible()  # the closing link
            assert page.locator("form.reveal").is_visible()  # the reason to show the identifier

            # the diagram in Chinese only: lanes named after the case's roles and the units
            labels = _labels(page)
            assert "债权银行" in labels and "实施惩戒的单位" in labels, labels
            assert "银行上报" in labels and "结案" in labels, labels
            assert [t for t in labels if LATIN_WORD.search(t)] == []
            before = _scale(page)
            page.click("[data-zoom=in]")
            assert _scale(page) > before
            page.click("[data-zoom=out]")
            page.click("[data-zoom=out]")
            assert _scale(page) < before
            page.click("[data-zoom=fit]")
            assert _scale(page) < 0.2  # the whole diagram, too small to read on a phone
            assert errors == [], errors

            bank, bank_errors = _phone(browser, live_url, "bank_icbc")
            _check(bank, "/report")
            assert bank_errors == [], bank_errors

            auditor, auditor_errors = _phone(browser, live_url, "auditor")
            _check(auditor, f"/audit/cases/{case_id}?step=1", wait="#case-diagram[data-rendered=true]")
            assert auditor.locator("#site-menu a[href^='/supervision']").count() == 0
            # a step without a task names its diagram element by its Chinese label
            total = int(auditor.get_attribute("#replay-slider", "max"))
            shown = set()
            for _ in range(total):
                shown.add(auditor.inner_text("#step-task"))
                auditor.click("#replay-next")
            assert not [t for t in shown if LATIN_WORD.search(t)], shown
            assert [t for t in _labels(auditor) if LATIN_WORD.search(t)] == []
            assert auditor_errors == [], auditor_errors
        finally:
            browser.close()


def test_the_diagram_opens_readable_on_a_desk(app, users, live_url):
    from playwright.sync_api import sync_playwright

    make = lambda name: Browser(app, name)  # noqa: E731
    case_id = make("bank_icbc").report(report_payload(2))

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{live_url}/login")
            page.fill("#username", "office")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/inbox")
            # the top bar shows its links; there is no menu button to press
            assert page.locator("#menu-toggle").is_hidden() and page.locator("#site-menu").is_visible()
            page.goto(f"{live_url}/cases/{case_id}")
            page.wait_for_selector("#case-diagram[data-rendered=true]", timeout=15000)
            # labels at a readable size, the waiting review in view
            assert _scale(page) >= 0.8
            review = page.locator("[data-element-id=review]")
            box, frame = review.bounding_box(), page.locator("#case-diagram").bounding_box()
            assert box and frame
            assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
            assert frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"]
            assert errors == [], errors
        finally:
            browser.close()


def test_judgment_defaulter_pages_on_a_phone(app, users, live_url):
    """A defaulter's case page (the court's listing, the linked debt case), a restriction task,
    the case list with its process column and the units' cooperation fit a phone's width."""
    from playwright.sync_api import sync_playwright

    from tests.support import credit_code
    from tests.test_judgment_defaulter import FIRST_MEASURE, list_defaulter

    make = lambda name: Browser(app, name)  # noqa: E731
    debt_case = make("bank_icbc").report(report_payload(7))
    case_id = list_defaulter(make, 7, identifier=credit_code(7))
    task_id = open_task_id(app, case_id, "apply_restriction", "market")
    make("ndrc").complete(case_id, "apply_restriction", measures=[FIRST_MEASURE["ndrc"]])

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            office, errors = _phone(browser, live_url, "office")
            _check(office, f"/cases/{case_id}", wait="#case-diagram[data-rendered=true]")
            assert office.locator("#court-listing").is_visible()
            assert office.locator(f"#linked-cases a[href='/cases/{debt_case}']").is_visible()
            _check(office, "/cases?process=judgment_defaulter")
            _check(office, "/stats/assessment?process=judgment_defaulter")
            assert errors == [], errors

            market, market_errors = _phone(browser, live_url, "market")
            _check(market, f"/tasks/{task_id}")
            assert market.locator("#task-listing").is_visible()
            assert market_errors == [], market_errors

            committee, committee_errors = _phone(browser, live_url, "political_legal")
            _check(committee, "/defaulters/cooperation")
            assert committee.locator("#cooperation").count() == 1
            assert committee_errors == [], committee_errors
        finally:
            browser.close()
