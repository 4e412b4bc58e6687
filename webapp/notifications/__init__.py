"""Notifications that reach everyone involved: e-mails queued with each notification (or a
daily digest) and sent by the worker, the users' choice of how they are told, and the
reporting banks' notices of every milestone of their cases (told by the step,
``webapp.cases.steps._tell_banks``, where the diagram marks a milestone)."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """The ``flask mail`` commands, the template helper and the session event that queues
    e-mails with new notifications (once per application); the preferences page is
    registered with the other blueprints."""
    from webapp.notifications import outbox, texts
    from webapp.notifications.cli import mail_cmd

    app.cli.add_command(mail_cmd)
    app.jinja_env.globals.update(choice_label=texts.choice_label)
    outbox.listen(app.extensions["db_sessionmaker"])
