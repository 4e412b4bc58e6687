"""Each task page carries what its unit needs to decide (issue 19): the debtor with the
identifier masked, the loans, the stage, the due date and the time left, one link to the
case page, and the earlier steps' data its form names in ``x-context``; the lift page lists
the measures the unit applied, the verification page the certificate and its file."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
from freezegun import freeze_time

from tests.support import (
    ROOT,
    SANCTION_MEASURES,
    assess,
    confirm,
    credit_code,
    interview_form,
    open_task_id,
    report_payload,
)
from webapp.tasks.context import NAMED, days_left

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
FORMS = ROOT / "forms"


def _user_task_forms() -> dict[str, str]:
    """Each user task of every diagram in processes/ and its form's file name."""
    forms = {}
    for path in sorted((ROOT / "processes").glob("*.bpmn")):
        xml = path.read_text(encoding="utf-8")
        for match in re.finditer(r'<bpmn:userTask id="([^"]+)".*?</bpmn:userTask>', xml, re.S):
            form = re.search(r'name="formJsonSchemaFilename" value="([^"]+)"', match.group(0))
            if form:
                forms[match.group(1)] = form.group(1)
    return forms


def test_every_x_context_entry_names_an_earlier_steps_field_or_a_known_part():
    forms = _user_task_forms()
    declared = 0
    for path in sorted(FORMS.glob("*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8")).get("x-context", []):
            declared += 1
            if entry in NAMED:
                continue
            element, _, field = entry.partition(".")
            assert element in forms, f"{path.name}: {entry}: no user task {element} in the diagram"
            props = json.loads((FORMS / forms[element]).read_text(encoding="utf-8"))["properties"]
            assert field in props, f"{path.name}: {entry}: {forms[element]} has no field {field}"
    assert declared > 40


def test_days_left_rounds_towards_the_due_date():
    due = dt.datetime(2026, 3, 10, 16, 0, tzinfo=dt.UTC)
    assert days_left(due, due - dt.timedelta(days=3, hours=2)) == 3
    assert days_left(due, due - dt.timedelta(hours=5)) == 0
    assert days_left(due, due + dt.timedelta(hours=5)) == -1
    assert days_left(None, due) is None


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


