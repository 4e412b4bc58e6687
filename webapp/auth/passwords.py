"""Password hashing (werkzeug's scrypt) and the password policy.

The policy refuses passwords shorter than ``MIN_LENGTH``, ones that contain the user name,
are one character (or a short group) repeated or a sequence (1234567890, abcdefghij,
qwertyuiop, 1qaz2wsx...), and the common passwords of webapp/data/common_passwords.txt.
``hash_password`` applies it, so it holds wherever a password is set: the own change, an
administrator's create or reset, ``flask users create`` and the demo users.
"""

from __future__ import annotations

import re
import secrets
from functools import cache
from pathlib import Path

from flask_babel import gettext as _
from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 10
COMMON_FILE = Path(__file__).resolve().parent.parent / "data" / "common_passwords.txt"
# a password that is a stretch of one of these (either way round) is a sequence
WALKS = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890123456789",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertyuiop[]\\",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "`1234567890-=",
    "~!@#$%^&*()_+",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/-['=]",
    "zaq1xsw2cde3vfr4bgt5nhy6mju7,ki8.lo9/;p0",
    "qazwsxedcrfvtgbyhnujmikolp",
    "1q2w3e4r5t6y7u8i9o0p",
    "q1w2e3r4t5y6u7i8o9p0",
    "a1b2c3d4e5f6g7h8i9j0",
)
# letters people write as digits or symbols
UNLEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
SEPARATORS = re.compile(r"[\W_]+")
TRAILING = re.compile(r"^(.*?)([\d\W_]*)$")


class WeakPassword(ValueError):
    """A password the policy refuses; the message says why (in the user's language)."""


def policy_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` may not be used (a translated sentence), or None when it may."""
    if len(password) < MIN_LENGTH:
        return _("Use at least %(n)s characters.", n=MIN_LENGTH)
    lower = password.lower()
    bare = SEPARATORS.sub("", lower)
    name = username.strip().lower()
    if len(name) >= 3 and (name in lower or SEPARATORS.sub("", name) in bare):
        return _("The password must not contain the user name.")
    if _repeats(lower) or (len(bare) >= 4 and _repeats(bare)):
        return _("The password must not be one character or a short group of characters repeated.")
    if _is_sequence(lower) or (len(bare) >= 4 and _is_sequence(bare)):
        return _("The password must not be a sequence such as 1234567890, abcdefghij or qwertyuiop.")
    if _forms(lower) & common_passwords():
        return _("This password is among the most common passwords and easily guessed; choose another.")
    return None


def _repeats(text: str) -> bool:
    """One character, or a group of up to four, over and over (aaaaaaaaaa, abababab, 123123123)."""
    return any(
        len(text) >= 2 * size and (text[:size] * len(text))[: len(text)] == text for size in range(1, 5)
    )


def _is_sequence(text: str) -> bool:
    return any(text in walk or text in walk[::-1] for walk in WALKS)


def _forms(lower: str) -> set[str]:
    """The password as the list is compared with: as typed, without separators, and with
    symbols for letters read back (before any digits or symbols it ends with)."""
    head, tail = TRAILING.match(lower).groups()  # type: ignore[union-attr]
    unleet = head.translate(UNLEET) + tail
    return {lower, SEPARATORS.sub("", lower), unleet, SEPARATORS.sub("", unleet)}


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def hash_password(password: str, username: str = "") -> str:
    """The stored hash of a password the policy accepts (``WeakPassword`` otherwise)."""
    problem = policy_problem(password, username)
    if problem is not None:
        raise WeakPassword(problem)
    return generate_password_hash(password, method="scrypt")


def check_password(stored_hash: str, password: str) -> bool:
    return check_password_hash(stored_hash, password)


@cache
def _stand_in_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16), method="scrypt")


def check_login(stored_hash: str | None, password: str) -> bool:
    """Check a login's password; a user name that does not exist costs one hash check too
    (against a stand-in), so the answer's time does not tell whether the user exists."""
    if stored_hash is None:
        check_password_hash(_stand_in_hash(), password)
        return False
    return check_password_hash(stored_hash, password)
