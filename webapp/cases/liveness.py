"""Which open cases can no longer move on by themselves (停滞案件) and which carry an incident.

An open case moves on when a person completes one of its open tasks, a timer fires or an
awaited message arrives. With none of these it is *stalled*: nothing will ever wake it, and
only a repair (``steps.retry``) can. A case whose last step failed carries an ``incident``
instead; it is listed apart, because it says what went wrong and is retried differently.

Everything here reads the projected columns (``status``, ``next_timer_at``,
``awaits_message``, ``incident``) and the tasks' ``(case_id, status)`` index: the engine
state is never loaded (a dashboard must not cost a step per case).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session

from webapp.cases.visibility import SHOWN
from webapp.models import Case, Task
from webapp.models.cases import OPEN as CASE_OPEN
from webapp.models.tasks import OPEN as TASK_OPEN

_HAS_OPEN_TASK = exists().where(Task.case_id == Case.id, Task.status == TASK_OPEN)

STALLED: ColumnElement[bool] = and_(
    Case.status == CASE_OPEN,
    Case.next_timer_at.is_(None),
    Case.awaits_message.is_(False),
    Case.incident.is_(None),
    ~_HAS_OPEN_TASK,
    SHOWN,
)
"""An open case with no open task, no pending timer, no awaited message and no incident
(and not hidden by an import under way: the import, not a repair, finishes it)."""

WITH_INCIDENT: ColumnElement[bool] = and_(Case.status == CASE_OPEN, Case.incident.is_not(None), SHOWN)
"""An open case whose last step failed (a closed case runs no step, so has none to retry)."""


@dataclass(frozen=True)
class ListedCase:
    """A case as the supervision page and ``flask cases check`` list it."""

    id: int
    debtor_name: str
    stage: str
    since: dt.datetime  # the case's last change (``updated_at``)
    incident: str | None
    timer_failures: int
    timer_retry_at: dt.datetime | None
    # the version of the process it runs (its process's name on the page)
    process_version_id: int | None = None


_COLUMNS = (
    Case.id,
    Case.debtor_name,
    Case.stage,
    Case.updated_at,
    Case.incident,
    Case.timer_failures,
    Case.timer_retry_at,
    Case.process_version_id,
)


def _listed(session: Session, where: ColumnElement[bool], limit: int | None) -> list[ListedCase]:
    # longest waiting first: those are the ones people have been missing
    stmt = select(*_COLUMNS).where(where).order_by(Case.updated_at, Case.id).limit(limit)
    return [ListedCase(*row) for row in session.execute(stmt)]


def stalled_cases(session: Session, limit: int | None = None) -> list[ListedCase]:
    return _listed(session, STALLED, limit)


def incident_cases(session: Session, limit: int | None = None) -> list[ListedCase]:
    return _listed(session, WITH_INCIDENT, limit)


def stalled_case_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Case.id).where(STALLED).order_by(Case.id)))


def is_stalled(session: Session, case_id: int) -> bool:
    return bool(session.scalar(select(exists().where(Case.id == case_id, STALLED))))
