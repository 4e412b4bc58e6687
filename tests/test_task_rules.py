"""Who may act on a task, double completion, invalid forms: through the HTML pages."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.support import case_row, flatten_report, open_task_id, open_tasks, report_payload
from webapp.models import CaseEvent, Task


def _event_count(app, case_id: int) -> int:
    with app.extensions["db_sessionmaker"]() as session:
        return session.scalar(select(func.count(CaseEvent.id)).where(CaseEvent.case_id == case_id)) or 0


def test_wrong_unit_gets_403(app, browser):
    case_id = browser("bank_icbc").report(report_payload(1))
    task_id = open_task_id(app, case_id, "review")
    court = browser("court")
    # the court takes no part in the case: it cannot even see the task
    assert court.post(f"/tasks/{task_id}", data={"review_decision": "reject"}).status_code == 404
    # the reporting bank sees the case but does not own the review
    bank = browser("bank_icbc")
    assert bank.get(f"/tasks/{task_id}").status_code == 200
    assert (
        bank.post(f"/tasks/{task_id}", data={"review_decision": "reject", "reject_reason": "x"}).status_code
        == 403
    )
    assert bank.post(f"/tasks/{task_id}/claim").status_code == 403
    # a supervisor of the office sees it but is no caseworker
    assert browser("supervisor").post(f"/tasks/{task_id}/claim").status_code == 403
    assert open_tasks(app, case_id) == [("review", "office")]


def test_double_completion_is_409(app, browser):
    case_id = browser("bank_icbc").report(report_payload(2))
    task_id = open_task_id(app, case_id, "review")
    office = browser("office")
    form = {"review_decision": "reject", "reject_reason": "证据不足"}
    assert office.post(f"/tasks/{task_id}", data=form).status_code == 302
    events = _event_count(app, case_id)
    again = office.post(f"/tasks/{task_id}", data=form)
    assert again.status_code == 409
    assert "already" in again.get_data(as_text=True) or "已" in again.get_data(as_text=True)
    assert _event_count(app, case_id) == events


def test_invalid_form_shows_field_errors_and_changes_nothing(app, browser):
    case_id = browser("bank_icbc").report(report_payload(3))
    office = browser("office")
    task_id = open_task_id(app, case_id, "review")
    before = (_event_count(app, case_id), case_row(app, case_id).version)
    # reject without a reason
    response = office.post(f"/tasks/{task_id}", data={"review_decision": "reject"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'data-field="reject_reason"' in page and 'id="reject_reason-error"' in page
    # an unknown choice
    response = office.post(f"/tasks/{task_id}", data={"review_decision": "maybe"})
    assert response.status_code == 422 and 'id="review_decision-error"' in response.get_data(as_text=True)
    # confirm without a classification
    response = office.post(f"/tasks/{task_id}", data={"review_decision": "confirm"})
    assert response.status_code == 422 and 'id="classification-error"' in response.get_data(as_text=True)
    assert (_event_count(app, case_id), case_row(app, case_id).version) == before
    assert open_tasks(app, case_id) == [("review", "office")]
    with app.extensions["db_sessionmaker"]() as session:
        assert session.get(Task, task_id).status == "open"


def test_interview_period_out_of_range_is_refused(app, browser):
    case_id = browser("bank_icbc").report(report_payload(4))
    office = browser("office")
    office.complete(case_id, "review", review_decision="confirm", classification="evasion")
    response = office.complete(
        case_id, "interview", expect=422, interview_date="2026-03-02", attendees="x", rectification_days=0
    )
    assert response.status_code == 422
    assert 'id="rectification_days-error"' in response.get_data(as_text=True)
    response = office.complete(
        case_id,
        "interview",
        expect=422,
        interview_date="03/02/2026",
        attendees="x",
        rectification_days="thirty",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="interview_date-error"' in page and 'id="rectification_days-error"' in page
    assert case_row(app, case_id).stage == "interview"


def test_interview_form_defaults_period_from_configuration(app, browser):
    case_id = browser("bank_icbc").report(report_payload(5))
    office = browser("office")
    office.complete(case_id, "review", review_decision="confirm", classification="evasion")
    page = office.get(f"/tasks/{open_task_id(app, case_id, 'interview')}").get_data(as_text=True)
    assert 'name="rectification_days" type="number" value="30"' in page


def test_claim_and_unclaim(app, browser, users):
    case_id = browser("bank_icbc").report(report_payload(6))
    task_id = open_task_id(app, case_id, "review")
    office = browser("office")
    assert office.post(f"/tasks/{task_id}/claim").status_code == 302
    with app.extensions["db_sessionmaker"]() as session:
        assert session.get(Task, task_id).claimed_by_id == users["office"]
    inbox = office.get("/inbox").get_data(as_text=True)
    assert "Unclaim" in inbox or "退回" in inbox
    assert office.post(f"/tasks/{task_id}/unclaim").status_code == 302
    with app.extensions["db_sessionmaker"]() as session:
        assert session.get(Task, task_id).claimed_by_id is None
        kinds = list(session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)))
    assert "task_claimed" in kinds and "task_unclaimed" in kinds


def test_inbox_orders_oldest_and_newest_first(app, browser):
    bank = browser("bank_icbc")
    first = bank.report(report_payload(7))
    second = bank.report(report_payload(8))
    office = browser("office")
    oldest = office.get("/inbox?order=oldest").get_data(as_text=True)
    newest = office.get("/inbox?order=newest").get_data(as_text=True)
    assert oldest.index(f"#{first}<") < oldest.index(f"#{second}<")
    assert newest.index(f"#{second}<") < newest.index(f"#{first}<")


def test_case_page_shows_debtor_loans_stage_tasks_and_diagram(app, browser):
    case_id = browser("bank_icbc").report(report_payload(9))
    page = browser("office").get(f"/cases/{case_id}").get_data(as_text=True)
    assert "测试债务人9" in page and "C-9-1" in page
    assert 'id="case-stage"' in page and 'id="open-tasks"' in page
    # the case body waits at the review, its boundary messages (settlement, closing) armed
    active = "[&#34;case_body&#34;, &#34;review&#34;, &#34;settled&#34;, &#34;closing&#34;]"
    assert f'data-active="{active}"' in page
    assert "bpmn-navigated-viewer.production.min.js" in page
    # the identifier is masked
    identifier = report_payload(9)["identifier"]
    assert identifier not in page and identifier[:4] + "**********" + identifier[-4:] in page
    xml = browser("office").get(f"/cases/{case_id}/diagram.bpmn")
    assert xml.status_code == 200 and b"bpmndi:BPMNDiagram" in xml.data
    # a unit that takes no part sees nothing
    assert browser("court").get(f"/cases/{case_id}").status_code == 404
    assert browser("court").get(f"/cases/{case_id}/diagram.bpmn").status_code == 404


def test_report_form_validates_identifier_and_required_fields(app, browser):
    bank = browser("bank_icbc")
    payload = report_payload(10)
    payload["identifier"] = payload["identifier"][:-1] + ("0" if payload["identifier"][-1] != "0" else "1")
    response = bank.post("/report", data=flatten_report(payload))
    assert response.status_code == 422
    assert 'data-field="identifier"' in response.get_data(as_text=True)
    payload = report_payload(10)
    payload["loans"][0]["principal"] = -5
    del payload["legal_representative"]
    page = bank.post("/report", data=flatten_report(payload)).get_data(as_text=True)
    assert 'class="invalid" data-field="loans.0.principal"' in page
    assert "legal_representative-error" in page
    # the court cannot report
    assert browser("court").post("/report", data=flatten_report(report_payload(11))).status_code == 403
