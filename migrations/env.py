"""Alembic environment: the URL comes from LIANDONG_DATABASE_URL (or the app's default)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from webapp import config as app_config
from webapp import models  # noqa: F401 - registers every table on Base.metadata
from webapp.db import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or str(app_config.from_env()["DATABASE_URL"])
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True, compare_type=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = engine_from_config({"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, render_as_batch=True, compare_type=True
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
