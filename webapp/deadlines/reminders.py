"""Reminders and escalation: the owning unit is told when a task is about to fall due and
when it is overdue (once each); the office's supervisors get one digest a day.

Each reminder is claimed with a conditional UPDATE and each message has a unique dedupe
key, so several workers running at once send every message exactly once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, joinedload

from webapp.cases.visibility import SHOWN
from webapp.deadlines.calendar import LOCAL
from webapp.deadlines.due import digest_time, due_soon_window, rules
from webapp.models import Case, Notification, Task
from webapp.models.tasks import OPEN

DIGEST_LIMIT = 200  # the most overdue tasks listed in one digest; the counts cover all


def _claim(session: Session, task: Task, column: str, at: dt.datetime) -> bool:
    result = session.execute(
        update(Task)
        .where(Task.id == task.id, getattr(Task, column).is_(None))
        .values({column: at})
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", result).rowcount == 1


def send_due_reminders(session: Session, at: dt.datetime) -> int:
    """Notify units of tasks due soon and of tasks overdue; returns how many were sent."""
    sent = 0
    soon = list(
        session.scalars(
            select(Task)
            .join(Case, Task.case_id == Case.id)
            .where(
                Task.status == OPEN,
                Task.due_at > at,
                Task.due_at <= at + due_soon_window(),
                Task.reminded_due_soon_at.is_(None),
                SHOWN,
            )
            .limit(500)
        )
    )
    late = list(
        session.scalars(
            select(Task)
            .join(Case, Task.case_id == Case.id)
            .where(Task.status == OPEN, Task.due_at <= at, Task.reminded_overdue_at.is_(None), SHOWN)
            .limit(500)
        )
    )
    for kind, column, tasks in (
        ("task_due_soon", "reminded_due_soon_at", soon),
        ("task_overdue", "reminded_overdue_at", late),
    ):
        for task in tasks:
            if _claim(session, task, column, at):
                session.add(
                    Notification(
                        unit_code=task.unit_code,
                        case_id=task.case_id,
                        kind=kind,
                        dedupe_key=f"{kind}:{task.id}",
                        params={
                            "task_id": task.id,
                            "title": task.title,
                            "due_at": task.due_at.isoformat() if task.due_at else None,
                        },
                    )
                )
                sent += 1
    session.flush()
    return sent


def escalation_level(days_overdue: int) -> str | None:
    """The highest escalation rule (deadlines.toml ``[[escalation]]``) a lateness reaches."""
    level = None
    for rule in sorted(rules().get("escalation", []), key=lambda r: int(r["after_days_overdue"])):
        if days_overdue >= int(rule["after_days_overdue"]):
            level = str(rule["level"])
    return level


def digest(session: Session, at: dt.datetime) -> dict[str, Any]:
    """The supervisors' digest: overdue tasks by unit, and those past an escalation rule."""
    by_unit = dict(
        session.execute(
            select(Task.unit_code, func.count(Task.id))
            .join(Case, Task.case_id == Case.id)
            .where(Task.status == OPEN, Task.due_at < at, SHOWN)
            .group_by(Task.unit_code)
        ).all()
    )
    escalated = []
    rows = session.execute(
        select(Task, Case)
        .join(Case, Task.case_id == Case.id)
        .options(joinedload(Case.debtor))
        .where(Task.status == OPEN, Task.due_at < at, SHOWN)
        .order_by(Task.due_at)
        .limit(DIGEST_LIMIT)
    )
    for task, case in rows:
        # calendar days past due, in China time: a task due yesterday is one day late today
        due = task.due_at.astimezone(LOCAL).date() if task.due_at else at.astimezone(LOCAL).date()
        days = (at.astimezone(LOCAL).date() - due).days
        level = escalation_level(days)
        if level:
            escalated.append(
                {
                    "task_id": task.id,
                    "case_id": case.id,
                    "debtor": case.debtor.name,
                    "title": task.title,
                    "unit": task.unit_code,
                    "days_overdue": days,
                    "level": level,
                }
            )
    return {
        "date": at.astimezone(LOCAL).date().isoformat(),
        "overdue_by_unit": by_unit,
        "overdue_total": sum(by_unit.values()),
        "escalated": escalated,
    }


def send_daily_digest(session: Session, at: dt.datetime) -> bool:
    """Once a local day, at or after the configured time: one message to the office."""
    local = at.astimezone(LOCAL)
    if local.time() < digest_time():
        return False
    key = f"digest:{local.date().isoformat()}"
    if session.scalar(select(Notification.id).where(Notification.dedupe_key == key)) is not None:
        return False
    session.add(
        Notification(unit_code="office", kind="daily_digest", dedupe_key=key, params=digest(session, at))
    )
    session.flush()
    return True
