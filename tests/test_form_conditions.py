"""Task forms on their pages: fields shown under a condition on another field (derived from
the schema's allOf if/then/else, or x-show-when) carry it for forms.js, the server still
refuses a missing conditional field, and a table of rows (x-widget rows) renders and is read
back from ``name.<row>.<column>`` fields."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from tests.support import ROOT, Browser, open_task_id, open_tasks, report_payload
from webapp.models import Task

ROWS_FORM = Path(__file__).parent / "data" / "negotiation_rows.json"


class _Elements(HTMLParser):
    """Attributes of the page's elements that carry ``data-field``, and of its inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, dict[str, str | None]] = {}
        self.inputs: dict[str, dict[str, str | None]] = {}
        self.scripts: list[str] = []
        self._open: list[str] = []
        self.text: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        field = found.get("data-field")
        if field:
            self.fields[field] = {"tag": tag, **found}
            self.text[field] = ""
            self._open.append(field)
        elif tag in ("div", "td") and self._open:
            self._open.append("")
        if tag in ("input", "select", "textarea") and found.get("name"):
            self.inputs.setdefault(str(found["name"]), found)
        if tag == "script" and found.get("src"):
            self.scripts.append(str(found["src"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("div", "td") and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for field in self._open:
            if field:
                self.text[field] += data


def _page(response) -> _Elements:
    parser = _Elements()
    parser.feed(response.get_data(as_text=True))
    return parser


def _task_page(user: Browser, case_id: int, element: str) -> _Elements:
    task_id = open_task_id(user.app, case_id, element, unit=user.unit)
    response = user.get(f"/tasks/{task_id}")
    assert response.status_code == 200
    return _page(response)


def _shown_when(page: _Elements, name: str) -> tuple[str | None, list[object] | None, bool]:
    box = page.fields[name]
    assert box["tag"] == "div"
    raw = box.get("data-show-when-values")
    return box.get("data-show-when-field"), json.loads(raw) if raw else None, "data-show-when-negate" in box


def test_review_reject_reason_is_shown_only_on_reject_and_still_required(app, users):
    bank, office = Browser(app, "bank_icbc"), Browser(app, "office")
    case_id = bank.report(report_payload(1))
    page = _task_page(office, case_id, "review")
    assert "/static/js/forms.js" in page.scripts
    assert _shown_when(page, "reject_reason") == ("review_decision", ["reject"], False)
    assert _shown_when(page, "classification") == ("review_decision", ["confirm"], False)
    # always shown: the decision itself (required) and the notes (never required)
    assert _shown_when(page, "review_decision") == (None, None, False)
    assert _shown_when(page, "review_notes") == (None, None, False)
    # required when shown: the star
    assert "*" in page.text["reject_reason"] and "*" not in page.text["review_notes"]

    # the server refuses a rejection without its reason, whatever the page showed
    response = office.complete(case_id, "review", expect=422, review_decision="reject")
    page = _page(response)
    assert "invalid" in str(page.fields["reject_reason"]["class"])
    assert "必填" in page.text["reject_reason"]
    assert open_tasks(app, case_id) == [("review", "office")]
    office.complete(case_id, "review", review_decision="reject", reject_reason="证据不足")
    assert open_tasks(app, case_id) == []


@pytest.fixture
def forms_as(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The app's forms with some files replaced: ``forms_as({"review.json": path})``. The
    review task then shows the form at ``path``: a form is tested on a real task page
    without walking the process to its step."""

    def replace(files: dict[str, Path]) -> None:
        forms = tmp_path / "forms"
        if not forms.exists():
            shutil.copytree(ROOT / "forms", forms)
        for name, source in files.items():
            shutil.copyfile(source, forms / name)
        monkeypatch.setitem(app.config, "FORMS_DIR", str(forms))

    return replace


def test_referral_reason_is_shown_for_a_referral_and_still_required(app, users, forms_as):
    forms_as({"review.json": ROOT / "forms" / "decide_referral.json"})
    bank, office = Browser(app, "bank_icbc"), Browser(app, "office")
    case_id = bank.report(report_payload(2))
    page = _task_page(office, case_id, "review")
    field, values, negate = _shown_when(page, "referral_reason")
    assert field == "referral_decision" and not negate
    assert values is not None and {"court", "police", "discipline"} <= set(values)
    assert "monitor" not in values
    assert "*" in page.text["referral_reason"]
    assert _shown_when(page, "referral_decision") == (None, None, False)

    response = office.complete(case_id, "review", expect=422, referral_decision="police")
    assert "必填" in _page(response).text["referral_reason"]
    response = office.complete(case_id, "review", expect=422, referral_decision="court", referral_reason=" ")
    assert "必填" in _page(response).text["referral_reason"]
    assert open_tasks(app, case_id) == [("review", "office")]


def test_a_checkbox_shows_one_field_when_ticked_and_another_when_not(app, users, forms_as):
    """apply_sanction: the reason when 'no measure' is ticked, the measures when it is not."""
    forms_as({"review.json": ROOT / "forms" / "apply_sanction.json"})
    bank, office = Browser(app, "bank_icbc"), Browser(app, "office")
    case_id = bank.report(report_payload(3))
    page = _task_page(office, case_id, "review")
    assert _shown_when(page, "no_measure_reason") == ("no_measure", [True], False)
    assert _shown_when(page, "measures") == ("no_measure", [True], True)
    assert _shown_when(page, "no_measure") == (None, None, False)
    assert _shown_when(page, "document_no") == (None, None, False)
    response = office.complete(case_id, "review", expect=422, no_measure=True)
    assert "必填" in _page(response).text["no_measure_reason"]


def _to_negotiation(app: Flask, n: int) -> tuple[int, Browser]:
    """A case at negotiation, and a caseworker of the unit that negotiates."""
    bank, office = Browser(app, "bank_icbc"), Browser(app, "office")
    case_id = bank.report(report_payload(n))
    office.complete(case_id, "review", review_decision="confirm", classification="negotiation")
    units = [unit for element, unit in open_tasks(app, case_id) if element == "negotiation"]
    assert units, open_tasks(app, case_id)
    return case_id, Browser(app, units[0])


def test_a_table_of_rows_renders_and_is_read_back_by_row(app, users, forms_as):
    forms_as({"negotiation.json": ROWS_FORM})
    case_id, bank = _to_negotiation(app, 3)
    page = _task_page(bank, case_id, "negotiation")
    assert _shown_when(page, "instalments") == ("negotiation_outcome", ["agreement"], False)
    # x-show-when wins over the schema (which never requires the notes)
    assert _shown_when(page, "negotiation_notes") == ("negotiation_outcome", ["failed"], False)
    # three blank rows, one column per item property
    assert [f"instalments.{i}.{c}" for i in range(3) for c in ("due_on", "amount")] == [
        name for name in page.inputs if name.startswith("instalments.")
    ]
    assert page.inputs["instalments.0.due_on"]["type"] == "date"
    assert page.inputs["instalments.2.amount"]["type"] == "number"
    assert "到期日" in page.text["instalments"] and "金额（元）" in page.text["instalments"]

    # a blank row is dropped: the errors name the rows as the server numbered them, and the
    # page shows those rows back in that order, each message beside its cell
    posted = {
        "negotiation_outcome": "agreement",
        "repayment_plan": "分两期",
        "instalments.0.due_on": "",
        "instalments.0.amount": "",
        "instalments.1.due_on": "2026-06-30",
        "instalments.1.amount": "-5",
        "instalments.2.due_on": "2026-13-01",
        "instalments.2.amount": "1000",
    }
    response = bank.complete(case_id, "negotiation", expect=422, **posted)
    page = _page(response)
    assert page.inputs["instalments.0.due_on"]["value"] == "2026-06-30"
    assert page.inputs["instalments.0.amount"]["value"] == "-5"
    assert "必须大于 0" in page.text["instalments.0.amount"]
    assert "invalid" in str(page.fields["instalments.0.amount"]["class"])
    assert page.fields["instalments.0.due_on"].get("class") is None
    assert page.inputs["instalments.1.due_on"]["value"] == "2026-13-01"
    assert "日期" in page.text["instalments.1.due_on"]
    assert page.fields["instalments.1.amount"].get("class") is None
    # two rows back and three blank ones, within maxItems 5
    assert "instalments.4.amount" in page.inputs and "instalments.5.amount" not in page.inputs

    # an agreement needs at least one row
    response = bank.complete(
        case_id, "negotiation", expect=422, negotiation_outcome="agreement", repayment_plan="分两期"
    )
    assert "必填" in _page(response).text["instalments"]

    # too many rows
    many = {
        f"instalments.{i}.{c}": v for i in range(6) for c, v in (("due_on", "2026-06-30"), ("amount", "1"))
    }
    response = bank.complete(
        case_id, "negotiation", expect=422, negotiation_outcome="agreement", repayment_plan="x", **many
    )
    assert "最多可填写 5 行" in _page(response).text["instalments"]

    posted.update({"instalments.1.amount": "2500.5", "instalments.2.due_on": "2026-09-30"})
    posted.update({"instalments.3.due_on": "", "instalments.3.amount": ""})
    task_id = open_task_id(app, case_id, "negotiation")
    bank.complete(case_id, "negotiation", **posted)
    with app.extensions["db_sessionmaker"]() as session:
        task = session.scalar(select(Task).where(Task.id == task_id))
        assert task is not None
        assert task.submitted["instalments"] == [
            {"due_on": "2026-06-30", "amount": 2500.5},
            {"due_on": "2026-09-30", "amount": 1000},
        ]


def test_rows_of_a_failed_negotiation_are_not_required(app, users, forms_as):
    forms_as({"negotiation.json": ROWS_FORM})
    case_id, bank = _to_negotiation(app, 4)
    bank.complete(case_id, "negotiation", negotiation_outcome="failed", negotiation_notes="无还款能力")
    assert "negotiation" not in [element for element, _ in open_tasks(app, case_id)]
