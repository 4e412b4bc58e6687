"""E-mails queued in the transaction that creates a notification (``mail_outbox``), so a
step that is rolled back queues nothing, and nothing is sent inside a request.

A ``before_flush`` event of the application's sessions (registered once, ``listen``) queues
one e-mail per new notification for every active user of its unit who chose "each event"
and gave an address.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session, UOWTransaction, sessionmaker

from webapp.models import Notification, OutboxMail, User
from webapp.models.mail import EVENT
from webapp.models.users import NOTIFY_EACH
from webapp.notifications import texts


def listen(maker: sessionmaker[Session]) -> None:
    """Watch the sessions ``maker`` makes (once per application)."""
    if not event.contains(maker, "before_flush", _before_flush):
        event.listen(maker, "before_flush", _before_flush)


def _before_flush(session: Session, _context: UOWTransaction, _instances: object) -> None:
    # a notification is new until its flush: each one is queued once
    new = [o for o in session.new if isinstance(o, Notification)]
    if new and has_app_context():
        queue_event_mails(session, new)


def _add(session: Session, notification: Notification, recipients: Sequence[tuple[int, str]]) -> int:
    try:
        subject, body = texts.event_mail(notification)
    except Exception:  # a text that cannot be rendered never blocks the step
        current_app.logger.exception("e-mail for a %s notification not queued", notification.kind)
        return 0
    for user_id, email in recipients:
        session.add(
            OutboxMail(
                user_id=user_id,
                notification=notification,
                kind=EVENT,
                recipient=email,
                subject=subject,
                body=body,
            )
        )
    return len(recipients)


def queue_event_mails(session: Session, notifications: Sequence[Notification]) -> int:
    """One queued e-mail per notification and user who chose "each event"; how many."""
    units = {n.unit_code for n in notifications}
    recipients: dict[str, list[tuple[int, str]]] = {}
    rows = session.execute(
        select(User.id, User.unit_code, User.email).where(
            User.unit_code.in_(units),
            User.active.is_(True),
            User.notify_by == NOTIFY_EACH,
            User.email.is_not(None),
        )
    )
    for user_id, unit, email in rows:
        recipients.setdefault(unit, []).append((user_id, str(email)))
    if not recipients:
        return 0
    queued = 0
    with texts.mail_context():
        for notification in notifications:
            queued += _add(session, notification, recipients.get(notification.unit_code, []))
    return queued
