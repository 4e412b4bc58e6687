"""Partial repayments and officials' monthly withholdings: ``repayments``, ``withholdings``

Rectification progress kept in the case's own tables, not in the diagram. A loan's
outstanding amount is its principal and interest less the sum of its repayments; a month's
withholding (三停五不) is also recorded as repayments of the case's loans, oldest loan
first. No existing row changes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import webapp.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "withholdings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("salary", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("withheld", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("minimum_wage", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("unit_code", sa.String(length=40), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", webapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_withholdings_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_withholdings_recorded_by_id_users")
        ),
        sa.ForeignKeyConstraint(["unit_code"], ["units.code"], name=op.f("fk_withholdings_unit_code_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withholdings")),
        sa.UniqueConstraint("case_id", "month", name=op.f("uq_withholdings_case_id")),
    )
    with op.batch_alter_table("withholdings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_withholdings_case_id"), ["case_id"], unique=False)

    op.create_table(
        "repayments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("withholding_id", sa.Integer(), nullable=True),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("unit_code", sa.String(length=40), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", webapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"], ["attachments.id"], name=op.f("fk_repayments_attachment_id_attachments")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_repayments_case_id_cases")),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_repayments_loan_id_loans")),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_repayments_recorded_by_id_users")
        ),
        sa.ForeignKeyConstraint(["unit_code"], ["units.code"], name=op.f("fk_repayments_unit_code_units")),
        sa.ForeignKeyConstraint(
            ["withholding_id"], ["withholdings.id"], name=op.f("fk_repayments_withholding_id_withholdings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repayments")),
    )
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.create_index("ix_repayments_case_loan", ["case_id", "loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_repayments_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_repayments_withholding_id"), ["withholding_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repayments_withholding_id"))
        batch_op.drop_index(batch_op.f("ix_repayments_loan_id"))
        batch_op.drop_index("ix_repayments_case_loan")
    op.drop_table("repayments")
    with op.batch_alter_table("withholdings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_withholdings_case_id"))
    op.drop_table("withholdings")
