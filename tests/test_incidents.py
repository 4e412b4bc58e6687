"""A diagram that fails at run time: the step is refused, nothing half-written, an incident recorded."""

from __future__ import annotations

from sqlalchemy import select

from tests.support import Browser, app_with_edited_diagram, case_row, open_task_id, open_tasks, report_payload
from webapp.models import CaseEvent


def test_broken_gateway_becomes_a_recorded_incident(app, users, tmp_path):
    broken = app_with_edited_diagram(
        app, tmp_path, "classification == 'negotiation'", "no_such_variable == 'negotiation'"
    )
    try:
        case_id = Browser(broken, "bank_icbc").report(report_payload(1))
        task_id = open_task_id(app, case_id, "review")
        before = case_row(app, case_id).version
        response = Browser(broken, "office").post(
            f"/tasks/{task_id}", data={"review_decision": "confirm", "classification": "evasion"}
        )
        assert response.status_code == 409
        assert "no_such_variable" in response.get_data(as_text=True)
        case = case_row(app, case_id)
        # the step was rolled back: still at review, not blacklisted, task open; the incident is on record
        assert (case.stage, case.blacklisted) == ("review", False)
        assert open_tasks(app, case_id) == [("review", "office")]
        assert "no_such_variable" in (case.incident or "")
        assert case.version == before + 1  # only the incident was written
        with app.extensions["db_sessionmaker"]() as session:
            kinds = list(
                session.scalars(
                    select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
                )
            )
        assert kinds[-1] == "incident" and "task_completed" not in kinds
        page = Browser(broken, "office").get(f"/cases/{case_id}").get_data(as_text=True)
        assert "no_such_variable" in page
    finally:
        broken.extensions["db_engine"].dispose()
