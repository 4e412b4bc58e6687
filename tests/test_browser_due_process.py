"""Browser test (Playwright driving Debian's Chromium) of issue 18's pages on a phone, in
Chinese: the office's assessment (its choices and the fields each one needs) and its closing
of a case without settlement; no sideways scrolling, no accessibility violation axe-core
finds, no script error."""

from __future__ import annotations

import datetime as dt

from freezegun import freeze_time

from tests.support import Browser, confirm, interview_form, open_task_id, report_payload
from tests.test_browser import AXE, _launch, pytestmark  # noqa: F401 - the skip mark applies here too
from tests.test_browser import live_url as live_url  # the fixture, used by name
from tests.test_browser_forms import _fits, _phone_page


def _axe(browser, live_url: str, username: str, path: str, prepare=None) -> list[str]:
    """axe-core's violations on a page (injected inline: a page without the CSP)."""
    page, _ = _phone_page(browser, live_url, username, bypass_csp=True)
    page.goto(f"{live_url}{path}")
    if prepare:
        prepare(page)
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    violations = page.evaluate("async () => (await axe.run()).violations.map(v => v.id)")
    page.context.close()
    return violations


def _choose_partial(page) -> None:
    page.check("input[name=assessment][value=partial]")


def test_assessment_and_closing_on_a_phone(app, users, live_url):
    from playwright.sync_api import sync_playwright

    make = lambda name: Browser(app, name)  # noqa: E731
    case_id = make("bank_icbc").report(report_payload(1))
    confirm(make, case_id)
    make("office").complete(case_id, "interview", **interview_form(10))
    with freeze_time(dt.datetime.now(dt.UTC) + dt.timedelta(days=12)):
        result = app.test_cli_runner().invoke(args=["timers", "fire"])
        assert result.exit_code == 0, result.output
    assess = open_task_id(app, case_id, "assess_rectification")

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page, errors = _phone_page(browser, live_url, "office")
            page.goto(f"{live_url}/tasks/{assess}")
            assert "整改评估" in page.inner_text("h1")
            assert page.locator("#task-repayments").is_visible()  # the rectification progress
            units = page.locator("[data-field=partial_units]")
            days = page.locator("[data-field=extension_days]")
            assert units.is_hidden() and days.is_hidden() and _fits(page)
            page.check("input[name=assessment][value=partial]")
            assert units.is_visible() and days.is_hidden() and _fits(page)
            page.check("input[name=assessment][value=extend]")
            assert days.is_visible() and units.is_hidden()
            page.check("input[name=assessment][value=exempt]")
            assert page.locator("[data-field=instalments]").is_visible() and _fits(page)

            assert _axe(browser, live_url, "office", f"/tasks/{assess}", _choose_partial) == []

            page.goto(f"{live_url}/cases/{case_id}/close")
            court_no = page.locator("[data-field=court_ruling_no]")
            assert court_no.is_hidden() and _fits(page)
            page.check("input[name=closing_reason][value=bankruptcy]")
            assert court_no.is_visible()
            page.fill("#court_ruling_no", "(2026)皖0321破终3号")
            page.fill("#closing_notes", "破产程序已终结。")
            page.click("form[action$='/close'] button[type=submit]")
            page.wait_for_url(f"**/cases/{case_id}")
            assert "破产程序终结" in page.inner_text("#case-closing-reason")
            assert errors == [], errors

            other = make("bank_icbc").report(report_payload(2))
            assert _axe(browser, live_url, "office", f"/cases/{other}/close") == []
            assert _axe(browser, live_url, "office", f"/cases/{case_id}") == []
        finally:
            browser.close()
