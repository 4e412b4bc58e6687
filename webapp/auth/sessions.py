"""Browser sessions that end on the server's word.

The session cookie is signed, not stored: on its own, a cookie copied before a logout would
stay good. So each user has a ``session_version``; a session remembers the number it was
started with, and the login loader (run on every request) treats a session whose number is
not the user's current one as logged out. A logout, a password change or reset and a
deactivation move the number on, which ends every session of that user; after an own
password change the session that made it takes the new number and stays logged in.
API bearer tokens are not sessions: they are revoked one by one (webapp.auth.tokens).
"""

from __future__ import annotations

from flask import session
from flask_login import login_user, logout_user
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from webapp.models import User

KEY = "_sv"


def start(user: User) -> None:
    """Log ``user`` in on this browser, under their current session version."""
    login_user(user)
    session[KEY] = user.session_version


def is_current(user: User) -> bool:
    """Whether this request's session was started under the user's current version."""
    return session.get(KEY) == user.session_version


def end_all(db: Session, user_id: int) -> int:
    """Move the user's session version on (in the caller's transaction): every session
    started before ends. Returns the new version."""
    db.execute(
        update(User)
        .where(User.id == user_id)
        .values(session_version=User.session_version + 1)
        .execution_options(synchronize_session=False)
    )
    version: int = db.scalar(select(User.session_version).where(User.id == user_id)) or 0
    return version


def keep(version: int) -> None:
    """This browser's session stays logged in under ``version`` (after an own change)."""
    session[KEY] = version


def end_here() -> None:
    logout_user()
    session.pop(KEY, None)
