"""Domain errors, each with the HTTP status the web layer answers with, and the handlers
that answer them and every other error (``register_handlers``)."""

from __future__ import annotations

import contextlib
from http import HTTPStatus
from typing import Any

from flask import Flask, current_app, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from markupsafe import escape
from sqlalchemy.exc import DataError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError

# errors of a database that is down, unreachable or asks to try again (DB-API's
# OperationalError: a refused or lost connection, a locked SQLite file, a deadlock)
UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    """The request clashes with the case's current state (e.g. a task already completed)."""

    status = 409


class Invalid(DomainError):
    """Input that fails validation; ``fields`` maps a field name to its messages."""

    status = 422

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


class StepFailed(DomainError):
    """The engine could not run the step; it was rolled back and recorded as an incident."""

    status = 409

    def __init__(self, message: str, case_id: int, actor_id: int | None) -> None:
        super().__init__(message)
        self.case_id = case_id
        self.actor_id = actor_id


class TooManyRequests(DomainError):
    status = 429


# --- how the web layer answers errors -------------------------------------------------------
# Registered by ``create_app`` (``register_handlers``). An error page never fails itself: a
# failed transaction is rolled back before it is rendered (the page's top bar reads the
# user and the counts from the database), and when that fails too the page is rendered
# without the user's menu, then as plain HTML. Security headers come from the app's
# ``after_request``, which runs for error answers as for any other.

# a database that cannot be reached (or answered "try again": a deadlock, a serialization
# failure, a locked SQLite file) is 503 with a hint of when to try again
RETRY_AFTER_SECONDS = 30
PLAIN_PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{status}</title></head>'
    "<body><h1>{status}</h1><p>{text}</p></body></html>"
)


def register_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _not_allowed)
    app.register_error_handler(413, _too_large)
    app.register_error_handler(500, _server_error)
    for unavailable in UNAVAILABLE:
        app.register_error_handler(unavailable, _database_unavailable)
    app.register_error_handler(DataError, _value_refused)


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> ResponseReturnValue:
    return jsonify(body), status, headers or {}


def _end_failed_transaction() -> None:
    """Roll the request's transaction back (PostgreSQL refuses every statement after a
    failed one until then); a session whose connection is gone is dropped, and the page goes
    without the user's menu."""
    session = g.get("db_session")
    if session is None:
        return
    try:
        session.rollback()
    except Exception:
        g.pop("db_session", None)
        g.user = None
        with contextlib.suppress(Exception):
            session.close()


def _page(status: int, headers: dict[str, str] | None = None, **context: Any) -> ResponseReturnValue:
    """error.html, or, when the database fails it, the same without the user's menu, or a
    plain page."""
    try:
        body = render_template("error.html", status=status, **context)
    except Exception:
        current_app.logger.exception("the error page failed; answered without the user's menu")
        _end_failed_transaction()
        g.user = None
        try:
            body = render_template("error.html", status=status, **context)
        except Exception:
            current_app.logger.exception("the error page failed again; answered as plain HTML")
            body = PLAIN_PAGE.format(status=status, text=escape(HTTPStatus(status).phrase))
    return body, status, headers or {}


def _domain_error(err: DomainError) -> ResponseReturnValue:
    if _is_api():
        body: dict[str, Any] = {"error": err.message}
        fields = getattr(err, "fields", None)
        if fields:
            body["fields"] = fields
        return _json(body, err.status)
    return _page(err.status, failure=err)


def _not_found(_err: Exception) -> ResponseReturnValue:
    if _is_api():
        return _json({"error": "not found"}, 404)
    return _page(404, failure=None)


def _not_allowed(err: HTTPException) -> ResponseReturnValue:
    # the methods the path does take (RFC 9110: a 405 carries Allow)
    valid = getattr(err, "valid_methods", None) or []
    headers = {"Allow": ", ".join(valid)}
    if _is_api():
        return _json({"error": "method not allowed"}, 405, headers)
    return _page(405, headers, failure=None)


def _too_large(_err: Exception) -> ResponseReturnValue:
    if _is_api():
        return _json({"error": "the upload is larger than the limit"}, 413)
    return _page(413, failure=None)


def _server_error(err: InternalServerError) -> ResponseReturnValue:
    original = err.original_exception
    if isinstance(original, UNAVAILABLE):  # raised while another error was being answered
        return _database_unavailable(original)
    _end_failed_transaction()
    if _is_api():
        return _json({"error": "internal error"}, 500)
    return _page(500, failure=None)


def _database_unavailable(err: Exception) -> ResponseReturnValue:
    # not an unhandled exception, so Flask does not log it: logged here (without values:
    # webapp.db hides bound parameters)
    current_app.logger.error("database unavailable on %s %s", request.method, request.path, exc_info=err)
    _end_failed_transaction()
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if _is_api():
        return _json({"error": "the database is unavailable; try again later"}, 503, headers)
    # the top bar reads the database: the page goes without the user's menu
    g.user = None
    return _page(503, headers, failure=None)


def _value_refused(err: DataError) -> ResponseReturnValue:
    """A value the database refused (out of its column's range, too long): the guards of
    ``webapp.inputs`` stop the known ones with the field named; this is the net under them."""
    where = f"{request.method} {request.path}"
    current_app.logger.warning("the database refused a value on %s", where, exc_info=err)
    _end_failed_transaction()
    return _domain_error(Invalid(_("A value is out of the range that can be stored.")))
