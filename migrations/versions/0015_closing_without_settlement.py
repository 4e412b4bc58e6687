"""Closing a case without settlement: ``cases.closing_reason``

The office may close a case whose loan will never be settled: written off by the bank,
enforcement terminated by the court (终本), the debtor deceased or dissolved, bankruptcy
completed. Every sanction is lifted as at delisting; the reason is kept on the case
(statistics and the case page read it; a write-off keeps the bank's credit record).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 19:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closing_reason", sa.String(length=30), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("closing_reason")
