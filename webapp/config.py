"""Settings from the environment, with safe development defaults.

Every setting is an environment variable prefixed ``LIANDONG_``; see README for the list.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("LIANDONG_INSTANCE_DIR", ROOT / "instance"))


def _secret_key() -> str:
    """A stable dev key kept in the instance folder, never in the repo."""
    if key := os.environ.get("LIANDONG_SECRET_KEY"):
        return key
    INSTANCE.mkdir(parents=True, exist_ok=True)
    path = INSTANCE / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def from_env() -> dict[str, object]:
    INSTANCE.mkdir(parents=True, exist_ok=True)
    return {
        "SECRET_KEY": _secret_key(),
        "DATABASE_URL": os.environ.get("LIANDONG_DATABASE_URL", f"sqlite:///{INSTANCE / 'liandong.db'}"),
        "UPLOAD_DIR": os.path.abspath(os.environ.get("LIANDONG_UPLOAD_DIR", str(INSTANCE / "uploads"))),
        "MAX_CONTENT_LENGTH": int(os.environ.get("LIANDONG_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)),
        # one evidence file (a task's attachments, a certificate); below the request's limit so
        # that a file too big is refused with a message on the form (422), not a bare 413
        "ATTACHMENT_MAX_BYTES": int(os.environ.get("LIANDONG_ATTACHMENT_MAX_BYTES", 8 * 1024 * 1024)),
        # ledger files have their own, larger limit (the upload view raises it for itself)
        "LEDGER_MAX_BYTES": int(os.environ.get("LIANDONG_LEDGER_MAX_BYTES", 32 * 1024 * 1024)),
        "LEDGER_MAX_ROWS": int(os.environ.get("LIANDONG_LEDGER_MAX_ROWS", 100_000)),
        "LEDGER_STALE_SECONDS": int(os.environ.get("LIANDONG_LEDGER_STALE_SECONDS", 120)),
        "LEDGER_IMPORT_CHUNK": int(os.environ.get("LIANDONG_LEDGER_IMPORT_CHUNK", 0)),
        "LEDGER_IMPORT_SHARE": float(os.environ.get("LIANDONG_LEDGER_IMPORT_SHARE", 0)),
        "BABEL_DEFAULT_LOCALE": os.environ.get("LIANDONG_DEFAULT_LOCALE", "zh"),
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("LIANDONG_TIMEZONE", "Asia/Shanghai"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("LIANDONG_SECURE_COOKIES", "0") == "1",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": os.environ.get("LIANDONG_SECURE_COOKIES", "0") == "1",
        "WTF_CSRF_ENABLED": True,
        # reverse proxies in front of the app whose X-Forwarded-For is trusted (0: none)
        "TRUSTED_PROXIES": int(os.environ.get("LIANDONG_TRUSTED_PROXIES", "0")),
        "PROCESSES_DIR": os.environ.get("LIANDONG_PROCESSES_DIR", str(ROOT / "processes")),
        "FORMS_DIR": os.environ.get("LIANDONG_FORMS_DIR", str(ROOT / "forms")),
        # audit checkpoints (webapp/audit/anchor.py): key and log outside the database; with
        # neither key set, a key file is generated in the instance folder (development)
        "AUDIT_KEY": os.environ.get("LIANDONG_AUDIT_KEY", ""),
        "AUDIT_KEY_FILE": os.environ.get("LIANDONG_AUDIT_KEY_FILE", ""),
        "AUDIT_CHECKPOINT_LOG": os.environ.get(
            "LIANDONG_AUDIT_CHECKPOINT_LOG", str(INSTANCE / "audit_checkpoints.jsonl")
        ),
        "AUDIT_CHECKPOINT_MINUTES": float(os.environ.get("LIANDONG_AUDIT_CHECKPOINT_MINUTES", "10")),
        # e-mail notifications (webapp/notifications): no SMTP host, no mail (the queue is kept)
        "SMTP_HOST": os.environ.get("LIANDONG_SMTP_HOST", ""),
        "SMTP_PORT": int(os.environ.get("LIANDONG_SMTP_PORT", "25")),
        "SMTP_USER": os.environ.get("LIANDONG_SMTP_USER", ""),
        "SMTP_PASSWORD": os.environ.get("LIANDONG_SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": os.environ.get("LIANDONG_SMTP_STARTTLS", "0") == "1",
        "SMTP_TIMEOUT": float(os.environ.get("LIANDONG_SMTP_TIMEOUT", "20")),
        "MAIL_FROM": os.environ.get("LIANDONG_MAIL_FROM", "liandong@localhost"),
        "MAIL_MAX_ATTEMPTS": int(os.environ.get("LIANDONG_MAIL_MAX_ATTEMPTS", "8")),
        # the site's address as users reach it, for the links in e-mails
        "BASE_URL": os.environ.get("LIANDONG_BASE_URL", "http://localhost:5000"),
    }
