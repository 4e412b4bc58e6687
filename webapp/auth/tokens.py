"""API bearer tokens: issued by a CLI command, stored as SHA-256 only, listed and revoked by
the CLI and on the admin user page. A revoked token is refused from the next request on; a
token records when it was last used (written at most once a ``LAST_USED_EVERY``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from webapp.clock import now
from webapp.models import ApiToken, User

LAST_USED_EVERY = dt.timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(session: Session, user: User, label: str = "") -> str:
    token = "ld_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_sha256=_digest(token), label=label))
    session.flush()
    return token


def user_for(session: Session, token: str) -> User | None:
    """The active user of a valid, unrevoked token (None otherwise). Called first thing in
    an API request: a last use older than ``LAST_USED_EVERY`` is written and committed here."""
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_sha256 == _digest(token), ApiToken.revoked_at.is_(None))
    )
    if row is None or not row.user.active:
        return None
    at = now()
    if row.last_used_at is None or row.last_used_at <= at - LAST_USED_EVERY:
        # conditional, so that two requests at once write it once
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == row.id,
                or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= at - LAST_USED_EVERY),
            )
            .values(last_used_at=at)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return row.user


def of_user(session: Session, user_id: int) -> list[ApiToken]:
    """A user's tokens, newest first, revoked ones included."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def revoke(session: Session, token_id: int) -> ApiToken | None:
    """Revoke a token (flushed, not committed); None when there is no such token. Revoking
    a revoked token again keeps its first revocation time."""
    row = session.get(ApiToken, token_id)
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at = now()
        session.flush()
    return row
