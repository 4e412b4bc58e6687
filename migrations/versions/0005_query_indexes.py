"""Indexes for the inbox, supervision and case-search queries at scale

Measured with bench/million.py (1,000,000 cases, 8 million tasks; plans in
docs/PRODUCTION.md):

- tasks (status, due_at, unit_code, element_id) replaces (status, due_at): the supervisors'
  overdue counts by unit and by step read the index alone;
- cases (status, updated_at): the dashboard's cases without activity, oldest first;
- cases (status, stage, created_at): open cases by stage and age, from the index alone;
- debtors name, trigram GIN (extension pg_trgm; a plain index on SQLite): the case search by
  a part of the debtor's name without reading every debtor.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 09:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_status_due")
        batch_op.create_index(
            "ix_tasks_status_due_unit_element", ["status", "due_at", "unit_code", "element_id"], unique=False
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_status_updated", ["status", "updated_at"], unique=False)
        batch_op.create_index(
            "ix_cases_status_stage_created", ["status", "stage", "created_at"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # a plain index on SQLite, which ignores the postgresql_* options (the models declare the same)
    op.create_index(
        "ix_debtors_name_trgm",
        "debtors",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_debtors_name_trgm", table_name="debtors")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_status_stage_created")
        batch_op.drop_index("ix_cases_status_updated")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_status_due_unit_element")
        batch_op.create_index("ix_tasks_status_due", ["status", "due_at"], unique=False)
