"""Liandong (联动): joint-action case management against evasion of financial debts."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, request, session
from flask_login import current_user
from sqlalchemy import bindparam, select
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp import config, db, errors, inputs
from webapp.auth import sessions
from webapp.auth.permissions import READ_METHODS, READ_ONLY_ALLOWED, is_read_only
from webapp.errors import Forbidden
from webapp.extensions import babel, csrf, login_manager, select_locale

# no inline scripts anywhere; bpmn-js sets style attributes on its SVG, hence 'unsafe-inline' for styles only
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# messages kept for the next page (flash); see _bounded_flashes
MAX_FLASHES = 5


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(config.INSTANCE))
    app.config.from_mapping(config.from_env())
    if overrides:
        app.config.from_mapping(overrides)

    # behind reverse proxies the client's address (login throttling) is taken from
    # X-Forwarded-For through this many trusted proxies, and only then (README, PRODUCTION.md)
    proxies = int(app.config.get("TRUSTED_PROXIES", 0))
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    # bounded <int:...> (before any route is added) and the NUL/encoding check of every input
    inputs.register(app)
    db.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)

    from webapp.models import User

    # built once: every request runs it, and Session.get built its statement each time (a
    # third of the user's load)
    user_by_id = select(User).where(User.id == bindparam("user_id"))

    @login_manager.user_loader
    def _load_user(user_id: str) -> User | None:
        user: User | None = db.get_session().execute(user_by_id, {"user_id": int(user_id)}).scalar()
        # a session started before the user's last logout or password change is over
        if user is None or not sessions.is_current(user):
            return None
        return user

    from webapp.admin.views import bp as admin_bp
    from webapp.api import comments_views as api_comments_views  # noqa: F401 - its routes are on api_bp
    from webapp.api import defaulters_views as api_defaulters_views  # noqa: F401 - its routes are on api_bp
    from webapp.api import documents_views as api_documents_views  # noqa: F401 - its routes are on api_bp
    from webapp.api import lookups_views as api_lookups_views  # noqa: F401 - its routes are on api_bp
    from webapp.api import progress_views as api_progress_views  # noqa: F401 - its routes are on api_bp
    from webapp.api.views import bp as api_bp
    from webapp.audit.views import bp as audit_bp
    from webapp.auth.views import bp as auth_bp
    from webapp.bulletins.views import bp as bulletins_bp
    from webapp.cases import closing_views, comments_views, progress_views  # noqa: F401 - routes on cases_bp
    from webapp.cases.views import bp as cases_bp
    from webapp.defaulters.file_views import bp as defaulter_files_bp
    from webapp.defaulters.views import bp as defaulters_bp
    from webapp.documents import views as document_views  # noqa: F401 - its routes are on cases_bp
    from webapp.ledger.views import bp as ledger_bp
    from webapp.lookups.views import bp as lookups_bp
    from webapp.notifications.views import bp as notifications_bp
    from webapp.public.views import bp as public_bp
    from webapp.referrals.views import bp as referrals_bp
    from webapp.stats.cycle_views import bp as cycle_times_bp
    from webapp.stats.views import bp as stats_bp
    from webapp.summaries.views import bp as summaries_bp
    from webapp.supervision.views import bp as supervision_bp
    from webapp.tasks.views import bp as tasks_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(tasks_bp)
    app.register_blueprint(cases_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(supervision_bp)
    app.register_blueprint(ledger_bp)
    app.register_blueprint(lookups_bp)
    app.register_blueprint(referrals_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(bulletins_bp)
    app.register_blueprint(cycle_times_bp)
    app.register_blueprint(stats_bp)
    app.register_blueprint(summaries_bp)
    app.register_blueprint(defaulters_bp)
    app.register_blueprint(defaulter_files_bp)
    csrf.exempt(api_bp)  # bearer tokens, no cookies

    from webapp import cli, notifications, templating

    cli.register(app)
    templating.register(app)
    # e-mails queued with every new notification, the ``flask mail`` commands
    notifications.register(app)

    # 404, 405 (with Allow), 413, 422, 500 and 503 (database down), for pages and the API
    errors.register_handlers(app)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.after_request
    def _no_store(response: Response) -> Response:
        # what a logged-in user is shown (full identifiers, cases, audit exports) and every
        # API answer is kept out of browser and proxy caches
        if request.path.startswith("/api/") or (g.get("user") is not None and request.endpoint != "static"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.after_request
    def _bounded_flashes(response: Response) -> Response:
        # a client that posts forms without following the redirects (a script, the bench)
        # never shows its messages: without a bound the session cookie grew with every post
        # (150 reports: 2.6 ms a request to sign it, and past 4 kB browsers drop it)
        flashes = session.get("_flashes")
        if flashes and len(flashes) > MAX_FLASHES:
            session["_flashes"] = flashes[-MAX_FLASHES:]
        return response

    @app.before_request
    def _user_in_g() -> None:
        # the user object itself, not the proxy (each attribute read through it looks the user
        # up again); the loader just read it, so the session's identity map answers
        user_id = current_user.get_id() if current_user.is_authenticated else None
        g.user = db.get_session().get(User, int(user_id)) if user_id is not None else None
        changes = request.method not in READ_METHODS and request.endpoint not in READ_ONLY_ALLOWED
        if g.user is not None and changes and is_read_only(g.user):
            raise Forbidden("auditors have read-only access")

    return app
