"""Indexes for the inbox, supervision and case-search queries at scale

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 09:00:00.000000
"""

from __future__ import annotations

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Filled in by the scale work (bench/million.py); kept as a link in the
    # revision chain so later migrations can build on it.
    pass


def downgrade() -> None:
    pass
