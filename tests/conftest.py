"""Test fixtures: one app per database backend and test session, a clean database per test.

Database tests run on SQLite and, when it is reachable, on PostgreSQL
(``LIANDONG_TEST_PG_URL``, default the machine's server at 127.0.0.1:5432; the test database's
name is ``LIANDONG_TEST_PG_DB``, by default one of its own per run, dropped at its end). When it is not
reachable they are skipped with a message saying so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.support import ROOT, Browser, clear_database, seed_users
from webapp import create_app

PG_ADMIN_URL = os.environ.get("LIANDONG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# a database of its own per run (named after the process) lets test runs share the server
# without dropping each other's database; it is dropped when the run ends
PG_DB = os.environ.get("LIANDONG_TEST_PG_DB") or f"liandong_test_{os.getpid()}"


def _pg_url() -> str | None:
    """Create a fresh test database next to the given one; None when PostgreSQL is unreachable."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {PG_DB}"))
    except OperationalError:
        return None
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=PG_DB).render_as_string(hide_password=False)


def _drop_pg_db() -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
    finally:
        admin.dispose()


def migrate(url: str) -> None:
    cfg = Config(str(ROOT / "alembic.ini"), toml_file=str(ROOT / "pyproject.toml"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")


def _backends() -> list[object]:
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    url = _pg_url()
    if url is None:
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: PostgreSQL database tests SKIPPED"
        if os.environ.get("CI") == "true":  # CI has PostgreSQL: its absence is a failure there
            pytest.fail(message.replace("SKIPPED", "cannot run"))
        pytest.skip(message)
    yield url
    _drop_pg_db()  # the app fixture using it has disposed of its connections by now


@pytest.fixture(scope="session", params=_backends())
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    tmp = tmp_path_factory.mktemp(request.param)
    url = f"sqlite:///{tmp / 'test.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    migrate(url)
    application = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": url,
            "WTF_CSRF_ENABLED": False,
            "UPLOAD_DIR": str(tmp / "uploads"),
            "SECRET_KEY": "test-secret",
            # audit checkpoints of this backend's tests; the log goes with the database
            "AUDIT_KEY": "test-audit-key",
            "AUDIT_CHECKPOINT_LOG": str(tmp / "audit_checkpoints.jsonl"),
        }
    )
    application.config["BACKEND"] = request.param
    yield application
    application.extensions["db_engine"].dispose()


@pytest.fixture(autouse=True)
def clean_db(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty every table after each database test."""
    yield
    if "app" not in request.fixturenames:
        return
    clear_database(request.getfixturevalue("app"))


@pytest.fixture
def users(app: Flask) -> dict[str, int]:
    """One caseworker per unit (user name = unit code), plus supervisor, auditor, admin."""
    return seed_users(app)


@pytest.fixture
def browser(app: Flask, users: dict[str, int]):
    def make(username: str) -> Browser:
        return Browser(app, username)

    return make


@pytest.fixture
def forms_dir() -> Path:
    return ROOT / "forms"
