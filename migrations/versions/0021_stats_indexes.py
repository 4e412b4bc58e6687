"""Indexes for the statistics pages, the assessment and the bulletins at scale

Measured with bench/million_stats.py (1,000,000 cases, 8 million tasks, 9 million events;
plans in docs/PRODUCTION.md, "Statistics with a million cases"). Each statistic counts the
rows of its period by the moment it counts, so each such moment gets an index:

- cases blacklisted_at, closed_at, delisted_at: confirmed, rejected, settled and delisted
  in a period, and the cycle time from report to delisting;
- tasks (element_id, created_at) and (element_id, completed_at): a period's deadlines passed,
  referrals and interviews; tasks completed_at with (PostgreSQL) the columns read beside it:
  the overdue table, the cycle times and the assessment read the index alone; the open tasks
  by unit and due time with their case (partial, open tasks only); the open cases by stage
  and age (partial) with what the scope reads of them; the rejected cases' ids (partial: the
  amount outstanding leaves their loans out);
- case_events (kind, created_at): the referral answers; notifications (kind, created_at): the
  reminders; sanctions applied_at (with the case and unit:
  the count of cases sanctioned reads the index alone); loans reported_at and settled_at; repayments paid_on.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 05:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

PLAIN = [
    ("cases", "ix_cases_blacklisted_at", ["blacklisted_at"]),
    ("cases", "ix_cases_closed_at", ["closed_at"]),
    ("cases", "ix_cases_delisted_at", ["delisted_at"]),
    ("tasks", "ix_tasks_element_created", ["element_id", "created_at"]),
    ("tasks", "ix_tasks_element_completed", ["element_id", "completed_at"]),
    ("case_events", "ix_case_events_kind_created", ["kind", "created_at"]),
    ("notifications", "ix_notifications_kind_created", ["kind", "created_at"]),
    ("loans", "ix_loans_reported_at", ["reported_at"]),
    ("loans", "ix_loans_settled_at", ["settled_at"]),
    ("repayments", "ix_repayments_paid_on", ["paid_on"]),
]


def upgrade() -> None:
    for table, name, columns in PLAIN:
        op.create_index(name, table, columns, unique=False)
    # the options are PostgreSQL's (SQLite gets the plain index; the models declare the same)
    op.create_index(
        "ix_tasks_completed_at",
        "tasks",
        ["completed_at"],
        unique=False,
        postgresql_include=["status", "unit_code", "element_id", "case_id", "created_at", "due_at", "title"],
    )
    op.create_index(
        "ix_sanctions_applied_at",
        "sanctions",
        ["applied_at"],
        unique=False,
        postgresql_include=["case_id", "unit_code"],
    )
    op.create_index(
        "ix_cases_rejected",
        "cases",
        ["id"],
        unique=False,
        postgresql_where=sa.text("outcome = 'rejected'"),
        sqlite_where=sa.text("outcome = 'rejected'"),
    )
    op.create_index(
        "ix_cases_open_stage_created",
        "cases",
        ["stage", "created_at"],
        unique=False,
        postgresql_include=["import_batch_id", "id"],
        postgresql_where=sa.text("status = 'open'"),
        sqlite_where=sa.text("status = 'open'"),
    )
    op.create_index(
        "ix_tasks_open_unit_due",
        "tasks",
        ["unit_code", "due_at"],
        unique=False,
        postgresql_include=["case_id"],
        postgresql_where=sa.text("status = 'open'"),
        sqlite_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_open_unit_due", table_name="tasks")
    op.drop_index("ix_cases_open_stage_created", table_name="cases")
    op.drop_index("ix_cases_rejected", table_name="cases")
    op.drop_index("ix_sanctions_applied_at", table_name="sanctions")
    op.drop_index("ix_tasks_completed_at", table_name="tasks")
    for table, name, _columns in reversed(PLAIN):
        op.drop_index(name, table_name=table)
