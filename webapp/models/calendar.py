from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import now
from webapp.db import Base


class CalendarYear(Base):
    """One year of the working-day calendar: the State Council's holidays and make-up working
    days (ISO dates). Seeded from ``webapp/data/holidays.toml`` when the table is empty;
    administrators add the coming year on /admin/calendar."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    holidays: Mapped[list[str]] = mapped_column(default=list)
    workdays: Mapped[list[str]] = mapped_column(default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
