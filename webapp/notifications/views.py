"""The page where a user sets their e-mail address and how notifications reach them."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import login_required

from webapp.db import get_session
from webapp.errors import Invalid
from webapp.models.users import NOTIFY_CHOICES
from webapp.notifications import preferences
from webapp.transactions import atomic

bp = Blueprint("notifications", __name__)


@bp.route("/account/notifications", methods=["GET", "POST"], endpoint="preferences")
@login_required
def preferences_page() -> ResponseReturnValue:
    user = g.user
    if request.method == "GET":
        return _page(user, {}, {})
    try:
        email, choice = preferences.validated(request.form)
    except Invalid as err:
        return _page(user, request.form, err.fields, err), 422
    session = get_session()
    atomic(session, lambda: preferences.save(user, email, choice))
    flash(_("Your notification settings were saved."), "success")
    return redirect(url_for("notifications.preferences"))


def _page(user: object, values: object, errors: object, error: Invalid | None = None) -> str:
    return render_template(
        "account/notifications.html",
        user=user,
        values=values,
        errors=errors,
        error=error,
        choices=NOTIFY_CHOICES,
    )
