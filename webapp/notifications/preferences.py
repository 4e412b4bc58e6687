"""A user's e-mail address and how their unit's notifications reach them."""

from __future__ import annotations

import re
from collections.abc import Mapping

from flask_babel import gettext as _

from webapp.errors import Invalid
from webapp.models import User
from webapp.models.users import NOTIFY_APP, NOTIFY_CHOICES

MAX_EMAIL = 254
# one @, a dot in the domain, no spaces or angle brackets: what a mail server can route,
# not a full RFC 5322 parser (a bad address shows up as a failed attempt anyway)
EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\".]+$")


def validated(form: Mapping[str, str]) -> tuple[str | None, str]:
    """(e-mail address or None, choice) from a posted form, or ``Invalid`` with the fields."""
    email = form.get("email", "").strip()
    choice = form.get("notify_by", "")
    errors: dict[str, list[str]] = {}
    if email and (len(email) > MAX_EMAIL or not EMAIL.match(email)):
        errors["email"] = [_("Not a valid e-mail address.")]
    if choice not in NOTIFY_CHOICES:
        errors["notify_by"] = [_("Choose how notifications reach you.")]
    elif choice != NOTIFY_APP and not email:
        errors["email"] = [_("E-mails need an e-mail address.")]
    if errors:
        raise Invalid(_("Please correct the highlighted fields."), errors)
    return email or None, choice


def save(user: User, email: str | None, choice: str) -> None:
    user.email = email
    user.notify_by = choice
