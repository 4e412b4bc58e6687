"""Dates of what already happened (``x-not-future``) cannot lie after today, where the units
work (China); required fields are marked on every form."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from freezegun import freeze_time

from tests.support import confirm, interview_form, open_task_id, report_payload
from webapp.errors import Invalid
from webapp.taskforms import load_schema, validate

# 2 March 2026, 23:30 in UTC: already 3 March in China
LATE = dt.datetime(2026, 3, 2, 23, 30, tzinfo=dt.UTC)
PAST_DATES = {
    "interview.json": "interview_date",
    "official_talk.json": "talk_date",
    "confirm_instalment.json": "paid_on",
    "notify_banks.json": "notice_date",
    "answer_referral.json": "answer_date",
    "court_judgment.json": "judgment_date",
    "police_outcome.json": "decision_date",
    "prosecution_decision.json": "decision_date",
    "tax_inspection.json": "decision_date",
}


def _errors(schema, data: dict) -> dict[str, list[str]]:
    """The fields ``validate`` refuses in ``data`` (the other required ones among them)."""
    try:
        validate(schema, data)
    except Invalid as err:
        return err.fields
    return {}


@pytest.mark.parametrize(("form", "field"), sorted(PAST_DATES.items()))
def test_dates_of_what_happened_are_not_in_the_future(app, forms_dir, form, field):
    schema = load_schema(str(forms_dir), form)
    assert schema.properties[field].get("x-not-future") is True
    with app.test_request_context(), freeze_time(LATE):
        with pytest.raises(Invalid) as refused:
            validate(schema, {field: "2026-03-04"})
        assert refused.value.fields[field] == ["日期不能晚于今天（2026-03-03）。"]
        # today in China is accepted though it is still yesterday in UTC
        for day in ("2026-03-03", "2026-03-02"):
            assert field not in _errors(schema, {field: day}), day


def test_a_future_interview_date_is_refused_on_the_page_and_by_the_api(app, browser):
    with freeze_time(LATE):
        case_id = browser("bank_icbc").report(report_payload(1))
        confirm(browser, case_id)
        office = browser("office")
        task_id = open_task_id(app, case_id, "interview")

        page = office.get(f"/tasks/{task_id}").get_data(as_text=True)
        date_input = re.search(r'<input id="interview_date"[^>]*>', page, re.S).group(0)
        assert 'max="2026-03-03"' in date_input and 'type="date"' in date_input

        response = office.complete(
            case_id, "interview", expect=422, **{**interview_form(), "interview_date": "2026-03-04"}
        )
        text = response.get_data(as_text=True)
        assert "日期不能晚于今天（2026-03-03）。" in text
        assert 'class="field invalid" data-field="interview_date"' in text

        token = app.test_cli_runner().invoke(args=["tokens", "issue", "office"]).output.strip()
        answer = app.test_client().post(
            f"/api/v1/tasks/{task_id}/complete",
            json={"data": {**interview_form(), "interview_date": "2026-03-04"}},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 422
        assert answer.get_json()["fields"]["interview_date"] == ["日期不能晚于今天（2026-03-03）。"]

        office.complete(case_id, "interview", **{**interview_form(), "interview_date": "2026-03-03"})


def _field_block(page: str, name: str) -> str:
    return re.search(rf'<div class="field[^"]*" data-field="{name}".*?</div>', page, re.S).group(0)


def test_required_fields_are_marked(app, browser, forms_dir):
    case_id = browser("bank_icbc").report(report_payload(1))
    office = browser("office")
    review = office.get(f"/tasks/{open_task_id(app, case_id, 'review')}").get_data(as_text=True)
    legend = (
        '<p class="hint required-legend" id="required-legend">'
        '<span class="req" aria-hidden="true">*</span> 必填</p>'
    )
    assert legend in review
    # always required (a radio group), required under a condition (shown with it), optional
    decision = _field_block(review, "review_decision")
    assert '<span class="req" aria-hidden="true">*</span>' in decision
    assert 'role="radiogroup" aria-required="true"' in decision and " required>" in decision
    reason = _field_block(review, "reject_reason")
    assert "data-show-when-field" in reason and 'aria-required="true"' in reason
    notes = _field_block(review, "review_notes")
    assert "req" not in notes and "aria-required" not in notes

    confirm(browser, case_id)
    page = office.get(f"/tasks/{open_task_id(app, case_id, 'interview')}").get_data(as_text=True)
    assert legend in page
    schema = json.loads((forms_dir / "interview.json").read_text(encoding="utf-8"))
    for name in schema["properties"]:
        block = _field_block(page, name)
        required = name in schema["required"]
        assert ('<span class="req" aria-hidden="true">*</span>' in block) is required, name
        assert ('aria-required="true"' in block) is required, name
