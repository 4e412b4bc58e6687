"""Rows written with plain statements, beside the unit of work.

A step changes the case row and one or two task rows and opens a few tasks; a report adds a
debtor, a case and its loans. Through ``Session.flush`` that cost 0.7-1.0 ms a request here,
about 70 % of it the unit of work's bookkeeping (sorting mappers, collecting histories,
per-object INSERTs) rather than SQL. ``write_changes`` issues one UPDATE per changed row,
``insert_new`` one INSERT for all new rows of a table, ``insert_held`` one INSERT that reads
the generated key back; the session then holds the rows as written, so its next flush has
nothing left of them to do. Anything else (sanctions, notifications, loans joining a case)
still goes through the unit of work.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Column, Table, Update, and_, bindparam, insert, inspect, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError


def write_changes(session: Session, objects: Iterable[Any]) -> None:
    """Write the changed columns of each persistent object with an UPDATE by primary key,
    checking and moving on the mapper's version counter as the unit of work does (a row
    changed by another transaction since it was read raises ``StaleDataError``). An object
    whose changes are not all plain columns of one table is left to the unit of work."""
    for obj in objects:
        state = inspect(obj)
        if not state.persistent or not state.committed_state:
            continue
        mapper = state.mapper
        table = mapper.local_table
        if not isinstance(table, Table):
            continue
        attrs = [mapper.column_attrs.get(key) for key in state.committed_state]
        if any(a is None or len(a.columns) != 1 or a.columns[0].table is not table for a in attrs):
            continue
        columns = tuple(a.columns[0].key for a in attrs if a is not None)
        params = {f"new_{a.columns[0].key}": state.dict[a.key] for a in attrs if a is not None}
        for col in mapper.primary_key:
            params[f"old_{col.key}"] = state.dict[mapper.get_property_by_column(col).key]
        version = mapper.version_id_col
        if version is not None:
            counter = state.dict[mapper.get_property_by_column(version).key]
            params[f"old_{version.key}"], params[f"new_{version.key}"] = counter, counter + 1
        with session.no_autoflush:  # an autoflush would write this very object first
            result = session.execute(_update(table, columns, version), params)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleDataError(f"{table.name} row changed or removed by another transaction")
        if version is not None:
            state.dict[mapper.get_property_by_column(version).key] = params[f"new_{version.key}"]
        # the row now says what the object says: the session must not write it again. This is
        # what the unit of work itself does to an object after flushing it.
        state._commit_all(state.dict, session.identity_map)


@functools.cache
def _update(table: Table, columns: tuple[str, ...], version: Column[Any] | None) -> Update:
    """UPDATE of these columns by primary key (and version), built once: building a statement
    cost about as much as running it."""
    where = [col == bindparam(f"old_{col.key}") for col in table.primary_key]
    values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in columns}
    if version is not None:
        where.append(version == bindparam(f"old_{version.key}"))
        values[version.key] = bindparam(f"new_{version.key}")
    return update(table).where(and_(*where)).values(values)


def insert_held(session: Session, obj: Any) -> None:
    """INSERT one transient object whose primary key the database generates, read the key
    back (RETURNING), and hand the object to the session as persistent and unchanged, as a
    flush would. Every column is written: one left unset takes its default, else NULL (a
    column with a server default and no value is left to it, and loaded when read)."""
    state = inspect(obj)
    mapper = state.mapper
    table = mapper.local_table
    values: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        given = attr.key in state.dict
        if column.primary_key or (not given and column.server_default is not None):
            continue
        value = _value(column, state.dict.get(attr.key), given)
        values[column.key] = state.dict[attr.key] = value
    with session.no_autoflush:
        key = session.execute(_insert_returning(table), values).one()  # type: ignore[arg-type]
    for column, value in zip(table.primary_key, key, strict=True):
        state.dict[mapper.get_property_by_column(column).key] = value
    make_transient_to_detached(obj)
    session.add(obj)


@functools.cache
def _insert(table: Table) -> Any:
    return insert(table)


@functools.cache
def _insert_returning(table: Table) -> Any:
    return insert(table).returning(*table.primary_key)


def _value(column: Column[Any], value: Any, given: bool) -> Any:
    """What the unit of work writes for an attribute: None takes the column's default,
    unless it was given and the type stores None itself (JSON's null)."""
    if value is None and column.default is not None and not (given and column.type.should_evaluate_none):
        default = column.default
        return default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined, operator]
    return value


def insert_new(session: Session, objects: Sequence[Any]) -> None:
    """INSERT transient objects of one mapped class in one statement per set of attributes
    given (a key left unset is generated and not read back). As the unit of work does, an
    attribute given as None takes the column's default, unless its type stores None itself
    (JSON's null). The objects stay transient: the session does not hold them."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    table = None
    for obj in objects:
        state = inspect(obj)
        if not state.transient:
            raise ValueError(f"{obj!r} is not transient")
        mapper = state.mapper
        table = mapper.local_table
        row: dict[str, Any] = {}
        for attr in mapper.column_attrs:
            if attr.key not in state.dict:
                continue
            column = attr.columns[0]
            row[column.key] = _value(column, state.dict[attr.key], True)
        groups.setdefault(tuple(row), []).append(row)
    with session.no_autoflush:  # the rest of the step is flushed after these rows
        for rows in groups.values():
            session.execute(_insert(table), rows)  # type: ignore[arg-type]
