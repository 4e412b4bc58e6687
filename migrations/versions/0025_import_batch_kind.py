"""Import batches say which kind of file they hold: ``import_batches.kind``

``ledger``: a bank's or guarantor's ledger of debtors (every batch so far); ``listings``: the
court's file of judgment-defaulter listings (seed 004). Both go through the same upload,
preview, worker lane and progress.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=12), server_default="ledger", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.drop_column("kind")
