from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clock import now
from webapp.db import Base
from webapp.models.users import User

OPEN, COMPLETED, CANCELLED = "open", "completed", "cancelled"


def _due_provisional(context: Any) -> bool:
    """Set at insert from the due date: it falls in a year the calendar does not cover."""
    from webapp.deadlines.due import is_provisional  # due imports this module

    params = context.get_current_parameters()
    return is_provisional(params["element_id"], params.get("due_at"))


class Task(Base):
    """A user task of a case, projected from the engine after every step.

    The id is the engine's task id, so a row is the same task across saves.
    Inboxes and reports read this table, never the engine state.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_unit_status_created", "unit_code", "status", "created_at"),
        Index("ix_tasks_case_status", "case_id", "status"),
        Index("ix_tasks_unit_status_due", "unit_code", "status", "due_at"),
        # overdue counts by unit and by step read this index alone (migration 0005)
        Index("ix_tasks_status_due_unit_element", "status", "due_at", "unit_code", "element_id"),
        # the statistics (migration 0021): a period's steps of a kind (interviews, deadlines,
        # referrals); the tasks completed in a period with what the figures read of them; the
        # open tasks by unit with their case
        Index("ix_tasks_element_created", "element_id", "created_at"),
        Index("ix_tasks_element_completed", "element_id", "completed_at"),
        Index(
            "ix_tasks_completed_at",
            "completed_at",
            postgresql_include=[
                "status",
                "unit_code",
                "element_id",
                "case_id",
                "created_at",
                "due_at",
                "title",
            ],
        ),
        Index(
            "ix_tasks_open_unit_due",
            "unit_code",
            "due_at",
            postgresql_include=["case_id"],
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    element_id: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str] = mapped_column(String(40))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    form: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(12), default=OPEN)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
    due_at: Mapped[dt.datetime | None]
    # the due date falls in a year the working-day calendar does not cover yet (migration 0010)
    due_provisional: Mapped[bool] = mapped_column(default=_due_provisional, server_default=false())
    reminded_due_soon_at: Mapped[dt.datetime | None]
    reminded_overdue_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # the data submitted when completing the task
    submitted: Mapped[dict[str, Any] | None]
    # the item of a multi-instance task (e.g. which unit sanctions), for display
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)

    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id], viewonly=True)
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id], viewonly=True)
