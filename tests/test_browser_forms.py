"""Browser test (Playwright driving Debian's Chromium): on a phone, a task form shows a field
required only under a condition once that condition holds, and a table of rows grows."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support import PASSWORD, ROOT, Browser, open_task_id, report_payload
from tests.test_browser import AXE, _launch, pytestmark  # noqa: F401 - the skip mark applies here too
from tests.test_browser import live_url as live_url  # the fixture, used by name
from webapp.models import Task

ROWS_FORM = Path(__file__).parent / "data" / "negotiation_rows.json"


def _phone_page(browser, live_url: str, username: str, bypass_csp: bool = False):
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=bypass_csp)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # a script the Content-Security-Policy refused (404s of the icon and of the diagram's
    # vendored viewer, absent from a checkout without npm, are not this test's matter)
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(f"{live_url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    return page, errors


def _fits(page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_review_reject_reason_appears_on_reject_on_a_phone(app, users, live_url, tmp_path, monkeypatch):
    from playwright.sync_api import sync_playwright

    case_id = Browser(app, "bank_icbc").report(report_payload(1))
    review = open_task_id(app, case_id, "review")
    # a negotiation form with a table of instalments (tests/data), for the second part
    forms = tmp_path / "forms"
    shutil.copytree(ROOT / "forms", forms)
    shutil.copyfile(ROWS_FORM, forms / "negotiation.json")
    monkeypatch.setitem(app.config, "FORMS_DIR", str(forms))
    other = Browser(app, "bank_icbc").report(report_payload(2))
    Browser(app, "office").complete(other, "review", review_decision="confirm", classification="negotiation")
    negotiation = open_task_id(app, other, "negotiation")
    with app.extensions["db_sessionmaker"]() as session:
        task = session.get(Task, negotiation)
        assert task is not None
        negotiator = task.unit_code

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page, errors = _phone_page(browser, live_url, "office")
            page.goto(f"{live_url}/tasks/{review}")
            reason = page.locator("[data-field=reject_reason]")
            classification = page.locator("[data-field=classification]")
            assert reason.is_hidden() and classification.is_hidden()
            assert page.locator("#reject_reason").is_disabled()
            assert _fits(page)

            page.check("input[name=review_decision][value=reject]")
            assert reason.is_visible() and classification.is_hidden()
            assert page.locator("#reject_reason").is_enabled()
            assert reason.locator(".req").is_visible()
            assert _fits(page)
            page.check("input[name=review_decision][value=confirm]")
            assert reason.is_hidden() and classification.is_visible()

            # a refused post comes back with the reject reason shown and marked
            page.check("input[name=review_decision][value=reject]")
            page.click("form[action$='/tasks/" + review + "'] button[type=submit]")
            assert reason.is_visible()
            assert "必填" in reason.inner_text()
            page.fill("#reject_reason", "证据不足")
            page.click("form[action$='/tasks/" + review + "'] button[type=submit]")
            page.wait_for_url(f"**/cases/{case_id}")
            assert errors == [], errors
            page.context.close()

            # a table of rows on a phone: the page does not scroll sideways, a row is added
            page, errors = _phone_page(browser, live_url, negotiator)
            page.goto(f"{live_url}/tasks/{negotiation}")
            rows = page.locator("[data-field=instalments]")
            assert rows.is_hidden()
            page.check("input[name=negotiation_outcome][value=agreement]")
            assert rows.is_visible() and _fits(page)
            assert page.locator("table[data-rows=instalments] tbody tr").count() == 3
            page.click("button[data-add-row=instalments]")
            assert page.locator("table[data-rows=instalments] tbody tr").count() == 4
            assert page.locator("input[name='instalments.3.amount']").input_value() == ""
            page.fill("input[name='instalments.3.due_on']", "2026-06-30")
            page.fill("input[name='instalments.3.amount']", "1200")
            page.click("button[data-add-row=instalments]")  # five: maxItems
            assert page.locator("button[data-add-row=instalments]").is_disabled()
            # the form with its table has no accessibility violation axe-core finds (axe is
            # injected inline: a second page, without the CSP)
            checked, _ = _phone_page(browser, live_url, negotiator, bypass_csp=True)
            checked.goto(f"{live_url}/tasks/{negotiation}")
            checked.check("input[name=negotiation_outcome][value=agreement]")
            checked.add_script_tag(content=AXE.read_text(encoding="utf-8"))
            violations = checked.evaluate("async () => (await axe.run()).violations.map(v => v.id)")
            assert violations == []
            checked.context.close()

            page.fill("#repayment_plan", "一期")
            page.click("form[action$='/tasks/" + negotiation + "'] button[type=submit]")
            page.wait_for_url(f"**/cases/{other}")
            assert errors == [], errors
        finally:
            browser.close()
    with app.extensions["db_sessionmaker"]() as session:
        task = session.get(Task, negotiation)
        assert task is not None and task.submitted is not None
        assert task.submitted["instalments"] == [{"due_on": "2026-06-30", "amount": 1200}]
        assert "negotiation_notes" not in task.submitted
