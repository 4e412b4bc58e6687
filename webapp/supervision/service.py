"""Supervision (督办) by the group office: what is late where, and acting on it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased, defer

from webapp.cases import history, liveness, steps
from webapp.cases.liveness import ListedCase
from webapp.cases.visibility import SHOWN
from webapp.clock import now
from webapp.errors import Conflict, Forbidden, Invalid, NotFound
from webapp.models import Case, Notification, Task, User
from webapp.models.cases import OPEN as CASE_OPEN
from webapp.models.tasks import OPEN

AGE_BUCKETS = ((7, "< 7"), (30, "7-30"), (90, "30-90"), (None, "> 90"))


def require_supervisor(user: User) -> None:
    if user.unit_code != "office" or not (user.has_role("supervisor") or user.has_role("admin")):
        raise Forbidden(_("Only supervisors of the group office supervise."))


@dataclass(frozen=True)
class Dashboard:
    overdue_by_unit: list[tuple[str, int]]
    overdue_by_step: list[tuple[str, str, int]]
    stages: list[tuple[str, list[int]]]
    stale: list[Case]
    stale_days: int


def dashboard(session: Session, stale_days: int = 14) -> Dashboard:
    current = now()
    late = (Task.status == OPEN) & (Task.due_at < current)
    # the tasks' case joined only for SHOWN (cases an import is still writing count nowhere):
    # the join reads the case by its primary key per overdue task
    by_unit = session.execute(
        select(Task.unit_code, func.count())
        .join(Case, Task.case_id == Case.id)
        .where(late, SHOWN)
        .group_by(Task.unit_code)
        .order_by(func.count().desc())
    ).all()
    counted = (
        select(Task.element_id, func.count().label("n"))
        .join(Case, Task.case_id == Case.id)
        .where(late, SHOWN)
        .group_by(Task.element_id)
        .subquery()
    )
    # the step's title from one of its overdue tasks (an element's tasks share its name)
    sample = aliased(Task)
    title = (
        select(sample.title)
        .join(Case, sample.case_id == Case.id)
        .where(
            sample.element_id == counted.c.element_id, sample.status == OPEN, sample.due_at < current, SHOWN
        )
        .limit(1)
        .scalar_subquery()
    )
    by_step = session.execute(
        select(counted.c.element_id, title, counted.c.n).order_by(counted.c.n.desc())
    ).all()
    # ages bucketed by the database: a province has hundreds of thousands of open cases, and
    # "younger than N days" is "opened after now - N days" (an index range, no per-row arithmetic)
    bucket = case(
        *[
            (Case.created_at > current - dt.timedelta(days=limit), i)
            for i, (limit, _label) in enumerate(AGE_BUCKETS)
            if limit is not None
        ],
        else_=len(AGE_BUCKETS) - 1,
    )
    stages: dict[str, list[int]] = {}
    for stage, index, count in session.execute(
        select(Case.stage, bucket, func.count())
        .where(Case.status == "open", SHOWN)
        .group_by(Case.stage, bucket)
    ):
        stages.setdefault(stage, [0] * len(AGE_BUCKETS))[index] += count
    stale = list(
        session.scalars(
            select(Case)
            .options(defer(Case.state))
            .where(Case.status == "open", Case.updated_at < current - dt.timedelta(days=stale_days), SHOWN)
            .order_by(Case.updated_at)
            .limit(100)
        )
    )
    return Dashboard(
        [(u, n) for u, n in by_unit],
        [(e, t, n) for e, t, n in by_step],
        sorted(stages.items()),
        stale,
        stale_days,
    )


@dataclass(frozen=True)
class Liveness:
    """Cases that cannot move on by themselves, and cases whose last step failed."""

    stalled: list[ListedCase]
    incidents: list[ListedCase]
    limit: int


def case_liveness(session: Session, limit: int = 100) -> Liveness:
    return Liveness(liveness.stalled_cases(session, limit), liveness.incident_cases(session, limit), limit)


@dataclass(frozen=True)
class Retried:
    repaired: list[str]  # multi-instance elements whose finished items were joined
    still_stalled: bool  # ran, yet nothing will move it on: the diagram needs a look


def retry_case(session: Session, supervisor: User, case_id: int) -> Retried:
    """Run a stalled case, or one with an incident, on from its stored state (``steps.retry``).
    A failure raises ``StepFailed`` (``atomic`` records it as an incident)."""
    require_supervisor(supervisor)
    # a case an import is still writing is not there yet for anyone (404 before the lock)
    if session.scalar(select(Case.id).where(Case.id == case_id, SHOWN)) is None:
        raise NotFound(_("Case not found."))
    case = steps.lock_case(session, case_id)
    if case.status != CASE_OPEN:
        raise Conflict(_("The case is closed."))
    repaired = steps.retry(session, case, supervisor)
    # the retry fired any due timer: a failing timer's backoff starts over
    if case.timer_failures or case.timer_retry_at is not None:
        case.timer_failures, case.timer_retry_at = 0, None
    session.flush()
    return Retried(sorted(set(repaired)), liveness.is_stalled(session, case_id))


def task_list(
    session: Session,
    *,
    unit: str | None = None,
    element: str | None = None,
    overdue: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> list[tuple[Task, Case]]:
    stmt = select(Task, Case).join(Case, Task.case_id == Case.id).where(Task.status == OPEN, SHOWN)
    if overdue:
        stmt = stmt.where(Task.due_at < now())
    if unit:
        stmt = stmt.where(Task.unit_code == unit)
    if element:
        stmt = stmt.where(Task.element_id == element)
    # NULLS LAST rather than "due_at IS NULL" first: the (status, due_at) and (unit_code, status,
    # due_at) indexes then give the order and the LIMIT stops early; the engine state is not shown
    stmt = (
        stmt.order_by(Task.due_at.asc().nulls_last(), Task.id)
        .options(defer(Case.state))
        .limit(limit)
        .offset(offset)
    )
    return [(t, c) for t, c in session.execute(stmt)]


def _open_tasks(session: Session, task_ids: list[str]) -> list[Task]:
    if not task_ids:
        message = _("Choose at least %(n)s.", n=1)
        raise Invalid(message, {"task_ids": [message]})
    # a task of a hidden case (an import under way) is as unknown as a missing one
    tasks = list(
        session.scalars(
            select(Task)
            .join(Case, Task.case_id == Case.id)
            .where(Task.id.in_(task_ids), Task.status == OPEN, SHOWN)
        )
    )
    if len(tasks) != len(set(task_ids)):
        raise NotFound(_("Task not found."))
    return tasks


def reassign(
    session: Session, supervisor: User, task_ids: list[str], to_user_id: int | None, reason: str
) -> list[Task]:
    """Give tasks to a caseworker of the owning unit, or back to the unit's queue (None)."""
    require_supervisor(supervisor)
    reason = reason.strip()
    if not reason:
        message = _("State the reason.")
        raise Invalid(message, {"reason": [message]})
    tasks = _open_tasks(session, task_ids)
    target = session.get(User, to_user_id) if to_user_id else None
    if to_user_id and target is None:
        raise NotFound(_("User not found."))
    for task in tasks:
        if target is not None and (
            target.unit_code != task.unit_code or not target.has_role("caseworker") or not target.active
        ):
            message = _("%(user)s is no caseworker of the unit that owns the task.", user=target.display_name)
            raise Invalid(message, {"to_user": [message]})
        previous = task.claimed_by.username if task.claimed_by else None
        task.claimed_by_id = target.id if target else None
        case = session.get(Case, task.case_id)
        if case is not None:
            history.append(
                session,
                case,
                "task_reassigned",
                supervisor,
                task=task,
                reason=reason,
                previous=previous,
                to=target.username if target else None,
            )
    session.flush()
    return tasks


