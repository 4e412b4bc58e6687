"""Case states compressed with lz4 on PostgreSQL

A case's engine state is 8-15 kB of JSON, stored out of line and compressed (TOAST). pglz,
PostgreSQL's default, cost about a third of writing a new case's row (a ledger import writes
thousands a second, and every step writes its case's state again); lz4 does the same work in
about a third of the time. Only values written from now on use it; a server built without lz4
keeps pglz. SQLite stores the text as it is.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_HAS_LZ4 = sa.text(
    "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
)


def _lz4_available() -> bool:
    bind = op.get_bind()
    return bind.dialect.name == "postgresql" and bind.execute(_HAS_LZ4).first() is not None


def upgrade() -> None:
    if _lz4_available():
        op.execute("ALTER TABLE cases ALTER COLUMN state SET COMPRESSION lz4")


def downgrade() -> None:
    if _lz4_available():
        op.execute("ALTER TABLE cases ALTER COLUMN state SET COMPRESSION pglz")
