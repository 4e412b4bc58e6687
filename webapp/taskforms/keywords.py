"""The keywords forms add to JSON Schema for validation: ``x-not-future`` on dates, and the
shape of a file field's items (``x-widget: files``, see ``webapp.taskforms.files``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from webapp.clock import now
from webapp.deadlines.calendar import LOCAL

FILES = "files"
NOT_FUTURE = "x-not-future"

# one stored file as the submitted data holds it; made by the server only, from an upload
FILE_ITEM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "maxLength": 255},
        "size": {"type": "integer", "minimum": 1},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    },
    "required": ["id", "name", "size", "sha256"],
    "additionalProperties": False,
}


def today() -> dt.date:
    """Today where the units work (the day a form's date is compared with)."""
    return now().astimezone(LOCAL).date()


def _not_future(validator: Any, wanted: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not wanted or not isinstance(instance, str):
        return
    try:
        day = dt.date.fromisoformat(instance)
    except ValueError:
        return  # not a date: ``format`` names it
    if day > today():
        yield ValidationError(f"{instance} is after today")


FormValidator = validators.extend(Draft202012Validator, {NOT_FUTURE: _not_future})
