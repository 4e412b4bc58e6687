"""The schema comes from Alembic migrations only, and the models never drift from them."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from tests.support import ROOT


def test_models_match_migrations(app):
    cfg = Config(str(ROOT / "alembic.ini"), toml_file=str(ROOT / "pyproject.toml"))
    cfg.set_main_option("sqlalchemy.url", app.config["DATABASE_URL"].replace("%", "%%"))
    command.check(cfg)  # raises when autogenerate would produce operations
