"""Cases of one debtor in different processes, linked (never merged): a judgment defaulter
the court lists who is also on an open debt-evasion case, or a bank's report on someone the
court has listed. Both case pages show the link; each case's history records it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from webapp.cases import history, steps
from webapp.models import Case, CaseLink, User
from webapp.models.cases import OPEN


@dataclass(frozen=True)
class LinkedCase:
    id: int
    stage: str
    status: str
    process_version_id: int


def link_open_cases(session: Session, case: Case, actor: User | None) -> list[int]:
    """Link a new case to the debtor's other open cases; their ids. Each side's history gets
    a ``case_linked`` event naming the other."""
    others = list(
        session.scalars(
            select(Case.id)
            .where(Case.debtor_id == case.debtor_id, Case.status == OPEN, Case.id != case.id)
            .order_by(Case.id)
        )
    )
    for other_id in others:
        other = steps.lock_case(session, other_id)
        session.add(CaseLink(case_id=case.id, linked_case_id=other.id))
        history.append(session, case, "case_linked", actor, linked_case_id=other.id)
        history.append(session, other, "case_linked", actor, linked_case_id=case.id)
    return others


def linked_cases(session: Session, case_id: int) -> list[LinkedCase]:
    """The cases linked to ``case_id``, either way round, oldest first."""
    rows = session.execute(
        select(CaseLink.case_id, CaseLink.linked_case_id).where(
            or_(CaseLink.case_id == case_id, CaseLink.linked_case_id == case_id)
        )
    )
    ids = sorted({b if a == case_id else a for a, b in rows})
    if not ids:
        return []
    return [
        LinkedCase(c.id, c.stage, c.status, c.process_version_id)
        for c in session.execute(
            select(Case.id, Case.stage, Case.status, Case.process_version_id)
            .where(Case.id.in_(ids))
            .order_by(Case.id)
        )
    ]
