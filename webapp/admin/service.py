"""Administration of units, users and roles (each change recorded on the system chain)."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.auth import sessions, tokens
from webapp.auth.passwords import hash_password, policy_problem
from webapp.cases import history
from webapp.errors import Forbidden, Invalid, NotFound
from webapp.models import ApiToken, Unit, User
from webapp.models.users import ROLES
from webapp.reference import create_user

UNIT_KINDS = ("office", "department", "bank", "guarantor", "township", "employer")
CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def require_admin(user: User) -> None:
    if not user.has_role("admin"):
        raise Forbidden(_("Only administrators manage units and users."))


def save_unit(session: Session, admin: User, code: str, kind: str, name_zh: str, name_en: str) -> Unit:
    require_admin(admin)
    fields: dict[str, list[str]] = {}
    if not CODE.match(code):
        fields["code"] = [_("Lower-case letters, digits and _, starting with a letter.")]
    if kind not in UNIT_KINDS:
        fields["kind"] = [_("Choose one of the offered values.")]
    if not name_zh.strip():
        fields["name_zh"] = [_("This field is required.")]
    if fields:
        raise Invalid(_("Please correct the highlighted fields."), fields)
    unit = session.get(Unit, code)
    if unit is None:
        unit = Unit(code=code, kind=kind, name_zh=name_zh.strip(), name_en=name_en.strip() or code)
        session.add(unit)
    else:
        unit.kind, unit.name_zh, unit.name_en = kind, name_zh.strip(), name_en.strip() or code
    history.system_event(session, "unit_saved", admin, unit=code, unit_kind=kind)
    session.flush()
    return unit


def add_user(
    session: Session,
    admin: User,
    username: str,
    unit: str,
    roles: list[str],
    password: str,
    display_name: str,
) -> User:
    require_admin(admin)
    fields: dict[str, list[str]] = {}
    if not CODE.match(username):
        fields["username"] = [_("Lower-case letters, digits and _, starting with a letter.")]
    if session.get(Unit, unit) is None:
        fields["unit"] = [_("Choose one of the offered values.")]
    if not roles or set(roles) - set(ROLES):
        fields["roles"] = [_("Choose at least %(n)s.", n=1)]
    if (problem := policy_problem(password, username)) is not None:
        fields["password"] = [problem]
    if fields:
        raise Invalid(_("Please correct the highlighted fields."), fields)
    try:
        user = create_user(session, username, unit, roles, password, display_name or username)
    except Invalid as err:
        raise Invalid(_("Please correct the highlighted fields."), {"username": [err.message]}) from err
    history.system_event(session, "user_created", admin, user=username, unit=unit, roles=roles)
    return user


def update_user(
    session: Session,
    admin: User,
    user_id: int,
    unit: str,
    roles: list[str],
    active: bool,
    display_name: str,
    password: str = "",
) -> User:
    require_admin(admin)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("User not found."))
    fields: dict[str, list[str]] = {}
    if session.get(Unit, unit) is None:
        fields["unit"] = [_("Choose one of the offered values.")]
    if not roles or set(roles) - set(ROLES):
        fields["roles"] = [_("Choose at least %(n)s.", n=1)]
    if password and (problem := policy_problem(password, user.username)) is not None:
        fields["password"] = [problem]
    if user.id == admin.id and (not active or "admin" not in roles):
        fields["roles"] = [_("You cannot remove your own administrator access.")]
    if fields:
        raise Invalid(_("Please correct the highlighted fields."), fields)
    deactivated = user.active and not active
    user.unit_code, user.roles, user.active = unit, " ".join(roles), active
    user.display_name = display_name.strip() or user.username
    if password:
        user.password_hash = hash_password(password, user.username)
    if password or deactivated:  # every session of the user ends (webapp.auth.sessions)
        sessions.end_all(session, user.id)
    history.system_event(
        session,
        "user_updated",
        admin,
        user=user.username,
        unit=unit,
        roles=roles,
        active=active,
        password_reset=bool(password),
    )
    session.flush()
    return user


def user_tokens(session: Session, admin: User, user_id: int) -> list[ApiToken]:
    require_admin(admin)
    return tokens.of_user(session, user_id)


def revoke_token(session: Session, admin: User, user_id: int, token_id: int | None) -> ApiToken:
    """Revoke one of the user's API tokens (recorded on the admin's chain); a token of
    another user is not found."""
    require_admin(admin)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("User not found."))
    if token_id is None:
        raise Invalid(_("Choose a token to revoke."), {"token_id": [_("This field is required.")]})
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound(_("Token not found."))
    already = row.revoked_at is not None
    tokens.revoke(session, token_id)
    if not already:
        history.system_event(
            session, "token_revoked", admin, user=user.username, token_id=row.id, label=row.label
        )
    session.flush()
    return row


def units(session: Session) -> list[Unit]:
    return list(session.scalars(select(Unit).order_by(Unit.kind, Unit.code)))


def users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.unit_code, User.username)))
