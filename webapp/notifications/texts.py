"""The text of a notification, written once (templates/notifications/_notice.html) and read
both on the notifications page and in e-mails, which are always in Chinese."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from flask import current_app, has_request_context, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import Markup

from webapp.models import Notification
from webapp.taskforms.schemas import enum_title, load_schema
from webapp.templating import locale

NOTICE_TEMPLATE = "notifications/_notice.html"
MAIL_LOCALE = "zh"
SUBJECT_TEXT = 60  # characters of the notification's text in an e-mail's subject


def choice_label(form: str, field: str, value: str | None) -> str:
    """A form's choice as people read it (``review.json``, ``classification``, ``evasion``)."""
    if not value:
        return ""
    node = load_schema(str(current_app.config["FORMS_DIR"]), form).properties.get(field, {})
    items = node.get("items", node)  # a multiple choice lists its titles under items
    return enum_title(items if "x-enum-titles" in items else node, value, locale())


@contextmanager
def mail_context() -> Iterator[None]:
    """Chinese, and a request to build links in (the worker has none; the site's address is
    ``LIANDONG_BASE_URL``)."""
    with force_locale(MAIL_LOCALE):
        if has_request_context():
            yield
            return
        with current_app.test_request_context(base_url=str(current_app.config["BASE_URL"])):
            yield


def notice_text(notification: Notification) -> str:
    """The notification as the notifications page words it, as plain text (call it within
    ``mail_context``)."""
    if notification.params is None:  # pending: the column's default comes with the INSERT
        notification.params = {}
    template = current_app.jinja_env.get_template(NOTICE_TEMPLATE)
    html = template.render(n=notification)
    return Markup(html).striptags()  # noqa: S704 - our own template's output, made plain


def site_url(endpoint: str, **values: Any) -> str:
    base = str(current_app.config["BASE_URL"]).rstrip("/")
    path = url_for(endpoint, **values)
    if base:
        return base + path
    return request.url_root.rstrip("/") + path


def subject(text: str) -> str:
    short = text if len(text) <= SUBJECT_TEXT else text[: SUBJECT_TEXT - 1] + "…"
    return _("[Liandong] %(text)s", text=short)


def footer() -> str:
    return _(
        "You receive this e-mail because you chose to hear of your unit's notifications by e-mail."
        " Change it here: %(url)s",
        url=site_url("notifications.preferences"),
    )


def event_mail(notification: Notification) -> tuple[str, str]:
    """Subject and body of the e-mail that carries one notification."""
    text = notice_text(notification)
    lines = [text, ""]
    if notification.case_id:
        lines.append(_("Open the case: %(url)s", url=site_url("cases.show", case_id=notification.case_id)))
    lines += ["", "—", footer()]
    return subject(text), "\n".join(lines)


def digest_mail(day: str, notifications: Sequence[Notification]) -> tuple[str, str]:
    """Subject and body of a user's digest of one local day."""
    title = _("[Liandong] Notifications of %(date)s (%(n)s)", date=day, n=len(notifications))
    lines = [_("Notifications of your unit on %(date)s:", date=day), ""]
    for number, notification in enumerate(notifications, start=1):
        line = f"{number}. {notice_text(notification)}"
        if notification.case_id:
            line += "\n   " + site_url("cases.show", case_id=notification.case_id)
        lines.append(line)
    lines += ["", "—", footer()]
    return title, "\n".join(lines)
