"""Password hashing (werkzeug's scrypt) and the length policy."""

from __future__ import annotations

from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 10


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"passwords have at least {MIN_LENGTH} characters")
    return generate_password_hash(password, method="scrypt")


def check_password(stored_hash: str, password: str) -> bool:
    return check_password_hash(stored_hash, password)
