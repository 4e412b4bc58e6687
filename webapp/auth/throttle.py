"""Failed-login throttling (the login form and the password change form).

Failures in a sliding window (``login_failures``) are counted three ways:

- per (address, account): ``PER_PAIR`` failures and that address may not try that account
  again until the oldest of them leaves the window;
- per account, from every address: ``PER_ACCOUNT`` (higher, so one address alone never
  reaches it: its pair limit stops it first) and nobody may try the account until then;
- per address, over every account: beyond ``PER_ADDRESS`` failures the address is slowed to
  one attempt per ``ADDRESS_PACE``, not blocked, so a whole office behind one address is
  not locked out by a password spray from it, and other addresses are not affected at all.

A refusal is a ``Throttled`` (429) carrying the seconds to wait (``Retry-After``). The
address is ``request.remote_addr``, which behind a reverse proxy comes from
``X-Forwarded-For`` through the configured number of trusted proxies
(``LIANDONG_TRUSTED_PROXIES``, ``werkzeug.middleware.proxy_fix.ProxyFix``).
"""

from __future__ import annotations

import datetime as dt
import math

from flask_babel import gettext as _
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from webapp.clock import now
from webapp.errors import TooManyRequests
from webapp.models import LoginFailure

WINDOW = dt.timedelta(minutes=15)
PER_PAIR = 5
PER_ACCOUNT = 20
PER_ADDRESS = 50
ADDRESS_PACE = dt.timedelta(seconds=10)


class Throttled(TooManyRequests):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


def _seconds(delta: dt.timedelta) -> int:
    return math.ceil(delta.total_seconds())


def check(session: Session, username: str, address: str) -> None:
    """Raise ``Throttled`` while this address may not try this account now."""
    at = now()
    since = at - WINDOW
    by_account = LoginFailure.username == username
    by_address = LoginFailure.address == address
    by_pair = and_(by_account, by_address)
    row = session.execute(
        select(
            func.count(case((by_pair, 1))),
            func.min(case((by_pair, LoginFailure.at))),
            func.count(case((by_account, 1))),
            func.min(case((by_account, LoginFailure.at))),
            func.count(case((by_address, 1))),
            func.max(case((by_address, LoginFailure.at))),
        ).where(or_(by_account, by_address), LoginFailure.at >= since)
    ).one()
    pair, pair_oldest, account, account_oldest, from_address, address_latest = row
    if pair >= PER_PAIR or account >= PER_ACCOUNT:
        oldest = pair_oldest if pair >= PER_PAIR else account_oldest
        raise Throttled(
            _("Too many failed logins. Please wait 15 minutes and try again."),
            _seconds(oldest + WINDOW - at),
        )
    if from_address >= PER_ADDRESS and address_latest + ADDRESS_PACE > at:
        wait = _seconds(address_latest + ADDRESS_PACE - at)
        raise Throttled(
            _("Too many failed logins from your network. Please wait %(n)s seconds and try again.", n=wait),
            wait,
        )


def record_failure(session: Session, username: str, address: str) -> None:
    session.add(LoginFailure(username=username[:80], address=address[:64], at=now()))
