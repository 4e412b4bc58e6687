"""Guards on what a request brings, before any of it reaches the database.

SQLite and PostgreSQL fail differently on input the app never meant to store: an integer
beyond 64 bits (SQLite: ``OverflowError`` in the driver; PostgreSQL: ``bigint out of
range``), a NUL character (PostgreSQL refuses it in text), a lone UTF-16 surrogate from a
JSON ``\\ud800`` escape (neither driver can encode it). Each was a 500. Here they are
answered before a view runs:

- ``<int:...>`` in every route is ``BoundedInt``: a number beyond what an id column holds
  (INTEGER, 32-bit on PostgreSQL, which casts the parameter and fails past it) matches no
  route: 404 on pages and the API alike;
- ``refuse_bad_text`` (a ``before_request`` hook) answers 422 naming the field when a query
  parameter, a form field or file name, a path part or any string or key of a JSON body holds
  a NUL or cannot be encoded, or a JSON body holds an integer beyond 64 bits;
- ``webapp.paging`` bounds page numbers the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from flask import Flask, request
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter, Map, ValidationError

from webapp.errors import Invalid

# the largest value of a signed 64-bit integer: PostgreSQL's bigint (OFFSET) and SQLite's
# INTEGER; past it SQLite's driver raises OverflowError and PostgreSQL "bigint out of range"
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
_INT64_DIGITS = len(str(INT64_MAX))
# the largest id: id columns are INTEGER, which PostgreSQL keeps in 32 bits
ID_MAX = 2**31 - 1
# a JSON body nested deeper than this is refused before it is walked (json itself stops
# at Python's recursion limit, with a RecursionError that was a 500)
MAX_JSON_DEPTH = 100
# the fields a refusal names at most
MAX_NAMED = 20


class BoundedInt(IntegerConverter):
    """``<int:...>`` that never matches a number an id column cannot hold (``ID_MAX``;
    ``<int(max=N):...>`` may bound it further)."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = None,
        signed: bool = False,
    ) -> None:
        bound = ID_MAX if max is None or max > ID_MAX else max
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=bound, signed=signed)
        if self.min is None and signed:
            self.min = -ID_MAX - 1

    def to_python(self, value: str) -> Any:
        # far too many digits: refused before int() parses them (Python refuses past 4300
        # digits anyway, but every digit parsed costs time)
        if len(value.lstrip("-0")) > _INT64_DIGITS:
            raise ValidationError()
        return super().to_python(value)


def in_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def is_id(value: int) -> bool:
    """Whether ``value`` can be an id (a number from a form, before it is looked up)."""
    return 0 < value <= ID_MAX


def register(app: Flask) -> None:
    """The bounded ``int`` converter (before any blueprint adds its routes) and the hook."""
    app.url_map.converters["int"] = BoundedInt
    app.before_request(refuse_bad_text)


def _label(name: str) -> str:
    """A field's name as the answer shows it (a name may itself hold the NUL)."""
    shown = name.replace("\x00", "\\0").encode("utf-8", "backslashreplace").decode("utf-8")
    return shown[:100] or "?"


def _bad_text(value: str) -> str | None:
    """Why a string cannot be stored, or None."""
    if "\x00" in value:
        return _("must not contain a NUL character (\\0)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return _("contains characters that are not valid text (a lone surrogate)")
    return None


def _refuse(problems: dict[str, list[str]]) -> None:
    if problems:
        named = dict(list(problems.items())[:MAX_NAMED])  # a body full of NULs: the first ones
        listed = "; ".join(f"{name}: {', '.join(why)}" for name, why in named.items())
        raise Invalid(_("Invalid input (%(problems)s).", problems=listed), named)


def _pairs() -> Iterator[tuple[str, str]]:
    """(field, value) of everything text-like the request carries except a JSON body."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            yield name, value
    yield from _multi(request.args.items(multi=True))
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        if request.path.startswith("/api/") and "Idempotency-Key" in request.headers:
            # the key's fingerprint is the raw body: kept before the form parser reads it
            request.get_data(cache=True)
        yield from _multi(request.form.items(multi=True))
        for name, file in request.files.items(multi=True):
            yield name, name
            yield name, file.filename or ""


def _multi(items: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    for name, value in items:
        yield name, name  # a field's name is text too
        yield name, value


def _json_problems(body: Any) -> dict[str, list[str]]:
    """Problems of a parsed JSON body, by dotted path (``loans.0.name``); walked without
    recursion."""
    problems: dict[str, list[str]] = {}
    stack: list[tuple[str, Any, int]] = [("", body, 0)]
    while stack:
        path, value, depth = stack.pop()
        where = path or "body"
        if isinstance(value, str):
            if (why := _bad_text(value)) is not None:
                problems.setdefault(_label(where), []).append(why)
        elif isinstance(value, bool) or value is None or isinstance(value, float):
            continue
        elif isinstance(value, int):
            if not in_int64(value):
                problems.setdefault(_label(where), []).append(_("number out of range"))
        elif depth >= MAX_JSON_DEPTH:
            problems.setdefault(_label(where), []).append(_("nested too deeply"))
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if (why := _bad_text(str(key))) is not None:
                    problems.setdefault(_label(child), []).append(why)
                stack.append((child, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}" if path else str(i), item, depth + 1) for i, item in enumerate(value))
    return problems


def refuse_bad_text() -> None:
    """422 naming the field for text no database column should take (see the module)."""
    problems: dict[str, list[str]] = {}
    for name, value in _pairs():
        if (why := _bad_text(value)) is not None and why not in problems.get(_label(name), []):
            problems.setdefault(_label(name), []).append(why)
    _refuse(problems)
    if request.method in ("GET", "HEAD", "OPTIONS") or not request.is_json:
        return
    try:
        body = request.get_json(silent=True)
    except RecursionError as err:  # nesting past Python's limit: json gives up this way
        message = _("The request body is nested too deeply.")
        raise Invalid(message, {"body": [_("nested too deeply")]}) from err
    _refuse(_json_problems(body))
