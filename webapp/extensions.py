"""Flask extensions, created once and bound in ``create_app``."""

from __future__ import annotations

from flask import has_request_context, request, session
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf import CSRFProtect

LOCALES = ("zh", "en")

login_manager = LoginManager()
login_manager.login_view = "auth.login"
csrf = CSRFProtect()
babel = Babel()


def select_locale() -> str:
    """Simplified Chinese by default; English when the user chose it."""
    if not has_request_context():  # CLI commands and workers
        return "zh"
    chosen = session.get("locale")
    if chosen in LOCALES:
        return str(chosen)
    if request.args.get("lang") in LOCALES:
        return str(request.args["lang"])
    return "zh"
