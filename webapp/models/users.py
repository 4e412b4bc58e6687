from __future__ import annotations

import datetime as dt

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clock import now
from webapp.db import Base
from webapp.models.units import Unit

ROLES = ("caseworker", "supervisor", "auditor", "admin")

# how the notifications of a user's unit reach them (webapp.notifications): in the
# application only, one e-mail per notification, or one digest e-mail a day
NOTIFY_APP, NOTIFY_EACH, NOTIFY_DIGEST = "app", "each", "digest"
NOTIFY_CHOICES = (NOTIFY_APP, NOTIFY_EACH, NOTIFY_DIGEST)


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    # space-separated subset of ROLES
    roles: Mapped[str] = mapped_column(String(120), default="caseworker")
    active: Mapped[bool] = mapped_column(default=True)
    # moved on by a logout, a password change or reset and a deactivation: every browser
    # session carries the number it was started with and ends when the two differ
    # (webapp.auth.sessions); API tokens are separate
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    email: Mapped[str | None] = mapped_column(String(254))
    notify_by: Mapped[str] = mapped_column(String(10), default=NOTIFY_APP, server_default=NOTIFY_APP)
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())

    unit: Mapped[Unit] = relationship(lazy="joined", viewonly=True)

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles.split())

    def has_role(self, role: str) -> bool:
        return role in self.role_set

    @property
    def sees_all_cases(self) -> bool:
        """The group office (caseworkers, supervisors, administrators) and auditors see every
        case (DOMAIN.md, last section); everyone else only the cases their unit takes part in."""
        return self.unit_code == "office" or self.has_role("auditor")

    @property
    def is_active(self) -> bool:  # flask-login
        return self.active


class ApiToken(Base):
    """A bearer token for bank systems; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
    revoked_at: Mapped[dt.datetime | None]
    # written at most once a minute (webapp.auth.tokens.LAST_USED_EVERY)
    last_used_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(lazy="joined", viewonly=True)


class LoginFailure(Base):
    """A failed login, for rate limiting per account and per address."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
