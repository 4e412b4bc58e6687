"""Browser test (Playwright driving Debian's Chromium): the vendored bpmn-js imports every
process diagram without a warning, the case page's own diagram included."""

from __future__ import annotations

from tests.support import Browser, report_payload
from tests.test_browser import _launch, _logged_in_page, pytestmark  # noqa: F401 - the skip mark applies here too
from tests.test_browser import live_url as live_url  # the fixture, used by name
from tests.test_diagram_lint import DIAGRAMS, PROPERTY

# imports each XML into a fresh viewer beside the page's own and returns its warnings
IMPORT_EACH = """async (xmls) => {
  const out = {};
  for (const [name, xml] of Object.entries(xmls)) {
    const div = document.createElement("div");
    div.style.width = "800px"; div.style.height = "600px";
    document.body.appendChild(div);
    const viewer = new window.BpmnJS({ container: div });
    try {
      const result = await viewer.importXML(xml);
      out[name] = result.warnings.map((w) => w.message);
    } catch (err) {
      out[name] = ["import failed: " + err.message];
    }
    viewer.destroy();
    div.remove();
  }
  return out;
}"""


def test_bpmn_js_imports_every_diagram_without_warnings(app, users, live_url):
    from playwright.sync_api import sync_playwright

    case_id = Browser(app, "bank_icbc").report(report_payload(1))
    xmls = {path.name: path.read_text(encoding="utf-8") for path in DIAGRAMS}
    # the check bites: the main diagram without its collections' declarations
    xmls["undeclared"] = PROPERTY.sub("", xmls["debt_case.bpmn"])

    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page, errors = _logged_in_page(browser, live_url, "office")
            page.goto(f"{live_url}/cases/{case_id}")
            page.wait_for_selector("#case-diagram[data-rendered=true]", timeout=15000)
            # the case page's diagram (the case's version, names in the UI's language)
            assert page.get_attribute("#case-diagram", "data-import-warnings") == "0"

            warnings = page.evaluate(IMPORT_EACH, xmls)
            undeclared = warnings.pop("undeclared")
            assert any("unresolved reference <sanction_list>" in w for w in undeclared), undeclared
            assert warnings == {name: [] for name in warnings}
            assert errors == []
        finally:
            browser.close()
