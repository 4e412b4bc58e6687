from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from webapp.auth.passwords import check_password
from webapp.cases import history
from webapp.db import get_session
from webapp.extensions import LOCALES
from webapp.models import User
from webapp.transactions import atomic

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        session = get_session()
        user = session.scalar(select(User).where(User.username == username))
        password = request.form.get("password", "")
        if user is not None and user.active and check_password(user.password_hash, password):
            login_user(user)
            atomic(session, lambda: history.system_event(session, "login", user, address=request.remote_addr))
            return redirect(_local_target(request.args.get("next", "")))
        atomic(
            session,
            lambda: history.system_event(
                session, "login_failed", None, username=username[:80], address=request.remote_addr
            ),
        )
        flash(_("Wrong user name or password."), "error")
        return render_template("auth/login.html"), 401
    return render_template("auth/login.html")


def _local_target(target: str) -> str:
    """Only a path of this site: browsers read ``/\\evil`` and ``/\t/evil`` as other hosts."""
    parts = urlsplit(target)
    unsafe = "\\" in target or any(ord(c) < 32 for c in target) or target.startswith("//")
    if unsafe or parts.scheme or parts.netloc or not target.startswith("/"):
        return url_for("tasks.inbox")
    return target


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    logout_user()
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
def set_language(code: str) -> ResponseReturnValue:
    if code in LOCALES:
        session["locale"] = code
    ref = request.referrer or ""
    host = request.host_url
    return redirect(ref if ref.startswith(host) else url_for("tasks.inbox"))


@bp.get("/")
def index() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("tasks.inbox"))
    return redirect(url_for("auth.login"))
