"""The case search by name without a debtor row read per case

bench/million.py: a one- or two-character part of a name (a surname, a place), which no
trigram index serves, made PostgreSQL walk the cases newest first and read each case's
debtor row to test its name: 80-210 ms p50 and up to 680 ms for a bank. The debtor's name
is now copied onto the case and kept in an index on (created_at, id) with the status, so
the walk reads the index alone; the trigram index moves with the name from debtors to
cases (long or rare parts).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("debtor_name", sa.String(length=200), server_default="", nullable=False))
    op.execute(
        "UPDATE cases SET debtor_name = (SELECT debtors.name FROM debtors WHERE debtors.id = cases.debtor_id)"
    )
    op.drop_index("ix_debtors_name_trgm", table_name="debtors")
    # the PostgreSQL-only options are ignored on SQLite, which gets plain indexes
    op.create_index(
        "ix_cases_created_search",
        "cases",
        ["created_at", "id"],
        unique=False,
        postgresql_include=["debtor_name", "status"],
    )
    op.create_index(
        "ix_cases_debtor_name_trgm",
        "cases",
        ["debtor_name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"debtor_name": "gin_trgm_ops"},
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE cases")  # the planner needs the new column's statistics at once


def downgrade() -> None:
    op.drop_index("ix_cases_debtor_name_trgm", table_name="cases")
    op.drop_index("ix_cases_created_search", table_name="cases")
    op.create_index(
        "ix_debtors_name_trgm",
        "debtors",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("debtor_name")
