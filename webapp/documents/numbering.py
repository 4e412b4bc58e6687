"""Yearly running numbers of letters (文号): 1, 2, 3 … per kind, from 1 again each year.

One statement moves the number on: an upsert of the (kind, year) row that returns the new
last number. It is atomic on both databases: PostgreSQL's row lock makes a second
transaction wait for the first to end and then count on from its number; SQLite has one
writer at a time. The number is taken inside the letter's transaction, so a letter that
fails gives its number back (no gap) and two letters never share one.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from webapp.models import DocumentNumber

_TABLE: Table = DocumentNumber.__table__  # type: ignore[assignment]


def next_number(session: Session, kind: str, year: int) -> int:
    """The next number of the kind in the year, taken for the current transaction."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = (
        insert(_TABLE)
        .values(kind=kind, year=year, last=1)
        .on_conflict_do_update(
            index_elements=[_TABLE.c.kind, _TABLE.c.year], set_={"last": _TABLE.c.last + 1}
        )
        .returning(_TABLE.c.last)
    )
    return int(session.execute(upsert).scalar_one())
