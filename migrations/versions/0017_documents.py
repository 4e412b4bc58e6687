"""Generated official letters: ``documents`` and their yearly numbers ``document_numbers``

The office generates letters from the DOCX templates in ``documents/`` (referral letters,
supervision letters, notices of joint sanction, delisting notices). Each kind numbers its
letters from 1 every year (文号, e.g. 联动移〔2026〕3号): ``document_numbers`` holds the last
number per (kind, year), moved on by one upsert so that concurrent letters never share or
skip a number. A letter's files are attachments of its case.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 23:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import webapp.db

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_numbers",
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "year", name=op.f("pk_document_numbers")),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=60), nullable=False),
        sa.Column("unit_code", sa.String(length=40), nullable=False),
        sa.Column("docx_attachment_id", sa.Integer(), nullable=False),
        sa.Column("pdf_attachment_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", webapp.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_documents_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_documents_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["docx_attachment_id"],
            ["attachments.id"],
            name=op.f("fk_documents_docx_attachment_id_attachments"),
        ),
        sa.ForeignKeyConstraint(
            ["pdf_attachment_id"],
            ["attachments.id"],
            name=op.f("fk_documents_pdf_attachment_id_attachments"),
        ),
        sa.ForeignKeyConstraint(["unit_code"], ["units.code"], name=op.f("fk_documents_unit_code_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("kind", "year", "seq", name=op.f("uq_documents_kind")),
    )
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_documents_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_documents_docx_attachment_id"), ["docx_attachment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_documents_pdf_attachment_id"), ["pdf_attachment_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_documents_pdf_attachment_id"))
        batch_op.drop_index(batch_op.f("ix_documents_docx_attachment_id"))
        batch_op.drop_index(batch_op.f("ix_documents_case_id"))
    op.drop_table("documents")
    op.drop_table("document_numbers")
