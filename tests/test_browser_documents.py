"""Browser test (Playwright driving Debian's Chromium): the case page's official letters on a
phone, in Chinese: the list and the office's form fit the screen, no serious or critical
axe-core violation, no script error; the addressee sees its letter."""

from __future__ import annotations

import datetime as dt

from freezegun import freeze_time

from tests.support import Browser
from tests.test_browser import _launch, pytestmark  # noqa: F401 - the skip mark applies here too
from tests.test_browser import live_url as live_url  # the fixture, used by name
from tests.test_browser_phone import _check, _phone
from tests.test_documents import START, generate_page, sanctioned


def test_letters_on_a_phone(app, users, live_url):
    from playwright.sync_api import sync_playwright

    make = lambda name: Browser(app, name)  # noqa: E731
    # the case is driven past its deadline under a frozen clock, then shown at the real time
    with freeze_time(START) as clock:
        case_id = sanctioned(app, make, clock, 1)
        generate_page(make, case_id, "sanction_notice", "court")
        clock.tick(dt.timedelta(minutes=1))

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page, errors = _phone(browser, live_url, "office")
            _check(page, f"/cases/{case_id}", wait="#case-diagram[data-rendered=true]")
            assert page.locator("#document-list").is_visible()
            assert "联动惩〔2026〕1号" in page.inner_text("#document-list")
            assert page.locator("#document-choice").is_visible()
            assert page.locator("#document-form button[type=submit]").is_visible()
            assert errors == [], errors
            # a second click while the letter is on its way is not sent (the sends are counted,
            # and held back here, after the page's own handler)
            sent = page.evaluate(
                """() => {
                  const form = document.querySelector('#document-form'), sent = [];
                  window.addEventListener('submit', (e) => {
                    sent.push(!e.defaultPrevented);
                    e.preventDefault();
                  });
                  form.requestSubmit(); form.requestSubmit();
                  return sent;
                }"""
            )
            assert sent == [True, False], sent

            court, court_errors = _phone(browser, live_url, "court")
            _check(court, f"/cases/{case_id}", wait="#case-diagram[data-rendered=true]")
            assert "联动惩〔2026〕1号" in court.inner_text("#document-list")
            assert court.locator("#document-form").count() == 0
            assert court_errors == [], court_errors
        finally:
            browser.close()
