from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.auth import sessions, throttle
from webapp.auth.passwords import check_login, check_password, hash_password, policy_problem
from webapp.cases import history
from webapp.db import get_session
from webapp.errors import Conflict
from webapp.extensions import LOCALES
from webapp.models import User
from webapp.transactions import atomic

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("auth/login.html")
    username = request.form.get("username", "").strip()[:80]
    address = client_address()
    db = get_session()
    try:
        throttle.check(db, username, address)
    except throttle.Throttled as refused:
        flash(refused.message, "error")
        return render_template("auth/login.html"), 429, {"Retry-After": str(refused.retry_after)}
    user = db.scalar(select(User).where(User.username == username))
    # one hash check whether the user exists or not, active or not: the time tells nothing
    matches = check_login(user.password_hash if user is not None else None, request.form.get("password", ""))
    if user is not None and user.active and matches:
        _record(db, lambda: history.system_event(db, "login", user, address=address))
        sessions.start(user)
        return redirect(_local_target(request.args.get("next", "")))
    # the failure counts even if its history event loses a race with another attempt
    atomic(db, lambda: throttle.record_failure(db, username, address))
    _record(db, lambda: history.system_event(db, "login_failed", None, username=username, address=address))
    flash(_("Wrong user name or password."), "error")
    return render_template("auth/login.html"), 401


def client_address() -> str:
    """The client's address: behind trusted proxies (LIANDONG_TRUSTED_PROXIES) ProxyFix has
    already taken it from X-Forwarded-For."""
    return (request.remote_addr or "-")[:64]


def _record(db: Session, write: Callable[[], object]) -> None:
    """Append an event on the user's chain; a concurrent append to the same chain retries."""
    for attempt in range(3):
        try:
            atomic(db, write)
            return
        except Conflict:
            if attempt == 2:
                raise


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
    """Ends every session of the user, so that a copy of this session's cookie is worth
    nothing afterwards (webapp.auth.sessions)."""
    db = get_session()
    user_id = current_user.id
    atomic(db, lambda: sessions.end_all(db, user_id))
    sessions.end_here()
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


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("auth/password.html", errors={})
    db = get_session()
    username, address = current_user.username, client_address()
    try:  # the current password is guessed here as on the login page: the same limits
        throttle.check(db, username, address)
    except throttle.Throttled as refused:
        page = render_template("auth/password.html", errors={"current_password": refused.message})
        return page, 429, {"Retry-After": str(refused.retry_after)}
    errors: dict[str, str] = {}
    new = request.form.get("new_password", "")
    if not check_password(current_user.password_hash, request.form.get("current_password", "")):
        errors["current_password"] = _("The current password is wrong.")
        atomic(db, lambda: throttle.record_failure(db, username, address))
    problem = policy_problem(new, username)
    if problem is not None:
        errors["new_password"] = problem
    elif new != request.form.get("confirm_password", ""):
        errors["confirm_password"] = _("The two new passwords differ.")
    if errors:
        return render_template("auth/password.html", errors=errors), 422
    user = db.get(User, current_user.id)
    if user is None:  # deleted while logged in
        return redirect(url_for("auth.login"))

    def change() -> int:
        user.password_hash = hash_password(new, username)
        history.system_event(db, "password_changed", user)
        # every other session of the user ends; this one goes on under the new version
        return sessions.end_all(db, user.id)

    sessions.keep(atomic(db, change))
    flash(_("Your password was changed."), "success")
    return redirect(url_for("tasks.inbox"))
