"""A court's listing of a judgment defaulter (失信被执行人, seed 004) and links between cases
of one debtor in different processes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import now
from webapp.db import Base


class CourtListing(Base):
    """The court's facts of a judgment-defaulter case: one row per case."""

    __tablename__ = "court_listings"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    # the enforcement case's number, e.g. (2026)冀0125执123号: one listing per enforcement case
    enforcement_no: Mapped[str] = mapped_column(String(80), unique=True)
    amount_owed: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    # the duty the effective judgment set and the defaulter did not perform
    duty: Mapped[str] = mapped_column(Text)
    listed_on: Mapped[dt.date] = mapped_column(Date)
    listed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())


class CaseLink(Base):
    """Two cases of the same debtor in different processes (a judgment defaulter who is also
    on an open debt-evasion case): linked, never merged; both case pages show the link."""

    __tablename__ = "case_links"
    __table_args__ = (UniqueConstraint("case_id", "linked_case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    linked_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
