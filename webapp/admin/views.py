from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.admin import calendar, service
from webapp.admin import versions as process_versions
from webapp.auth import sessions
from webapp.db import get_session
from webapp.errors import Invalid, NotFound
from webapp.models import User
from webapp.models.users import ROLES
from webapp.transactions import atomic

bp = Blueprint("admin", __name__, url_prefix="/admin")
calendar.register(bp)  # /admin/calendar and the next-year banner (webapp/admin/calendar.py)
process_versions.register(bp)  # /admin/versions: versions and the move of running cases


@bp.before_request
@login_required
def _admins_only() -> None:
    service.require_admin(current_user)


@bp.route("/units", methods=["GET", "POST"])
def units() -> ResponseReturnValue:
    session = get_session()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form
        try:
            atomic(
                session,
                lambda: service.save_unit(
                    session,
                    current_user,
                    form.get("code", "").strip(),
                    form.get("kind", ""),
                    form.get("name_zh", ""),
                    form.get("name_en", ""),
                ),
            )
            flash(_("Unit saved."), "success")
            return redirect(url_for("admin.units"))
        except Invalid as err:
            errors = err.fields
    return render_template(
        "admin/units.html",
        units=service.units(session),
        kinds=service.UNIT_KINDS,
        errors=errors,
        values=request.form,
    ), 422 if errors else 200


@bp.route("/users", methods=["GET", "POST"])
def users() -> ResponseReturnValue:
    session = get_session()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form
        try:
            atomic(
                session,
                lambda: service.add_user(
                    session,
                    current_user,
                    form.get("username", "").strip(),
                    form.get("unit", ""),
                    form.getlist("roles"),
                    form.get("password", ""),
                    form.get("display_name", ""),
                ),
            )
            flash(_("User created."), "success")
            return redirect(url_for("admin.users"))
        except Invalid as err:
            errors = err.fields
    return render_template(
        "admin/users.html",
        users=service.users(session),
        units=service.units(session),
        roles=ROLES,
        errors=errors,
        values=request.form,
    ), 422 if errors else 200


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id: int) -> ResponseReturnValue:
    session = get_session()
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("User not found."))
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form
        try:
            atomic(
                session,
                lambda: service.update_user(
                    session,
                    current_user,
                    user_id,
                    form.get("unit", ""),
                    form.getlist("roles"),
                    form.get("active") == "on",
                    form.get("display_name", ""),
                    form.get("password", ""),
                ),
            )
            if user_id == current_user.id:  # an admin who reset their own password stays logged in
                sessions.keep(session.scalar(select(User.session_version).where(User.id == user_id)) or 0)
            flash(_("User saved."), "success")
            return redirect(url_for("admin.users"))
        except Invalid as err:
            errors = err.fields
            user = session.get(User, user_id)
            if user is None:
                raise NotFound(_("User not found.")) from err
    return _user_page(user, errors, request.form if errors else None)


def _user_page(
    user: User, errors: dict[str, list[str]], values: Mapping[str, Any] | None = None
) -> ResponseReturnValue:
    session = get_session()
    return render_template(
        "admin/user.html",
        user=user,
        units=service.units(session),
        roles=ROLES,
        errors=errors,
        values=values or {},  # a refused form shows what was chosen, not what is stored
        tokens=service.user_tokens(session, current_user, user.id),
    ), 422 if errors else 200


@bp.post("/users/<int:user_id>/tokens/revoke")
def revoke_token(user_id: int) -> ResponseReturnValue:
    """Revoke one of the user's API tokens (its id in the form): refused from the next
    request on."""
    session = get_session()
    raw = request.form.get("token_id", "")
    token_id = int(raw) if raw.isdigit() and len(raw) < 18 else None
    try:
        row = atomic(session, lambda: service.revoke_token(session, current_user, user_id, token_id))
    except Invalid as err:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(_("User not found.")) from err
        return _user_page(user, err.fields)
    flash(_("Token %(id)s revoked.", id=row.id), "success")
    return redirect(url_for("admin.edit_user", user_id=user_id))
