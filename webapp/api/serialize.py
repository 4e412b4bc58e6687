"""JSON shapes of the API (plain dicts from rows)."""

from __future__ import annotations

from typing import Any

from webapp.cases.identifiers import mask
from webapp.cases.queries import CaseView
from webapp.models import Case, Task


def task_json(task: Task, case: Case | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": task.id,
        "case_id": task.case_id,
        "element_id": task.element_id,
        "title": task.title,
        "unit": task.unit_code,
        "form": task.form,
        "status": task.status,
        "claimed_by": task.claimed_by.username if task.claimed_by else None,
        "created_at": task.created_at.isoformat(),
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "completed_at": task.completed_at.isoformat() if task.completed_at else None,
        "context": task.context,
    }
    if case is not None:
        body["debtor"] = case.debtor.name
        body["stage"] = case.stage
    return body


def case_json(view: CaseView) -> dict[str, Any]:
    case = view.case
    return {
        "id": case.id,
        "status": case.status,
        "stage": case.stage,
        "outcome": case.outcome,
        "closing_reason": case.closing_reason,
        "process": view.process.key,
        "process_version_id": case.process_version_id,
        "blacklisted": case.blacklisted,
        "blacklisted_at": case.blacklisted_at.isoformat() if case.blacklisted_at else None,
        "delisted_at": case.delisted_at.isoformat() if case.delisted_at else None,
        "created_at": case.created_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "next_deadline": case.next_timer_at.isoformat() if case.next_timer_at else None,
        "incident": case.incident,
        "debtor": {
            "kind": case.debtor.kind,
            "name": case.debtor.name,
            "identifier": mask(case.debtor.identifier),
            "legal_representative": case.debtor.legal_representative,
            "employer_unit": case.debtor.employer_unit_code,
        },
        "loans": [
            {
                "contract_no": loan.contract_no,
                "bank": loan.bank_unit_code,
                "principal": str(loan.principal),
                "interest": str(loan.interest),
                "overdue_since": loan.overdue_since.isoformat(),
                "behaviour": loan.behaviour,
                "settled_at": loan.settled_at.isoformat() if loan.settled_at else None,
                "settlement_certificate_no": loan.settlement_certificate_no,
            }
            for loan in view.loans
        ],
        "open_tasks": [task_json(t) for t in view.open_tasks],
        "completed_tasks": [
            {**task_json(t), "completed_by": t.completed_by.username if t.completed_by else None}
            for t in view.done_tasks
        ],
        "sanctions": [
            {
                "unit": s.unit_code,
                "measures": s.measures,
                "applied_at": s.applied_at.isoformat(),
                "lifted_at": s.lifted_at.isoformat() if s.lifted_at else None,
            }
            for s in view.sanctions
        ],
        "active_elements": case.active_elements,
        "completed_elements": case.completed_elements,
    }
