"""Browser test (Playwright driving Debian's Chromium) of the statistics page: the charts are
drawn by the vendored ECharts under the app's Content-Security-Policy, each beside its table;
on a phone nothing is wider than the screen and axe-core finds nothing serious."""

from __future__ import annotations

from tests.support import Browser, confirm, report_payload
from tests.test_browser import AXE, _launch, pytestmark  # noqa: F401 - the skip mark applies here too
from tests.test_browser import live_url as live_url  # the fixture, used by name
from tests.test_browser_forms import _fits, _phone_page
from tests.test_browser_phone import SERIOUS

CHARTS = ("chart-trend", "chart-recovered", "chart-stages", "chart-overdue")


def _drawn(page) -> dict[str, int]:
    """Each chart's count of drawn shapes (ECharts' SVG renderer)."""
    return {
        chart: page.locator(f"#{chart} svg path, #{chart} svg rect, #{chart} svg text").count()
        for chart in CHARTS
    }


def test_the_charts_render_on_a_phone_beside_their_tables(app, users, live_url):
    from playwright.sync_api import sync_playwright

    make = lambda name: Browser(app, name)  # noqa: E731
    listed = make("bank_icbc").report(report_payload(1))
    confirm(make, listed)
    settled = make("bank_icbc").report(report_payload(2))
    confirm(make, settled)
    make("bank_icbc").settle(settled, "JQ-2")
    make("office").complete(settled, "verify_settlement", certificate_decision="verified")

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            # the app's own policy in force: the vendored library and stats.js run, nothing inline
            page, errors = _phone_page(browser, live_url, "office")
            page.goto(f"{live_url}/stats/?period=year")
            for chart in CHARTS:
                page.wait_for_selector(f"#{chart} svg", timeout=15000)
            drawn = _drawn(page)
            assert all(n > 0 for n in drawn.values()), drawn
            assert page.get_attribute("#chart-stages", "role") == "img"
            # each chart's section has its table and the table's downloads
            for section, name in (("trend", "weeks"), ("funnel", "stages"), ("overdue", "overdue")):
                assert page.locator(f"#{section} #table-{name}").count() == 1
                assert page.locator(f"#{section} #csv-{name}").count() == 1
            assert _fits(page), page.evaluate("document.documentElement.scrollWidth")
            assert errors == [], errors
            # the menu leads here
            page.click("#menu-toggle")
            assert page.locator("#site-menu a[href='/stats/']").is_visible()

            for username in ("office", "publicity"):
                checked, checked_errors = _phone_page(browser, live_url, username, bypass_csp=True)
                checked.goto(f"{live_url}/stats/?period=year")
                checked.wait_for_selector("#chart-trend svg", timeout=15000)
                assert _fits(checked), username
                checked.add_script_tag(content=AXE.read_text(encoding="utf-8"))
                assert checked.evaluate(SERIOUS) == [], username
                assert checked_errors == [], checked_errors
        finally:
            browser.close()
