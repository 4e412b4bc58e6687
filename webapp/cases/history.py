"""The case history: every change to a case appends one event (never updated or deleted).

All events go through ``append`` so that their shape — and later their chaining — lives in
one place.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from webapp.audit import chain
from webapp.clock import now
from webapp.models import Case, CaseEvent, ImportBatch, User


class Placed(Protocol):
    """What an event reads of its case: a ``Case``, or a case being written in bulk."""

    @property
    def id(self) -> int: ...
    @property
    def active_elements(self) -> list[str]: ...
    @property
    def completed_elements(self) -> list[str]: ...


class TaskLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def element_id(self) -> str: ...


def make(
    case: Placed,
    kind: str,
    actor: User | None = None,
    *,
    actor_id: int | None = None,
    unit_code: str | None = None,
    task: TaskLike | None = None,
    element_id: str | None = None,
    **data: Any,
) -> chain.NewEvent:
    """An event of the case, placed on the diagram where the case stands now, for
    ``chain.insert_events`` (a step's events go out together at its end)."""
    return chain.NewEvent(
        case_id=case.id,
        kind=kind,
        actor_id=actor.id if actor else actor_id,
        unit_code=unit_code or (actor.unit_code if actor else None),
        task_id=task.id if task else None,
        element_id=element_id or (task.element_id if task else None),
        data=data,
        active_elements=list(case.active_elements or []),
        completed_elements=list(case.completed_elements or []),
        created_at=now(),
    )


def append(session: Session, case: Case, kind: str, actor: User | None = None, **kwargs: Any) -> CaseEvent:
    """An event added to the session, sealed when it is flushed."""
    made = make(case, kind, actor, **kwargs)
    event = CaseEvent(
        case_id=made.case_id,
        kind=made.kind,
        actor_id=made.actor_id,
        unit_code=made.unit_code,
        task_id=made.task_id,
        element_id=made.element_id,
        data=made.data,
        active_elements=made.active_elements,
        completed_elements=made.completed_elements,
        created_at=made.created_at,
    )
    chain.mark_order(event)
    session.add(event)
    return event


def system_event(session: Session, kind: str, actor: User | None = None, **data: Any) -> CaseEvent:
    """An event outside any case (logins, administration), on the chain of its user
    (``user:<id>``), or of the user name tried (``login:<name>``) for failed logins, so that
    users never wait on each other's history."""
    chain_name = f"user:{actor.id}" if actor else f"login:{str(data.get('username', ''))[:30]}"
    return _outside_case(session, chain_name, kind, actor, actor.unit_code if actor else None, data)


def batch_event(
    session: Session, batch: ImportBatch, kind: str, actor: User | None, **data: Any
) -> CaseEvent:
    """An event in a ledger batch's own history (``import:<id>``): started, shown, failed,
    resumed, discarded; the batch's cases have their own chains."""
    return _outside_case(
        session, f"import:{batch.id}", kind, actor, batch.unit_code, {"batch": batch.id, **data}
    )


def unit_event(session: Session, unit_code: str, kind: str, actor: User | None, **data: Any) -> CaseEvent:
    """An event in a unit's own history (``unit:<code>``), e.g. its blacklist look-ups."""
    return _outside_case(session, f"unit:{unit_code}", kind, actor, unit_code, data)


def _outside_case(
    session: Session,
    chain_name: str,
    kind: str,
    actor: User | None,
    unit_code: str | None,
    data: dict[str, Any],
) -> CaseEvent:
    """An event on a chain of its own outside any case, sealed when it is flushed."""
    event = CaseEvent(
        chain=chain_name,
        case_id=None,
        kind=kind,
        actor_id=actor.id if actor else None,
        unit_code=unit_code,
        data=data,
        active_elements=[],
        completed_elements=[],
        created_at=now(),
    )
    chain.mark_order(event)
    session.add(event)
    return event
