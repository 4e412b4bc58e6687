"""A step late in a long case does the same work as an early one (issue 7: flat steps).

Timing lives in bench/step_cost.py; here the work is counted: the SQL statements of a task
completion and the size of the saved engine state stay the same as the history grows.
"""

from __future__ import annotations

from sqlalchemy import event

from tests.support import case_row, open_task_id, open_tasks, report_payload

REJECT = {"certificate_decision": "rejected", "verification_notes": "印章不符"}


def test_statements_and_state_do_not_grow_with_the_history(app, browser):
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(41))
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    counts, sizes = [], []
    for round_ in range(12):
        # settlement reported, certificate found invalid: back to review, one more round of history
        bank.settle(case_id, certificate_no=f"JQ-{round_}")
        task_id = open_task_id(app, case_id, "verify_settlement")
        statements.clear()
        event.listen(app.extensions["db_engine"], "before_cursor_execute", count)
        try:
            response = office.post(f"/tasks/{task_id}", data=REJECT)
        finally:
            event.remove(app.extensions["db_engine"], "before_cursor_execute", count)
        assert response.status_code == 302
        counts.append(len(statements))
        sizes.append(len(case_row(app, case_id).state))
    assert open_tasks(app, case_id) == [("review", "office")]
    assert counts[-1] == counts[1], counts
    assert sizes[-1] <= sizes[1] + 100, sizes  # ids and times may differ by a few characters
    # what was completed before the engine dropped its history still shows on the diagram
    assert {"verify_settlement", "reopen"} <= set(case_row(app, case_id).completed_elements)
