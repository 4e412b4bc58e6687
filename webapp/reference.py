"""Loading reference data (units) and creating users."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.auth.passwords import hash_password
from webapp.catalog import Catalog
from webapp.errors import Invalid
from webapp.models import Unit, User
from webapp.models.users import ROLES


def load_units(session: Session, catalog: Catalog) -> int:
    """Insert or update every unit of the catalogue; returns how many were new."""
    existing = {u.code: u for u in session.scalars(select(Unit))}
    added = 0
    for spec in catalog.units:
        unit = existing.get(spec.code)
        if unit is None:
            session.add(Unit(code=spec.code, kind=spec.kind, name_zh=spec.zh, name_en=spec.en))
            added += 1
        else:
            unit.kind, unit.name_zh, unit.name_en = spec.kind, spec.zh, spec.en
    session.flush()
    return added


def create_user(
    session: Session,
    username: str,
    unit_code: str,
    roles: list[str],
    password: str,
    display_name: str | None = None,
) -> User:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise Invalid(f"unknown roles: {', '.join(sorted(unknown))}")
    if session.get(Unit, unit_code) is None:
        raise Invalid(f"unknown unit: {unit_code}")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Invalid(f"user {username} exists")
    try:
        password_hash = hash_password(password, username)
    except ValueError as err:
        raise Invalid(str(err)) from err
    user = User(
        username=username,
        display_name=display_name or username,
        unit_code=unit_code,
        roles=" ".join(roles),
        password_hash=password_hash,
    )
    session.add(user)
    session.flush()
    return user