def _page(browser, user: str, task_id: str) -> str:
    response = browser(user).get(f"/tasks/{task_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_review_page_shows_the_debtor_masked_the_loans_and_the_evidence(app, browser, clock):
    case_id = browser("bank_icbc").report(report_payload(61))
    page = _page(browser, "office", open_task_id(app, case_id, "review"))
    identifier = credit_code(61)
    assert "测试债务人61" in page and identifier not in page
    assert f"{identifier[:4]}{'*' * (len(identifier) - 8)}{identifier[-4:]}" in page
    loans = page[page.index('id="task-loans"') :]
    assert "C-1-1" not in loans and "C-61-1" in loans and "1,000,000.00" in loans
    evidence = "C-61-1：生产经营正常，恶意拖欠银行债务；逾期一年"
    assert f'<p class="hint" data-evidence="C-61-1">{evidence}</p>' in loans
    assert f'<a href="/cases/{case_id}" id="task-case-link">查看完整案件' in page
    assert '<dd id="task-debtor">测试债务人61 · 企业</dd>' in page and '<dd id="task-stage">审核</dd>' in page


def test_a_sanction_page_shows_the_assessment_and_the_time_left(app, browser, clock):
    case_id = browser("bank_icbc").report(report_payload(62))
    confirm(browser, case_id)
    # the interview's minutes, attached as a file, are shown to the sanctioning units
    form: dict = {key: str(value) for key, value in interview_form(3).items()}
    form["minutes_files"] = [(io.BytesIO(b"%PDF-1.4 minutes"), "约谈笔录.pdf")]
    interview = open_task_id(app, case_id, "interview")
    response = browser("office").post(f"/tasks/{interview}", data=form, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    clock.move_to(START + dt.timedelta(days=5))
    assert app.test_cli_runner().invoke(args=["timers", "fire"]).exit_code == 0
    assess(browser, case_id, assessment_notes="拒不还款，从严")
    task_id = open_task_id(app, case_id, "apply_sanction", unit="court")
    page = _page(browser, "court", task_id)
    earlier = page[page.index('id="task-earlier"') :]
    assert "测试债务人62" in page
    assert 'data-field="assess_rectification.assessment">整改不到位：全面实施联合惩戒</dd>' in earlier
    assert 'data-field="assess_rectification.assessment_notes">拒不还款，从严</dd>' in earlier
    assert 'data-field="interview.commitments">按期还款</dd>' in earlier  # the talk before it
    minutes = earlier[earlier.index('data-field="interview.minutes_files"') :]
    assert re.search(r'<a href="/attachments/\d+">约谈笔录.pdf</a>', minutes[: minutes.index("</dd>")])
    # the court's period runs: days left, then overdue
    assert '<span class="tag" id="task-days-left">还剩 10 天</span>' in page
    clock.move_to(START + dt.timedelta(days=90))
    page = _page(browser, "court", task_id)
    assert re.search(r'<span class="tag danger" id="task-days-left">已逾期 \d+ 天</span>', page)


def test_the_police_see_the_referral_reason_and_the_sanctions(app, browser, clock):
    case_id = browser("bank_icbc").report(report_payload(63))
    confirm(browser, case_id)
    browser("office").complete(case_id, "interview", **interview_form(3))
    clock.move_to(START + dt.timedelta(days=5))
    app.test_cli_runner().invoke(args=["timers", "fire"])
    assess(browser, case_id)
    for unit, measure in SANCTION_MEASURES.items():
        if open_task_id_or_none(app, case_id, unit):
            browser(unit).complete(case_id, "apply_sanction", measures=[measure])
    browser("office").complete(
        case_id, "decide_referral", referral_decision="police", referral_reason="涉嫌转移资产逃避执行"
    )
    page = _page(browser, "police", open_task_id(app, case_id, "answer_referral"))
    earlier = page[page.index('id="task-earlier"') :]
    assert "涉嫌转移资产逃避执行" in earlier
    sanctions = page[page.index('id="task-sanctions"') :]
    sanctions = sanctions[: sanctions.index("</section>")]
    assert "本案已采取的惩戒措施" in sanctions and sanctions.count("<li>") == len(SANCTION_MEASURES)


def open_task_id_or_none(app, case_id: int, unit: str) -> str | None:
    try:
        return open_task_id(app, case_id, "apply_sanction", unit=unit)
    except AssertionError:
        return None


def test_verification_shows_the_certificate_and_the_lift_page_the_units_measures(app, browser, clock):
    case_id = browser("bank_icbc").report(report_payload(64))
    confirm(browser, case_id)
    browser("office").complete(case_id, "interview", **interview_form(3))
    clock.move_to(START + dt.timedelta(days=5))
    app.test_cli_runner().invoke(args=["timers", "fire"])
    assess(browser, case_id)
    court_measure = SANCTION_MEASURES["court"]
    browser("court").complete(case_id, "apply_sanction", measures=[court_measure])
    pdf = (io.BytesIO(b"%PDF-1.4 certificate"), "jq.pdf")
    response = browser("bank_icbc").post(
        f"/cases/{case_id}/settlement",
        data={"certificate_no": "JQ-64", "certificate_file": pdf},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    page = _page(browser, "office", open_task_id(app, case_id, "verify_settlement"))
    settlement = page[page.index('id="task-settlement"') :]
    link = re.search(r'href="(/attachments/\d+)"', settlement)
    assert "JQ-64" in settlement and link is not None
    opened = browser("office").get(link.group(1))
    assert opened.data == b"%PDF-1.4 certificate"
    opened.close()
    browser("office").complete(case_id, "verify_settlement", certificate_decision="verified")
    page = _page(browser, "court", open_task_id(app, case_id, "lift_sanction", unit="court"))
    own = page[page.index('id="task-sanctions"') :]
    assert "本单位已采取的惩戒措施" in own
    measures = own[: own.index("</section>")]
    assert measures.count("<li>") == 1
