"""Sending the queued e-mails over SMTP, from the worker (``flask worker``) or by an operator
(``flask mail send-queued``), and the users' daily digests.

Settings come from the environment (``LIANDONG_SMTP_*``, README); with no SMTP host mail is
off and the queue is kept. Each e-mail is claimed with a conditional UPDATE before it is
sent, so several workers never send one twice; a failure counts an attempt and waits longer
each time (``backoff``); after ``max_attempts`` the e-mail is given up and counted by
``flask mail status``. A digest is queued at most once per user and day (unique dedupe key).
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from logging import Logger
from typing import Any, cast

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, selectinload

from webapp.deadlines.calendar import LOCAL
from webapp.deadlines.due import digest_time
from webapp.errors import Conflict
from webapp.models import Notification, OutboxMail, User
from webapp.models.mail import DIGEST
from webapp.models.users import NOTIFY_DIGEST, NOTIFY_EACH
from webapp.notifications import texts
from webapp.transactions import atomic

BATCH = 50  # e-mails sent in one pass at most
FIRST_RETRY = dt.timedelta(minutes=1)
LONGEST_WAIT = dt.timedelta(hours=6)
# a claimed e-mail is left to its worker this long; if the worker died, another sends it
LEASE = dt.timedelta(minutes=30)
ERROR_TEXT = 500  # characters of an SMTP error kept


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str
    password: str
    starttls: bool
    sender: str
    timeout: float
    max_attempts: int

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_config(cls, config: Any) -> SmtpSettings:
        return cls(
            host=str(config.get("SMTP_HOST", "")),
            port=int(config.get("SMTP_PORT", 25)),
            user=str(config.get("SMTP_USER", "")),
            password=str(config.get("SMTP_PASSWORD", "")),
            starttls=bool(config.get("SMTP_STARTTLS", False)),
            sender=str(config.get("MAIL_FROM", "liandong@localhost")),
            timeout=float(config.get("SMTP_TIMEOUT", 20)),
            max_attempts=int(config.get("MAIL_MAX_ATTEMPTS", 8)),
        )


@dataclass
class SendReport:
    sent: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)


def still_wanted(mail: OutboxMail, user: User | None) -> bool:
    """Whether a queued e-mail still goes: its user may have been deactivated, given another
    address, chosen otherwise or moved to another unit since it was queued."""
    if user is None:
        return True
    if not user.active or user.email != mail.recipient:
        return False
    if mail.kind == DIGEST:
        return user.notify_by == NOTIFY_DIGEST
    notified = mail.notification.unit_code if mail.notification is not None else user.unit_code
    return user.notify_by == NOTIFY_EACH and user.unit_code == notified


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failure: 1, 2, 4 ... minutes, at most 6 h."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_WAIT)


def _due(at: dt.datetime, max_attempts: int) -> Any:
    return and_(
        OutboxMail.sent_at.is_(None),
        OutboxMail.attempts < max_attempts,
        or_(OutboxMail.next_attempt_at.is_(None), OutboxMail.next_attempt_at <= at),
    )


def _claim(session: Session, mail_id: int, at: dt.datetime, max_attempts: int) -> bool:
    result = session.execute(
        update(OutboxMail)
        .where(OutboxMail.id == mail_id, _due(at, max_attempts))
        .values(next_attempt_at=at + LEASE)
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", result).rowcount == 1


def _message(settings: SmtpSettings, mail: OutboxMail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.created_at)
    message["Message-ID"] = make_msgid(f"liandong.{mail.id}")
    message.set_content(mail.body)
    return message


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.port == smtplib.SMTP_SSL_PORT:  # 465: TLS from the first byte
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        if settings.starttls:
            smtp.starttls(context=context)
    if settings.user:
        smtp.login(settings.user, settings.password)
    return smtp


def _failed(session: Session, mail: OutboxMail, error: BaseException, at: dt.datetime) -> str:
    text = f"{type(error).__name__}: {error}"[:ERROR_TEXT]
    mail.attempts += 1
    mail.last_error = text
    mail.next_attempt_at = at + backoff(mail.attempts)
    return text


def send_queued(session: Session, settings: SmtpSettings, at: dt.datetime, limit: int = BATCH) -> SendReport:
    """Send the e-mails that are due (at most ``limit``), over one SMTP connection."""
    report = SendReport()
    if not settings.enabled:
        return report
    ids = list(
        session.scalars(
            select(OutboxMail.id).where(_due(at, settings.max_attempts)).order_by(OutboxMail.id).limit(limit)
        )
    )
    claimed = atomic(session, lambda: [i for i in ids if _claim(session, i, at, settings.max_attempts)])
    if not claimed:
        return report
    mails = list(
        session.scalars(
            select(OutboxMail)
            .where(OutboxMail.id.in_(claimed))
            .options(selectinload(OutboxMail.notification))
            .order_by(OutboxMail.id)
            .execution_options(populate_existing=True)
        )
    )
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({m.user_id for m in mails})))}
    # an unsent e-mail nobody wants any more is taken out of the queue, not sent
    unwanted = [m for m in mails if m.user_id is not None and not still_wanted(m, users.get(m.user_id))]
    for mail in unwanted:
        session.delete(mail)
        report.dropped.append(mail.id)
    if unwanted:
        atomic(session, lambda: None)
        mails = [m for m in mails if m.id not in report.dropped]
    if not mails:
        return report
    try:
        smtp = _connect(settings)
    except (OSError, smtplib.SMTPException) as error:  # the server is down or refuses us
        for mail in mails:
            report.failed.append((mail.id, _failed(session, mail, error, at)))
        atomic(session, lambda: None)
        return report
    try:
        for mail in mails:
            try:
                smtp.send_message(_message(settings, mail))
            except Exception as error:  # refused, cut off or unencodable: an attempt counted
                report.failed.append((mail.id, _failed(session, mail, error, at)))
            else:
                mail.sent_at = at
                mail.last_error = None
                report.sent.append(mail.id)
            atomic(session, lambda: None)  # each result kept at once: never sent twice
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return report


def digest_day(at: dt.datetime) -> dt.date | None:
    """The local day whose digest is due at ``at``: yesterday, once today's digest time has
    come (the time of the office's digest, deadlines.toml)."""
    local = at.astimezone(LOCAL)
    if local.time() < digest_time():
        return None
    return local.date() - dt.timedelta(days=1)


def queue_digests(session: Session, at: dt.datetime) -> int:
    """Queue the due digests: one e-mail per user who chose the digest and whose unit had
    notifications that day. Returns how many were queued (flushes, does not commit)."""
    day = digest_day(at)
    if day is None:
        return 0
    start = dt.datetime.combine(day, dt.time(0), tzinfo=LOCAL).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=LOCAL).astimezone(dt.UTC)
    in_day = and_(Notification.created_at >= start, Notification.created_at < end)
    busy = set(session.scalars(select(Notification.unit_code).where(in_day).group_by(Notification.unit_code)))
    if not busy:
        return 0
    users = list(
        session.execute(
            select(User.id, User.unit_code, User.email).where(
                User.active.is_(True),
                User.notify_by == NOTIFY_DIGEST,
                User.email.is_not(None),
                User.unit_code.in_(busy),
            )
        )
    )
    keys = {user_id: f"digest:{user_id}:{day.isoformat()}" for user_id, _unit, _email in users}
    done = set(session.scalars(select(OutboxMail.dedupe_key).where(OutboxMail.dedupe_key.in_(keys.values()))))
    queued = 0
    by_unit: dict[str, tuple[str, str]] = {}
    with texts.mail_context():
        for user_id, unit, email in users:
            if keys[user_id] in done:
                continue
            if unit not in by_unit:
                notes = list(
                    session.scalars(
                        select(Notification)
                        .where(Notification.unit_code == unit, in_day)
                        .order_by(Notification.created_at, Notification.id)
                    )
                )
                by_unit[unit] = texts.digest_mail(day.isoformat(), notes)
            subject, body = by_unit[unit]
            session.add(
                OutboxMail(
                    user_id=user_id,
                    kind=DIGEST,
                    recipient=email,
                    subject=subject,
                    body=body,
                    dedupe_key=keys[user_id],
                )
            )
            queued += 1
    session.flush()
    return queued


