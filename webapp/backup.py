"""Backing up and restoring the database (``flask backup FILE``, ``flask restore FILE``).

SQLite is copied page by page with SQLite's online backup API (``sqlite3.Connection.backup``):
a consistent copy while the server and the workers keep writing, and a restore that takes
the database's locks rather than replacing a file under open connections. PostgreSQL goes
through ``pg_dump --format=custom`` and ``pg_restore --clean --single-transaction`` (all of
the restore lands or none of it); both tools must be on PATH and not older than the server.

Only the database is saved: files outside it (uploaded ledger files awaiting their check,
the secret key, an audit checkpoint log) are the operator's to keep.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import inspect, literal_column, select, table
from sqlalchemy.engine import URL, Engine

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"  # pg_dump's custom format
# tables that say nothing about whether the database holds data
_BOOKKEEPING = {"alembic_version"}


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why."""


def backup(engine: Engine, target: Path) -> str:
    """Write a copy of the database to ``target``; a line saying what was written."""
    target = Path(target)
    if engine.dialect.name == "sqlite":
        _sqlite_backup(_sqlite_path(engine.url), target)
    elif engine.dialect.name == "postgresql":
        _pg_backup(engine.url, target)
    else:
        raise BackupError(f"no backup for {engine.dialect.name} databases")
    return f"{engine.dialect.name} database backed up to {target} ({target.stat().st_size:,} bytes)"


def restore(engine: Engine, source: Path, force: bool = False) -> str:
    """Replace the database's content with the backup in ``source``.

    A database holding any rows is refused unless ``force``: a restore to the wrong server
    would otherwise erase it without a word.
    """
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"no backup file {source}")
    with source.open("rb") as file:
        head = file.read(len(SQLITE_MAGIC))
    if not force and not is_empty(engine):
        raise BackupError(
            "the database is not empty; restoring would replace everything in it (add --force to do so)"
        )
    engine.dispose()  # no pooled connection of ours holds a lock or a stale statement
    try:
        if engine.dialect.name == "sqlite":
            if not head.startswith(SQLITE_MAGIC):
                raise BackupError(f"{source} is not a SQLite backup (made by flask backup on SQLite)")
            _sqlite_restore(source, _sqlite_path(engine.url))
        elif engine.dialect.name == "postgresql":
            if not head.startswith(PG_DUMP_MAGIC):
                raise BackupError(f"{source} is not a PostgreSQL backup (made by flask backup on PostgreSQL)")
            _pg_restore(engine.url, source)
        else:
            raise BackupError(f"no restore for {engine.dialect.name} databases")
    finally:
        engine.dispose()  # connections opened before the restore may have cached the old schema
    return f"{engine.dialect.name} database restored from {source}"


def is_empty(engine: Engine) -> bool:
    """True when none of the database's tables holds a row (a new or merely migrated one)."""
    names = [n for n in inspect(engine).get_table_names() if n not in _BOOKKEEPING]
    with engine.connect() as conn:
        for name in names:
            if conn.scalar(select(literal_column("1")).select_from(table(name)).limit(1)) is not None:
                return False
    return True


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _sqlite_backup(database: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # written beside the target and renamed: a backup cut off midway never looks complete
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        source = sqlite3.connect(database, timeout=30)
        copy = sqlite3.connect(temporary)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            copy.close()
            source.close()
        os.replace(temporary, target)
    except sqlite3.Error as err:
        raise BackupError(f"SQLite backup failed: {err}") from err
    finally:
        Path(temporary).unlink(missing_ok=True)


def _sqlite_restore(source: Path, database: Path) -> None:
    try:
        backup_db = sqlite3.connect(source)
        try:
            if backup_db.execute("PRAGMA quick_check").fetchone() != ("ok",):
                raise BackupError(f"{source} is damaged (SQLite quick_check failed)")
            live = sqlite3.connect(database, timeout=30)
            try:
                backup_db.backup(live)  # takes the database's write lock; readers see old or new
            finally:
                live.close()
        finally:
            backup_db.close()
    except sqlite3.Error as err:
        raise BackupError(f"SQLite restore failed: {err}") from err


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The URL as pg_dump reads it, and the environment carrying its password (so the
    password does not show in the process list)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not on PATH; install PostgreSQL's client tools (Debian: apt-get install "
            "postgresql-client) of the server's major version or newer"
        )
    return path


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        tool = Path(command[0]).name
        raise BackupError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def _pg_backup(url: URL, target: Path) -> None:
    dsn, env = _libpq(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        _run(
            [_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={temporary}", f"--dbname={dsn}"], env
        )
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _pg_restore(url: URL, source: Path) -> None:
    dsn, env = _libpq(url)
    # --clean --if-exists drops what the backup holds first; one transaction: all or nothing
    _run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={dsn}",
            str(source),
        ],
        env,
    )
