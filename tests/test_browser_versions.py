"""Browser test (Playwright driving Debian's Chromium): the process versions page, its dry run
and the move's result on a phone, in Chinese: nothing wider than the screen, no serious or
critical axe-core violation, the move confirmed by its button."""

from __future__ import annotations

from tests.support import case_row
from tests.test_browser import _launch, pytestmark  # noqa: F401 - the skip mark applies here too
from tests.test_browser import live_url as live_url  # the fixture, used by name
from tests.test_browser_phone import _check, _phone
from tests.test_version_migration import OFFICIAL, PLAN, demo, deploy_changed, remove_official_talk  # noqa: F401


def test_versions_dry_run_and_move_on_a_phone(app, demo, deploy_changed, live_url):  # noqa: F811
    from playwright.sync_api import sync_playwright

    _changed, new = deploy_changed("no_talk_phone", remove_official_talk)
    old = case_row(app, demo[PLAN]).process_version_id
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page, errors = _phone(browser, live_url, "admin")
            _check(page, "/admin/versions")
            assert page.get_attribute(f"tr[data-version='{old}'] td:first-child", "data-label") == "版本"
            page.select_option("#from_version", str(old))
            page.select_option("#to_version", str(new))
            page.click("form[action$='/dry-run'] button[type=submit]")
            page.wait_for_selector("#migration-cases")
            _check(page, page.url.removeprefix(live_url))
            blocked = page.inner_text(f"tr[data-case='{demo[OFFICIAL]}']")
            assert "新版本中不存在此环节" in blocked, blocked
            page.click("#confirm-migration")
            page.wait_for_selector("#migration-counts")
            assert "已迁移 5 件" in page.inner_text("#migration-counts")
            assert errors == [], errors
        finally:
            browser.close()
    assert case_row(app, demo[PLAN]).process_version_id == new
    assert case_row(app, demo[OFFICIAL]).process_version_id == old
