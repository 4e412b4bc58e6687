"""Official letters generated from the templates in ``documents/`` (webapp.documents): each
with its yearly running number (文号) per kind, attached to its case."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import now
from webapp.db import Base


class DocumentNumber(Base):
    """The last number given to a kind of letter in a year: one row per (kind, year), moved
    on by one atomic upsert (webapp.documents.numbering), so two letters never share a number
    and a rolled-back letter gives its number back."""

    __tablename__ = "document_numbers"

    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class Document(Base):
    """A generated letter: its number, its addressee and its files (DOCX, and PDF when
    LibreOffice was there to convert it), which are attachments of the case."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("kind", "year", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    year: Mapped[int]
    seq: Mapped[int]
    # as printed on the letter, e.g. 联动移〔2026〕3号
    number: Mapped[str] = mapped_column(String(60))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    # indexed: every file download asks whether the file is a letter (webapp.documents.access)
    docx_attachment_id: Mapped[int] = mapped_column(ForeignKey("attachments.id"), index=True)
    pdf_attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
