"""Campaign summary rounds (工作总结): ``summary_rounds`` and ``summary_requests``

A round asks member units for a written summary of a period by a due date; each unit asked
has one request row, which holds its submission (text, an optional file: an attachment
outside any case). The compilation numbers the round (``document_numbers``, kind "summary";
``(year, seq)`` unique) and keeps its DOCX (and PDF) as attachments.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 05:21:37.075331
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import webapp.db

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "summary_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("opened_by_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", webapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", webapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("compiled_by_id", sa.Integer(), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(length=60), nullable=True),
        sa.Column("docx_attachment_id", sa.Integer(), nullable=True),
        sa.Column("pdf_attachment_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["compiled_by_id"], ["users.id"], name=op.f("fk_summary_rounds_compiled_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["docx_attachment_id"],
            ["attachments.id"],
            name=op.f("fk_summary_rounds_docx_attachment_id_attachments"),
        ),
        sa.ForeignKeyConstraint(
            ["opened_by_id"], ["users.id"], name=op.f("fk_summary_rounds_opened_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["pdf_attachment_id"],
            ["attachments.id"],
            name=op.f("fk_summary_rounds_pdf_attachment_id_attachments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summary_rounds")),
        sa.UniqueConstraint("year", "seq", name=op.f("uq_summary_rounds_year")),
    )
    with op.batch_alter_table("summary_rounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_summary_rounds_opened_at"), ["opened_at"], unique=False)

    op.create_table(
        "summary_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", webapp.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["attachment_id"], ["attachments.id"], name=op.f("fk_summary_requests_attachment_id_attachments")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["summary_rounds.id"], name=op.f("fk_summary_requests_round_id_summary_rounds")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["users.id"], name=op.f("fk_summary_requests_submitted_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["units.code"], name=op.f("fk_summary_requests_unit_code_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summary_requests")),
        sa.UniqueConstraint("round_id", "unit_code", name=op.f("uq_summary_requests_round_id")),
    )
    with op.batch_alter_table("summary_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_summary_requests_unit_code"), ["unit_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("summary_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_summary_requests_unit_code"))

    op.drop_table("summary_requests")
    with op.batch_alter_table("summary_rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_summary_rounds_opened_at"))

    op.drop_table("summary_rounds")
