"""Writing many new rows at once (a ledger import's chunk): ``COPY`` on PostgreSQL, one
executemany ``INSERT`` elsewhere; their ids reserved before.

On PostgreSQL an executemany is one statement a row (psycopg pipelines them) or, with
RETURNING, pages of multi-row VALUES that psycopg must parse: both cost more than the rows.
``COPY … FROM STDIN`` streams the rows through the session's own connection and transaction.
Rows give every column they set (Python-side column defaults are not applied by COPY);
columns left out get the table's server default or NULL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import JSON, Table, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.db import hide_values


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the session's transaction."""
    if not rows:
        return
    if not is_postgresql(session):
        session.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    as_json = {name for name in columns if isinstance(table.c[name].type, JSON)}
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(name) for name in columns)
    )
    driver = session.connection().connection.driver_connection
    if driver is None:  # a pooled connection always has its driver's; say so if not
        raise RuntimeError("no database connection to COPY through")
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([json.dumps(row[c]) if c in as_json else row[c] for c in columns])
    except psycopg.IntegrityError as err:
        # as SQLAlchemy raises it for its own statements (callers catch that), without the
        # row's values, which PostgreSQL's DETAIL line repeats
        raise IntegrityError(f"COPY {table.name}", None, hide_values(err)) from None


def analyze(session: Session, table: Table) -> None:
    """Fresh planner statistics for a table just filled in bulk (PostgreSQL): autovacuum may
    not have run yet, and plans made for an empty table read every row of a full one."""
    if is_postgresql(session):
        session.execute(text(f"ANALYZE {table.name}"))


def checkpoint(session: Session) -> None:
    """SQLite: copy the write-ahead log into the database now, after a bulk commit, without
    waiting for readers (PASSIVE). Otherwise the commit that crosses the log's size limit
    does it (``wal_autocheckpoint``), and during an import that is often a caseworker's."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` new ids of ``table``'s integer key, before its rows are written.

    PostgreSQL: taken from the key's sequence, so they are the caller's for good. SQLite:
    the ids after the largest one now, read without writing (the database's one write lock
    is not taken); another writer may take them before the caller writes, whose INSERT then
    fails on the key (IntegrityError): the caller plans again."""
    if is_postgresql(session):
        sequence = func.pg_get_serial_sequence(table.name, "id")
        series = func.generate_series(1, count).table_valued("n")
        return list(session.scalars(select(func.nextval(sequence)).select_from(series)))
    largest = session.scalar(select(func.max(table.c.id))) or 0
    return list(range(largest + 1, largest + 1 + count))