def remind(session: Session, supervisor: User, task_ids: list[str], note: str) -> int:
    """A reminder (督办) to the units owning the tasks; one message per unit."""
    require_supervisor(supervisor)
    note = note.strip()
    if not note:
        message = _("Write a note for the unit.")
        raise Invalid(message, {"note": [message]})
    tasks = _open_tasks(session, task_ids)
    by_unit: dict[str, list[Task]] = {}
    for task in tasks:
        by_unit.setdefault(task.unit_code, []).append(task)
        case = session.get(Case, task.case_id)
        if case is not None:
            history.append(
                session, case, "reminder_sent", supervisor, task=task, note=note, to_unit=task.unit_code
            )
    for unit, unit_tasks in by_unit.items():
        session.add(
            Notification(
                unit_code=unit,
                case_id=unit_tasks[0].case_id if len(unit_tasks) == 1 else None,
                kind="reminder",
                params={
                    "note": note,
                    "by": supervisor.display_name,
                    "tasks": [{"id": t.id, "case_id": t.case_id, "title": t.title} for t in unit_tasks],
                },
            )
        )
    session.flush()
    return len(by_unit)


def unit_caseworkers(session: Session) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(User.active.is_(True), User.roles.contains("caseworker"))
            .order_by(User.unit_code, User.username)
        )
    )
