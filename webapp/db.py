"""Database base class, engine and the per-request session.

Plain SQLAlchemy 2 (no Flask-SQLAlchemy): typed models, one session per request or
CLI command. Domain functions take a session, flush but never commit; the view or
command that called them owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import JSON, DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware datetimes on SQLite too: stored as UTC, read back as aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
        list[str]: JSON(),
    }


# PostgreSQL's DETAIL line repeats the values of the row or key that failed ("Key
# (identifier)=(...) already exists", "Failing row contains (...)")
_DETAIL = re.compile(r"^DETAIL:.*$", re.MULTILINE)
HIDDEN_DETAIL = "DETAIL:  (hidden: it repeats the row's values)"


def hide_values(error: BaseException) -> BaseException:
    """The error with PostgreSQL's DETAIL line (the row's values) dropped from its message."""
    if error.args and isinstance(error.args[0], str) and "DETAIL:" in error.args[0]:
        error.args = (_DETAIL.sub(HIDDEN_DETAIL, error.args[0]), *error.args[1:])
    return error


def _without_values(context: ExceptionContext) -> None:
    """Database errors as logs see them carry no values: bound parameters are hidden by
    ``hide_parameters``, and this drops PostgreSQL's DETAIL line from the driver's message
    and from SQLAlchemy's, which quotes it (the exception keeps it in ``orig.diag``)."""
    for error in (context.original_exception, context.sqlalchemy_exception):
        if error is not None:
            hide_values(error)


def make_engine(url: str) -> Engine:
    # a failed statement's parameters (identifiers, names) never reach a log or a traceback
    kwargs: dict[str, Any] = {"future": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    event.listen(engine, "handle_error", _without_values)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return engine


def init_app(app: Flask) -> None:
    engine = make_engine(str(app.config["DATABASE_URL"]))
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


def get_session() -> Session:
    """The session of the current request or CLI command."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["db_sessionmaker"]()
    session: Session = g.db_session
    return session


def get_engine() -> Engine:
    engine: Engine = current_app.extensions["db_engine"]
    return engine
