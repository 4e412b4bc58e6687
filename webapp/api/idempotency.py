"""``Idempotency-Key`` for the API's writes: a retried request with the same key gets the
first answer again and changes nothing; the same key with another request is refused.

The key is stored in the same transaction as the work, so a request either did its work
and kept its key, or did neither. Two requests racing with one key: the second's insert
hits the unique key and gets 409, and its retry gets the stored answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.errors import Invalid
from webapp.models import IdempotencyKey, User
from webapp.transactions import atomic

HEADER = "Idempotency-Key"
MAX_KEY = 120


@dataclass(frozen=True)
class Answer:
    body: dict[str, Any]
    status: int
    replayed: bool = False


def run(session: Session, user: User, work: Callable[[], Answer]) -> Answer:
    """Do ``work`` in one transaction, at most once per key when the client sent one."""
    key = request.headers.get(HEADER)
    if key is None:
        return atomic(session, work)
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise Invalid(f"{HEADER} must be 1 to {MAX_KEY} printable characters", {HEADER: ["invalid key"]})
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), request.get_data(cache=True)):
        digest.update(len(part).to_bytes(8, "big") + part)
    fingerprint = digest.hexdigest()

    def once() -> Answer:
        earlier = session.scalar(
            select(IdempotencyKey).where(IdempotencyKey.user_id == user.id, IdempotencyKey.key == key)
        )
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                raise Invalid(
                    f"this {HEADER} was used for another request; use a new key",
                    {HEADER: ["used for another request"]},
                )
            return Answer(earlier.response, earlier.status_code, replayed=True)
        answer = work()
        session.add(
            IdempotencyKey(
                user_id=user.id,
                key=key,
                fingerprint=fingerprint,
                status_code=answer.status,
                response=answer.body,
            )
        )
        session.flush()
        return answer

    return atomic(session, once)
