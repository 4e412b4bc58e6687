"""The statistics' totals per scope and day, and each case's facts as folded

``stats_totals`` holds per scope (all units, a unit, a bank), local day, figure, key and
``prev`` the sums of the facts of the cases in that scope; ``stats_case_facts`` each folded
case's facts and scopes (compressed JSON); ``stats_mark`` through which event of the history
the totals are folded (webapp/stats/totals.py). The daily rollups of migration 0022 keep only
the assessment's figures from now on.

Nothing is folded here: the worker folds the history a slice of events per pass (the pages
stay exact meanwhile, correcting for every case not folded yet), or ``flask stats
rebuild-rollups`` folds it at once with its progress (docs/PRODUCTION.md).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_totals",
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("figure", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("prev", sa.Date(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("late", sa.BigInteger(), nullable=False),
        sa.Column("cents", sa.BigInteger(), nullable=False),
        # a page reads one scope's figures, each over a range of days
        sa.PrimaryKeyConstraint("scope", "figure", "day", "key", "prev", name="pk_stats_totals"),
    )
    op.create_table(
        "stats_case_facts",
        sa.Column("case_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("facts", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_stats_case_facts"),
    )
    op.create_table(
        "stats_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("folded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_stats_mark"),
    )
    # the one row, there from the start: two workers folding for the first time lock it
    op.execute("INSERT INTO stats_mark (id, event_id, generation) VALUES (1, 0, 0)")


def downgrade() -> None:
    op.drop_table("stats_mark")
    op.drop_table("stats_case_facts")
    op.drop_table("stats_totals")
