"""Publication is a sanction: ``cases.published_at``

A debtor is on the published blacklist only while a measure exposing it in public (the
publicity unit's media exposure or LED screens, ``public = true`` in sanctions.toml) is
applied and not lifted (seed 000 §四(二)2), no longer from the office's confirmation. The
step projects ``published_at`` when such a measure is applied and clears it when it is
lifted or the debtor leaves the blacklist. Running cases are brought in line here: those
with such a measure in force are published since it was applied, the others leave the list.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 18:00:00.000000
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

import webapp.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# the public measures of sanctions.toml when this migration was written
PUBLIC_MEASURES = {"expose_media", "expose_led"}


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("published_at", webapp.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(op.f("ix_cases_published_at"), ["published_at"], unique=False)
    bind = op.get_bind()
    in_force = bind.execute(
        sa.text(
            "SELECT s.case_id, s.measures, s.applied_at FROM sanctions s JOIN cases c ON c.id = s.case_id"
            " WHERE s.lifted_at IS NULL AND c.blacklisted AND c.status = 'open'"
        )
    ).all()
    published: dict[int, list[str]] = {}
    for case_id, measures, applied_at in in_force:
        codes = json.loads(measures) if isinstance(measures, str) else measures
        if PUBLIC_MEASURES & set(codes or []):
            published.setdefault(case_id, []).append(applied_at)
    update = sa.text("UPDATE cases SET published_at = :at WHERE id = :case_id")
    for case_id, moments in published.items():
        bind.execute(update, {"case_id": case_id, "at": min(moments)})


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(op.f("ix_cases_published_at"))
        batch_op.drop_column("published_at")
