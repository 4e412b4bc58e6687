"""Campaign summary rounds (工作总结, seed 000 §四(三)): the office asks the member units for a
written summary of a period and compiles them with the period's figures into one document
(webapp.summaries). Not a case: a round runs beside the diagrams, not in the engine."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import now
from webapp.db import Base


class SummaryRound(Base):
    """One round: its title, the period the summaries cover, the day they are due and, once the
    office compiled it, the compiled document's number and files (attachments outside any case)."""

    __tablename__ = "summary_rounds"
    __table_args__ = (UniqueConstraint("year", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    # local (China) days, both included
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    # the last local day to submit on
    due_date: Mapped[dt.date] = mapped_column(Date)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[dt.datetime] = mapped_column(default=lambda: now(), index=True)
    # set by the compilation, which closes the round: no submission after it
    closed_at: Mapped[dt.datetime | None]
    compiled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # the compiled document's running number (document_numbers, kind "summary")
    year: Mapped[int | None]
    seq: Mapped[int | None]
    number: Mapped[str | None] = mapped_column(String(60))
    docx_attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))
    pdf_attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))


class SummaryRequest(Base):
    """A unit asked for its summary in a round, and what it submitted (once: a second
    submission is refused)."""

    __tablename__ = "summary_requests"
    __table_args__ = (UniqueConstraint("round_id", "unit_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # (round_id, unit_code) is unique: its index serves the round's page
    round_id: Mapped[int] = mapped_column(ForeignKey("summary_rounds.id"))
    # indexed: every inbox page asks for its unit's open requests
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    text: Mapped[str | None] = mapped_column(Text)
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[dt.datetime | None]
