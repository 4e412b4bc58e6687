"""Turning a posted form into typed data and validating it against its schema."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

from flask_babel import gettext as _
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from webapp.errors import Invalid
from webapp.taskforms import keywords
from webapp.taskforms.schemas import FormSchema


class MultiDictLike(Protocol):
    """What is read of a posted form (werkzeug's MultiDict has it)."""

    def getlist(self, key: str) -> list[str]: ...

    def __contains__(self, key: object, /) -> bool: ...


MAX_ROWS = 500  # rows of a table read from a post, whatever its maxItems (which validation checks)


def coerce_form(form: FormSchema, posted: MultiDictLike) -> dict[str, Any]:
    """Posted strings to schema types; blanks are left out so that ``required`` catches them.

    A value that cannot be converted is kept as the string, so validation names the field.
    """
    data: dict[str, Any] = {}
    for name, prop in form.properties.items():
        kind = prop.get("type")
        if prop.get("x-widget") == keywords.FILES:
            continue  # uploaded files, not form fields (``webapp.taskforms.files``)
        if kind == "array" and prop.get("x-widget") == "rows":
            rows = [_coerce_row(prop, row) for row in posted_rows(posted, name, prop)]
            if rows:
                data[name] = rows
            continue
        if kind == "array":
            values = [v for v in posted.getlist(name) if v.strip()]
            if values:
                data[name] = values
            continue
        if kind == "boolean":
            if name in posted:
                data[name] = posted.getlist(name)[-1] in ("on", "true", "1", "yes")
            continue
        raw = (posted.getlist(name) or [""])[0].strip()
        if raw == "":
            continue
        data[name] = _convert(raw, kind)
    return data


def posted_rows(
    posted: MultiDictLike | Mapping[str, Any], name: str, prop: Mapping[str, Any]
) -> list[dict[str, str]]:
    """The rows of the table field ``name`` (``x-widget: rows``) as posted in fields
    ``name.<row>.<column>``: the raw strings, stripped, of each row with a value, in order.

    Rows whose inputs are all empty are dropped, so the row numbers of validation's messages
    (``name.0.amount``) are those of this list; the page renders the same list back. The
    rows posted are numbered from 0 without gaps (the page and its script number them so).
    """
    columns = list(prop.get("items", {}).get("properties", {}))
    rows: list[dict[str, str]] = []
    for index in range(MAX_ROWS):
        keys = {column: f"{name}.{index}.{column}" for column in columns}
        if not any(key in posted for key in keys.values()):
            break
        row = {column: _first(posted, key) for column, key in keys.items()}
        if any(row.values()):
            rows.append(row)
    return rows


def _first(posted: MultiDictLike | Mapping[str, Any], key: str) -> str:
    if isinstance(posted, Mapping) and not hasattr(posted, "getlist"):
        value = posted.get(key)
        return "" if value is None else str(value).strip()
    values = posted.getlist(key)
    return values[0].strip() if values else ""


def _coerce_row(prop: Mapping[str, Any], raw: Mapping[str, str]) -> dict[str, Any]:
    """One posted row to its item's types; blanks left out, as for a whole form."""
    columns: dict[str, dict[str, Any]] = prop.get("items", {}).get("properties", {})
    row: dict[str, Any] = {}
    for column, value in raw.items():
        if value == "":
            continue
        kind = columns.get(column, {}).get("type")
        if kind == "boolean":
            row[column] = value in ("on", "true", "1", "yes")
        else:
            row[column] = _convert(value, kind)
    return row


def _convert(raw: str, kind: str | None) -> Any:
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            number = float(raw)
            if not math.isfinite(number):
                return raw  # "nan", "inf": refused by validation as not a number
            return int(number) if number.is_integer() else number
    except ValueError:
        return raw
    return raw


def validate(form: FormSchema, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and return the data; raise ``Invalid`` with messages per field."""
    fields = field_errors(form.validator, data)
    if fields:
        raise Invalid(_("Please correct the highlighted fields."), fields)
    return dict(data)


def field_errors(validator: Validator, data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Messages per field path (``loans.0.principal``); empty when the data is valid. Callers
    checking many records build the validator once."""
    fields: dict[str, list[str]] = {}
    for path in _non_finite(data):
        fields.setdefault(path, []).append(_("Enter a valid number."))
    for error in validator.iter_errors(dict(data)):
        for field, message in _describe(error, data):
            fields.setdefault(field, [])
            if message not in fields[field]:
                fields[field].append(message)
    return fields


def _non_finite(value: Any, path: str = "") -> list[str]:
    """Paths of NaN and infinite numbers (JSON Schema's minimum/maximum let them through)."""
    if isinstance(value, float) and not math.isfinite(value):
        return [path or "_form"]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _non_finite(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite(v, f"{path}.{i}" if path else str(i))]
    return []


def _field(error: ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    return ".".join(path) if path else ""


def _describe(error: ValidationError, data: Mapping[str, Any]) -> list[tuple[str, str]]:
    if error.validator == "if":
        return []
    base = _field(error)
    prefix = f"{base}." if base else ""
    kind = error.validator
    if kind == "required":
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        return [
            (prefix + name, _("This field is required."))
            for name in error.validator_value
            if name not in instance
        ]
    if kind == "additionalProperties":
        return [(base or "_form", _("Unknown fields: %(names)s", names=error.message))]
    if kind == keywords.NOT_FUTURE:
        late = _("This date cannot be later than today (%(today)s).", today=keywords.today())
        return [(base or "_form", late)]
    files = isinstance(error.schema, Mapping) and error.schema.get("x-widget") == keywords.FILES
    if files and kind in ("minItems", "maxItems"):
        n = error.validator_value
        if kind == "minItems":
            message = _("Attach at least %(n)s files.", n=n)
        else:
            message = _("Attach at most %(n)s files.", n=n)
        return [(base or "_form", message)]
    messages = {
        "enum": _("Choose one of the offered values."),
        "const": _("This must be confirmed.")
        if error.validator_value is True
        else _("This value is not allowed here."),
        "not": _("This value is not allowed here."),
        "type": _("Enter a valid %(type)s.", type=_type_name(error.validator_value)),
        "minLength": _("This field is required.")
        if error.validator_value == 1
        else _("Enter at least %(n)s characters.", n=error.validator_value),
        "maxLength": _("Enter at most %(n)s characters.", n=error.validator_value),
        "minimum": _("Must be at least %(n)s.", n=error.validator_value),
        "exclusiveMinimum": _("Must be greater than %(n)s.", n=error.validator_value),
        "maximum": _("Must be at most %(n)s.", n=error.validator_value),
        "minItems": _("Enter at least %(n)s rows.", n=error.validator_value)
        if _is_rows(error.instance)
        else _("Choose at least %(n)s.", n=error.validator_value),
        "maxItems": _("Enter at most %(n)s rows.", n=error.validator_value)
        if _is_rows(error.instance)
        else _("Choose at most %(n)s.", n=error.validator_value),
        "uniqueItems": _("Each value may appear only once."),
        "format": _("Enter a valid date (YYYY-MM-DD).")
        if error.validator_value == "date"
        else _("Enter a valid value."),
    }
    return [(base or "_form", messages.get(str(kind), _("Enter a valid value.")))]


def _is_rows(instance: object) -> bool:
    """A list of objects: the rows of a table (messages speak of rows, not choices)."""
    return isinstance(instance, list) and any(isinstance(item, Mapping) for item in instance)


def _type_name(kind: object) -> str:
    names = {
        "integer": _("whole number"),
        "number": _("number"),
        "string": _("text"),
        "boolean": _("yes/no value"),
        "array": _("list"),
        "object": _("object"),
    }
    return names.get(str(kind), str(kind))
