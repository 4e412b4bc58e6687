"""``flask mail``: send the queued e-mails now, see what is queued or given up, retry."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.clock import now
from webapp.db import get_session
from webapp.notifications import mailer
from webapp.transactions import atomic


@click.group("mail", cls=AppGroup)
def mail_cmd() -> None:
    """E-mail notifications: the outbox and its SMTP server (LIANDONG_SMTP_*)."""


def _settings() -> mailer.SmtpSettings:
    return mailer.SmtpSettings.from_config(current_app.config)


@mail_cmd.command("send-queued")
def send_queued() -> None:
    """Queue the due digests and send every e-mail that is due, as the worker does."""
    settings = _settings()
    session = get_session()
    at = now()
    digests = atomic(session, lambda: mailer.queue_digests(session, at))
    if not settings.enabled:
        queued = mailer.status(session, settings.max_attempts).queued
        click.echo(f"mail is off (LIANDONG_SMTP_HOST is not set); {queued} e-mail(s) kept in the queue")
        raise SystemExit(1)
    sent = failed = dropped = 0
    while True:  # batch after batch until nothing is due
        report = mailer.send_queued(session, settings, at)
        sent, failed = sent + len(report.sent), failed + len(report.failed)
        dropped += len(report.dropped)
        if not report.sent and not report.dropped:
            break
    click.echo(f"digests queued {digests}, sent {sent}, failed {failed}, no longer wanted {dropped}")
    if failed:
        raise SystemExit(1)


@mail_cmd.command("status")
def status() -> None:
    """Count the queued, given-up and sent e-mails; list the given-up ones with their error."""
    settings = _settings()
    result = mailer.status(get_session(), settings.max_attempts)
    state = (
        f"SMTP {settings.host}:{settings.port}" if settings.enabled else "mail is off (no LIANDONG_SMTP_HOST)"
    )
    click.echo(f"{state}; queued {result.queued}, given up {result.given_up}, sent {result.sent}")
    for mail in result.failures:
        click.echo(f"  #{mail.id} to {mail.recipient}, {mail.attempts} attempts: {mail.last_error}")
    if result.given_up:
        raise SystemExit(1)


@mail_cmd.command("retry")
def retry() -> None:
    """Give the e-mails given up a new round of attempts (once the server works again)."""
    session = get_session()
    count = atomic(session, lambda: mailer.retry_given_up(session, _settings().max_attempts))
    click.echo(f"{count} e-mail(s) queued again")
