"""Browser test (Playwright driving Debian's Chromium): the cycle-time heatmap draws each
step's colour and median on the case diagram, on a phone, and the heatmap and the
assessment pages fit a phone's width with no serious or critical axe-core violation."""

from __future__ import annotations

from tests.test_browser import _launch, pytestmark  # noqa: F401 - the skip mark applies here too
from tests.test_browser import live_url as live_url  # the fixture, used by name
from tests.test_browser_phone import _check, _phone
from tests.test_cycle_times import MARCH, history

OVERLAYS = "els => els.map(e => [e.dataset.element, e.textContent.trim()]).sort()"


def test_heatmap_overlays_on_the_diagram(app, users, browser, live_url):
    from playwright.sync_api import sync_playwright

    history(app, browser)
    with sync_playwright() as pw:
        chromium = _launch(pw)
        try:
            page, errors = _phone(chromium, live_url, "office")
            _check(page, MARCH, wait="#case-diagram[data-rendered=true]")
            assert page.get_attribute("#case-diagram", "data-overlays") == "2"
            # the median under each step that has one, in an overlay bpmn-js places on the element
            labels = page.eval_on_selector_all("#case-diagram .djs-overlay .heat-label", OVERLAYS)
            assert labels == [["notify_banks", "中位 3.5 天"], ["review", "中位 2.0 天"]]
            # the colour: the slowest median red, review at 2/3.5 of it in the middle
            assert page.locator("#case-diagram [data-element-id=notify_banks].ld-heat-4").count() == 1
            assert page.locator("#case-diagram [data-element-id=review].ld-heat-2").count() == 1
            assert page.locator("#case-diagram [data-element-id=interview][class*=ld-heat]").count() == 0
            # the table beside it, and the legend's five levels
            assert page.locator("#cycle-times tbody tr").count() == 2
            assert page.locator("#heat-legend .swatch").count() == 5
            _check(page, "/stats/assessment?from=2026-03-01&to=2026-03-31")
            assert page.locator("#assessment tbody tr").count() == 3
            assert errors == [], errors

            # an auditor reads the same heatmap
            auditor, auditor_errors = _phone(chromium, live_url, "auditor")
            auditor.goto(f"{live_url}{MARCH}")
            auditor.wait_for_selector("#case-diagram[data-rendered=true]", timeout=15000)
            assert auditor.locator("#case-diagram .djs-overlay .heat-label").count() == 2
            assert auditor_errors == [], auditor_errors
        finally:
            chromium.close()
