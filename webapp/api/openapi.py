"""The API's OpenAPI 3.1 document: ``openapi.json`` beside this module, with the report
schema taken from forms/report.json and the court's listing from forms/court_listing.json, so
the document and the validation never differ."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from webapp.taskforms import load_schema

HERE = Path(__file__).resolve().parent


@cache
def _base() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((HERE / "openapi.json").read_text(encoding="utf-8"))
    return document


def document(forms_dir: str) -> dict[str, Any]:
    doc = copy.deepcopy(_base())
    for name, form in (("Report", "report.json"), ("Listing", "court_listing.json")):
        schema = load_schema(forms_dir, form).schema
        for key in ("$schema", "$id"):
            schema.pop(key, None)
        doc["components"]["schemas"][name] = schema
    return doc
