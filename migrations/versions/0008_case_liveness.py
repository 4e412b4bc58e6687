"""What a case waits for, and a failing timer's backoff

A case that is open with no open task, no pending timer and no awaited message is stalled
(supervision lists it, ``flask cases check`` names it). ``awaits_message`` is projected after
every step: an intermediate message catch or receive task waiting (a boundary message, such
as the settlement that may interrupt the case body, does not carry the case on by itself).
A timer whose step fails is retried with backoff: ``timer_failures`` counts the failures in
a row and ``timer_retry_at`` holds the next attempt.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 12:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import webapp.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("awaits_message", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("timer_failures", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("timer_retry_at", webapp.db.UTCDateTime(timezone=True), nullable=True))
    # stalled-case candidates: open cases waiting on no timer (a small part of the open ones)
    untimed = sa.text("status = 'open' AND next_timer_at IS NULL")
    op.create_index(
        "ix_cases_open_untimed",
        "cases",
        ["updated_at", "id"],
        unique=False,
        postgresql_where=untimed,
        sqlite_where=untimed,
    )


def downgrade() -> None:
    op.drop_index("ix_cases_open_untimed", table_name="cases")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("timer_retry_at")
        batch_op.drop_column("timer_failures")
        batch_op.drop_column("awaits_message")