@dataclass
class MailReport:
    digests: int = 0
    sent: int = 0
    failed: int = 0


def run_jobs(session: Session, settings: SmtpSettings, at: dt.datetime, log: Logger) -> MailReport:
    """The worker's mail jobs: queue the due digests, then send what is due. Errors are
    logged, never raised: the worker's other jobs go on."""
    report = MailReport()
    try:
        report.digests = atomic(session, lambda: queue_digests(session, at))
    except Conflict:  # another worker queued the same digests at the same moment
        pass
    except Exception:
        log.exception("mail: digests not queued")
    try:
        sent = send_queued(session, settings, at)
        report.sent, report.failed = len(sent.sent), len(sent.failed)
        if sent.dropped:
            log.info("mail: %s e-mail(s) no longer wanted, dropped", len(sent.dropped))
        if sent.failed:
            log.warning("mail: %s e-mail(s) not sent: %s", len(sent.failed), sent.failed[0][1])
    except Exception:
        session.rollback()
        log.exception("mail: sending failed")
    return report


@dataclass
class Status:
    queued: int
    given_up: int
    sent: int
    failures: list[OutboxMail]


def status(session: Session, max_attempts: int) -> Status:
    """Counts for operators, and the e-mails given up (latest first)."""
    unsent = OutboxMail.sent_at.is_(None)
    count = func.count(OutboxMail.id)
    return Status(
        queued=session.scalar(select(count).where(unsent, OutboxMail.attempts < max_attempts)) or 0,
        given_up=session.scalar(select(count).where(unsent, OutboxMail.attempts >= max_attempts)) or 0,
        sent=session.scalar(select(count).where(OutboxMail.sent_at.is_not(None))) or 0,
        failures=list(
            session.scalars(
                select(OutboxMail)
                .where(unsent, OutboxMail.attempts >= max_attempts)
                .order_by(OutboxMail.id.desc())
                .limit(20)
            )
        ),
    )


def retry_given_up(session: Session, max_attempts: int) -> int:
    """Give the e-mails given up a new round of attempts (after the server was fixed)."""
    result = session.execute(
        update(OutboxMail)
        .where(OutboxMail.sent_at.is_(None), OutboxMail.attempts >= max_attempts)
        .values(attempts=0, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", result).rowcount
