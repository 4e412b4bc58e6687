from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clock import now
from webapp.db import Base
from webapp.models.users import User


class CaseEvent(Base):
    """One append-only entry of the history: who did what, when, on which step.

    Events form hash chains: one per case (``case:<id>``), and for events outside cases one
    per user (``user:<id>``: logins, administration) or per name tried (``login:<name>``).
    Each event stores the hash of the previous event of its chain and its own hash over
    its content and that previous hash (see ``webapp/audit/chain.py``).
    ``active_elements`` is where the case stood on its diagram after the event, so the
    history can be replayed without loading engine state.
    """

    __tablename__ = "case_events"
    # not stored: the order events were made in this process, so that the events of one
    # flush are sealed on their chain in that order (webapp.audit.chain.mark_order)
    made_order = 0
    __table_args__ = (
        UniqueConstraint("chain", "seq"),
        Index("ix_case_events_actor_created", "actor_id", "created_at"),
        Index("ix_case_events_unit_created", "unit_code", "created_at"),
        # the statistics' referral answers of a period (migration 0021)
        Index("ix_case_events_kind_created", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    unit_code: Mapped[str | None] = mapped_column(String(40))
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(80))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active_elements: Mapped[list[str]] = mapped_column(default=list)
    completed_elements: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now(), index=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    actor: Mapped[User | None] = relationship(viewonly=True)


class ChainHead(Base):
    """The last event of each chain: a removed last event or an appended forgery is seen
    because the head no longer matches."""

    __tablename__ = "chain_heads"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    length: Mapped[int]
    head_hash: Mapped[str] = mapped_column(String(64))
