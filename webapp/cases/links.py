"""Cases of one debtor in different processes, linked (never merged): a judgment defaulter
the court lists who is also on an open debt-evasion case, or a bank's report on someone the
court has listed. Both case pages show the link; each case's history records it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from webapp.cases import history, steps
from webapp.models import Case, CaseLink, ProcessVersion, User
from webapp.models.cases import OPEN


@dataclass(frozen=True)
class LinkedCase:
    id: int
    stage: str
    status: str
    process_version_id: int
    # the process it runs (processes/catalog.toml)
    process_key: str = ""


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


# the cases linked to one, either way round, with their processes: one statement (the case
# page reads it beside its others)
_LINKED = (
    select(Case.id, Case.stage, Case.status, Case.process_version_id, ProcessVersion.process_id)
    .join(ProcessVersion, ProcessVersion.id == Case.process_version_id)
    .where(
        or_(
            Case.id.in_(select(CaseLink.linked_case_id).where(CaseLink.case_id == bindparam("case_id"))),
            Case.id.in_(select(CaseLink.case_id).where(CaseLink.linked_case_id == bindparam("case_id"))),
        )
    )
    .order_by(Case.id)
)


def linked_cases(session: Session, case_id: int) -> list[LinkedCase]:
    """The cases linked to ``case_id``, either way round, oldest first."""
    return [
        LinkedCase(id, stage, status, version_id, str(process_key))
        for id, stage, status, version_id, process_key in session.execute(_LINKED, {"case_id": case_id})
    ]
