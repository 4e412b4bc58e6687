"""Queued e-mails (``mail_outbox``): written in the transaction that creates a notification,
sent later by the worker (webapp.notifications.mailer), never inside a request."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clock import now
from webapp.db import Base
from webapp.models.cases import Notification

# what a queued e-mail carries: one notification, or a user's notifications of one day
EVENT, DIGEST = "event", "digest"


class OutboxMail(Base):
    """One e-mail to one address. Sent once ``sent_at`` is set; a failure counts an attempt
    and waits until ``next_attempt_at``; after the last attempt it stays unsent (shown to
    administrators by ``flask mail status``)."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_due", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default=EVENT)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # set for mail that must be queued once (a user's digest of one day)
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
    sent_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    # writable: an e-mail is queued in the flush that inserts its notification
    notification: Mapped[Notification | None] = relationship()
