"""Turning a posted form into typed data and validating it against its schema."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

from flask_babel import gettext as _
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from webapp.errors import Invalid
from webapp.taskforms.schemas import FormSchema


class MultiDictLike(Protocol):
    """What is read of a posted form (werkzeug's MultiDict has it)."""

    def getlist(self, key: str) -> list[str]: ...

    def __contains__(self, key: object, /) -> bool: ...


def coerce_form(form: FormSchema, posted: MultiDictLike) -> dict[str, Any]:
    """Posted strings to schema types; blanks are left out so that ``required`` catches them.

    A value that cannot be converted is kept as the string, so validation names the field.
    """
    data: dict[str, Any] = {}
    for name, prop in form.properties.items():
        kind = prop.get("type")
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


def field_errors(validator: Draft202012Validator, data: Mapping[str, Any]) -> dict[str, list[str]]:
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
        "minItems": _("Choose at least %(n)s.", n=error.validator_value),
        "maxItems": _("Choose at most %(n)s.", n=error.validator_value),
        "uniqueItems": _("Each value may appear only once."),
        "format": _("Enter a valid date (YYYY-MM-DD).")
        if error.validator_value == "date"
        else _("Enter a valid value."),
    }
    return [(base or "_form", messages.get(str(kind), _("Enter a valid value.")))]


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
