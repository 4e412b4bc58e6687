"""Login rate limiting per account and per address (failures in a sliding window)."""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.clock import now
from webapp.errors import TooManyRequests
from webapp.models import LoginFailure

WINDOW = dt.timedelta(minutes=15)
PER_ACCOUNT = 5
PER_ADDRESS = 20


def check(session: Session, username: str, address: str) -> None:
    """Refuse (429) while an account or an address has too many recent failures."""
    since = now() - WINDOW
    by_account = (
        session.scalar(
            select(func.count(LoginFailure.id)).where(
                LoginFailure.username == username, LoginFailure.at >= since
            )
        )
        or 0
    )
    by_address = (
        session.scalar(
            select(func.count(LoginFailure.id)).where(
                LoginFailure.address == address, LoginFailure.at >= since
            )
        )
        or 0
    )
    if by_account >= PER_ACCOUNT or by_address >= PER_ADDRESS:
        raise TooManyRequests(_("Too many failed logins. Please wait 15 minutes and try again."))


def record_failure(session: Session, username: str, address: str) -> None:
    session.add(LoginFailure(username=username[:80], address=address[:64], at=now()))
