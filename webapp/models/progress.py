"""Rectification progress kept in the case's own tables, outside the diagram: partial
repayments (部分还款) against its loans, and officials' monthly pay withholdings (三停五不
扣划工资) — each withholding is also repayments of the case's loans, oldest loan first."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import now
from webapp.db import Base

# where a repayment came from
REPORTED, WITHHELD = "reported", "withholding"


class Withholding(Base):
    """One month of an official's pay withheld toward the case's debt (one entry a month)."""

    __tablename__ = "withholdings"
    __table_args__ = (UniqueConstraint("case_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    # YYYY-MM
    month: Mapped[str] = mapped_column(String(7))
    salary: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    withheld: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    # the local minimum living wage in force when the entry was recorded
    minimum_wage: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    notes: Mapped[str | None] = mapped_column(Text)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())


class Repayment(Base):
    """A partial repayment of one loan: reported by its creditor bank or the office, or a
    share of a month's withholding. A loan's outstanding amount is its principal and
    interest less its repayments; a repayment never settles a loan (the certificate does)."""

    __tablename__ = "repayments"
    __table_args__ = (
        Index("ix_repayments_case_loan", "case_id", "loan_id"),
        # the statistics' repayments of a period (migration 0021)
        Index("ix_repayments_paid_on", "paid_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    paid_on: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(12), default=REPORTED)
    withholding_id: Mapped[int | None] = mapped_column(ForeignKey("withholdings.id"), index=True)
    attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))
    notes: Mapped[str | None] = mapped_column(Text)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
