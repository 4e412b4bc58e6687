"""The schema comes from Alembic migrations only, and the models never drift from them."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from tests.support import ROOT


def test_models_match_migrations(app):
    cfg = Config(str(ROOT / "alembic.ini"), toml_file=str(ROOT / "pyproject.toml"))
    cfg.set_main_option("sqlalchemy.url", app.config["DATABASE_URL"].replace("%", "%%"))
    command.check(cfg)  # raises when autogenerate would produce operations


def test_case_states_are_compressed_with_lz4_on_postgresql(app):
    """Migration 0012: a new case's state is compressed with lz4 where the server has it."""
    import pytest
    from sqlalchemy import text

    if app.config["BACKEND"] != "postgresql":
        pytest.skip("SQLite stores the text as it is")
    with app.extensions["db_engine"].connect() as conn:
        has_lz4 = conn.execute(
            text(
                "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
            )
        ).first()
        method = conn.execute(
            text(
                "SELECT attcompression FROM pg_attribute"
                " WHERE attrelid = 'cases'::regclass AND attname = 'state'"
            )
        ).scalar()
    assert method == ("l" if has_lz4 else "")
