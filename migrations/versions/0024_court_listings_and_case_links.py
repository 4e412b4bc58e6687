"""Judgment defaulters (seed 004): ``court_listings`` and ``case_links``

A case of the judgment-defaulter process has one court listing: the enforcement case's
number (unique), the amount owed, the duty not performed and the day listed. A defaulter who
is also on an open debt-evasion case is linked to it (``case_links``), not merged. Cases are
indexed by process version: the versions page counts each version's cases and the case list
filters by process.

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-04 09:05:57.004930
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import webapp.db

revision = "0024"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("linked_case_id", sa.Integer(), nullable=False),
        sa.Column("created_at", webapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_links_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["linked_case_id"], ["cases.id"], name=op.f("fk_case_links_linked_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_links")),
        sa.UniqueConstraint("case_id", "linked_case_id", name=op.f("uq_case_links_case_id")),
    )
    with op.batch_alter_table("case_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_links_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_links_linked_case_id"), ["linked_case_id"], unique=False)

    op.create_table(
        "court_listings",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("enforcement_no", sa.String(length=80), nullable=False),
        sa.Column("amount_owed", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("duty", sa.Text(), nullable=False),
        sa.Column("listed_on", sa.Date(), nullable=False),
        sa.Column("listed_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", webapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_court_listings_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["listed_by_id"], ["users.id"], name=op.f("fk_court_listings_listed_by_id_users")
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_court_listings")),
        sa.UniqueConstraint("enforcement_no", name=op.f("uq_court_listings_enforcement_no")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_process_version_id"), ["process_version_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_process_version_id"))
    op.drop_table("court_listings")
    with op.batch_alter_table("case_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_links_linked_case_id"))
        batch_op.drop_index(batch_op.f("ix_case_links_case_id"))

    op.drop_table("case_links")
