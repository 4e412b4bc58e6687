"""Ledger imports in committed chunks, invisible until done

``cases.import_batch_id`` names the ledger batch that opened a case; while that batch's
``hides_cases`` is set (from its first committed chunk until it is made visible in one short
transaction) its cases appear in no inbox, list, search or public page. ``rows_done``,
``resumed_rows`` and ``progress_at`` are the import's progress, committed with each chunk
(the bank's rate and time left, the worker's sign of life); ``cases_removed`` counts a
discard's progress; ``import_rows.placed`` marks the rows a committed chunk placed, so that
a resumed import goes on after them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import webapp.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hides_cases", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("rows_done", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("resumed_rows", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("cases_removed", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("progress_at", webapp.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("import_rows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("placed", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(
            "ix_import_rows_batch_waiting", ["batch_id", "kind", "placed", "identifier"], unique=False
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("import_batch_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_cases_import_batch_id_import_batches"), "import_batches", ["import_batch_id"], ["id"]
        )
        batch_op.create_index(op.f("ix_cases_import_batch_id"), ["import_batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(op.f("ix_cases_import_batch_id"))
        batch_op.drop_constraint(op.f("fk_cases_import_batch_id_import_batches"), type_="foreignkey")
        batch_op.drop_column("import_batch_id")
    with op.batch_alter_table("import_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_import_rows_batch_waiting")
        batch_op.drop_column("placed")
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.drop_column("progress_at")
        batch_op.drop_column("cases_removed")
        batch_op.drop_column("resumed_rows")
        batch_op.drop_column("rows_done")
        batch_op.drop_column("hides_cases")
