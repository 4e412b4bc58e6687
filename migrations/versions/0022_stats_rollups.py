"""Daily rollups of the statistics: the additive figures of each closed local day

``stats_days`` holds, per local day (Asia/Shanghai) and figure, the counts the statistics
pages would otherwise read row by row from ``tasks`` and ``notifications``: tasks completed
per unit (with those completed late and their lateness), interviews completed, rectification
deadlines passed, reminders received per unit. ``stats_rollup_state`` says through which day
they are folded. The worker's timers lane folds each closed day once (webapp/stats/rollups.py);
the pages read the folded days from here and count the days after them live.

Nothing is folded here: the worker folds the existing history a month per pass from the
oldest day on (the pages stay exact meanwhile, reading live whatever is not folded yet), or
``flask stats rebuild-rollups`` folds it at once with its progress (docs/PRODUCTION.md).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_days",
        sa.Column("figure", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("late", sa.BigInteger(), nullable=False),
        sa.Column("late_seconds", sa.Numeric(20, 6), nullable=False),
        sa.PrimaryKeyConstraint("figure", "day", "key", name="pk_stats_days"),
    )
    op.create_table(
        "stats_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("folded_through", sa.Date(), nullable=True),
        sa.Column("folded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_stats_rollup_state"),
    )


def downgrade() -> None:
    op.drop_table("stats_rollup_state")
    op.drop_table("stats_days")
