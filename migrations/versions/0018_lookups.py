"""Blacklist look-ups: a digest of the debtor's identifier for exact search

Banks and units look a counterparty up by its identifier, and the case search finds a
debtor by it, without the identifier travelling in clear (URLs, history events): both
compare ``debtors.identifier_hash``, the SHA-256 of a fixed prefix and the compact
identifier (``webapp.models.cases.identifier_digest``). Existing debtors are filled here.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 00:10:00.000000
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# the same formula as webapp.models.cases.identifier_digest, copied so that this migration
# keeps working whatever the model later becomes
_PREFIX = "liandong:debtor-identifier:"


def _digest(identifier: str) -> str:
    return hashlib.sha256((_PREFIX + identifier.strip().upper()).encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identifier_hash", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    debtors = sa.table("debtors", sa.column("id", sa.Integer), sa.column("identifier", sa.String))
    update = sa.text("UPDATE debtors SET identifier_hash = :h WHERE id = :id")
    last = 0
    while True:
        rows = bind.execute(
            sa.select(debtors.c.id, debtors.c.identifier)
            .where(debtors.c.id > last)
            .order_by(debtors.c.id)
            .limit(5000)
        ).all()
        if not rows:
            break
        bind.execute(update, [{"h": _digest(identifier), "id": debtor_id} for debtor_id, identifier in rows])
        last = rows[-1][0]
    op.create_index("ix_debtors_identifier_hash", "debtors", ["identifier_hash"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_debtors_identifier_hash", table_name="debtors")
    with op.batch_alter_table("debtors", schema=None) as batch_op:
        batch_op.drop_column("identifier_hash")
