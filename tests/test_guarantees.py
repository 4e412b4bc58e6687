"""The due-process rules hold even when a diagram is edited to break them: the step is
refused and recorded as an incident (rules 1 and 2; rule 3 is checked by the domain before
any diagram runs, see test_task_rules)."""

from __future__ import annotations

from tests.support import Browser, app_with_edited_diagram, case_row, open_tasks, report_payload


def test_a_diagram_that_skips_the_interview_cannot_open_sanctions(app, users, tmp_path):
    edited = app_with_edited_diagram(
        app,
        tmp_path,
        'sourceRef="gw_interview_merge" targetRef="interview"',
        'sourceRef="gw_interview_merge" targetRef="prepare_sanctions"',
    )
    try:
        case_id = Browser(edited, "bank_icbc").report(report_payload(1))
        response = Browser(edited, "office").complete(
            case_id, "review", expect=409, review_decision="confirm", classification="evasion"
        )
        assert "rule 1" in response.get_data(as_text=True)
        case = case_row(app, case_id)
        assert case.stage == "review" and not case.blacklisted and "rule 1" in (case.incident or "")
        assert open_tasks(app, case_id) == [("review", "office")]
    finally:
        edited.extensions["db_engine"].dispose()


def test_a_diagram_that_ignores_settlements_is_an_incident(app, users, tmp_path):
    edited = app_with_edited_diagram(
        app,
        tmp_path,
        '<bpmn:message id="Message_loan_settled" name="loan_settled"',
        '<bpmn:message id="Message_loan_settled" name="something_else"',
    )
    try:
        case_id = Browser(edited, "bank_icbc").report(report_payload(2))
        response = Browser(edited, "bank_icbc").settle(case_id, expect=409)
        assert "rule 2" in response.get_data(as_text=True)
        case = case_row(app, case_id)
        assert "rule 2" in (case.incident or "") and case.stage == "review"
    finally:
        edited.extensions["db_engine"].dispose()
