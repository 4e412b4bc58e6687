"""Periodic bulletins (通报): ``bulletins``

Weekly, monthly and quarterly bulletins made by the worker at each period's end, and on-demand
ones by the office; each keeps a snapshot of its contents (figures, lagging units, stalled and
typical cases) as JSON. ``period_key`` is unique so two workers never make one period's
bulletin twice; numbers come from ``document_numbers`` (kind "bulletin").

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 00:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import webapp.db

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulletins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("period_key", sa.String(length=40), nullable=True),
        sa.Column("period_start", webapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", webapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=60), nullable=False),
        sa.Column("created_at", webapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("typical_case_ids", sa.JSON(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_bulletins_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulletins")),
        sa.UniqueConstraint("period_key", name=op.f("uq_bulletins_period_key")),
        sa.UniqueConstraint("year", "seq", name=op.f("uq_bulletins_year")),
    )
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bulletins_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bulletins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bulletins_created_at"))
    op.drop_table("bulletins")
