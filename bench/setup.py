"""What every benchmark starts from: a fresh, migrated SQLite database with the demo users,
and a line saying what machine measured it and how busy it was."""

from __future__ import annotations

import datetime as dt
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

from flask import Flask

from tests.conftest import migrate
from tests.support import seed_users
from webapp import create_app


def fresh_app(**config: Any) -> tuple[Flask, Path]:
    """The app on a new SQLite file in a new temporary folder (returned too), users seeded."""
    tmp = Path(tempfile.mkdtemp(prefix="liandong-bench-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    migrate(url)
    app = create_app(
        {"DATABASE_URL": url, "SECRET_KEY": "bench", "UPLOAD_DIR": str(tmp / "uploads"), **config}
    )
    seed_users(app)
    return app, tmp


# read when a benchmark imports this module, before it loads the machine itself
LOAD_AT_START = os.getloadavg()[0]


def machine() -> str:
    """Machine, cores, Python, date, and the load before the run (other work may share it)."""
    return (
        f"{platform.machine()}, {os.cpu_count()} cores (load average {LOAD_AT_START:.1f} before the run), "
        f"Python {platform.python_version()}, {dt.date.today().isoformat()}"
    )
