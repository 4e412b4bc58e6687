"""Periodic bulletins (通报) of the task force (webapp.bulletins): each kept with what it said
when it was generated, numbered per year like the office's letters."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.clock import now
from webapp.db import Base

WEEKLY, MONTHLY, QUARTERLY, ON_DEMAND = "weekly", "monthly", "quarterly", "on_demand"
KINDS = (WEEKLY, MONTHLY, QUARTERLY, ON_DEMAND)


class Bulletin(Base):
    """One bulletin: its period, its number and a snapshot of its contents (figures, lagging
    units, stalled cases, typical cases), so that it reads the same however the cases move on."""

    __tablename__ = "bulletins"
    __table_args__ = (UniqueConstraint("year", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    # "weekly:2026-03-02" for a periodic bulletin, unique so two workers never make it twice;
    # NULL for the office's on-demand bulletins
    period_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    period_start: Mapped[dt.datetime]
    period_end: Mapped[dt.datetime]
    year: Mapped[int]
    seq: Mapped[int]
    # as printed, e.g. 联动通〔2026〕5号
    number: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now(), index=True)
    # NULL: made by the worker
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    typical_case_ids: Mapped[list[Any]] = mapped_column(default=list)
    # {"figures": ..., "lagging": [...], "stalled": [...], "typical": [...]}
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
