"""A plain index on the debtor's name of a case, for the blacklist look-up by name

The look-up (webapp/lookups/answers.py) asks for whole names, up to 500 at a time
(``cases.debtor_name IN (...)``); PostgreSQL answered that through the trigram index with a
bitmap scan of every name sharing a trigram (1.0 s for a 10,000-row file at a million cases).
A B-tree finds each name directly. On SQLite the index of migration 0007 is already a plain one;
this one keeps both schemas alike.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 15:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_debtor_name", "cases", ["debtor_name"])


def downgrade() -> None:
    op.drop_index("ix_cases_debtor_name", table_name="cases")
