"""Loading form schemas and resolving their server-filled parts.

Conventions (all optional) on top of JSON Schema, for rendering only:
``title`` (Chinese) and ``x-title-en``; ``x-enum-titles`` / ``x-enum-titles-en``;
``x-widget`` (radio, select, textarea, checkboxes, rows); ``x-options`` (enum filled by the
server, e.g. the sanction measures of the task's unit); ``x-default`` (default from
settings, e.g. the rectification period). Against the case data the task's element names
(its context): ``x-context-if`` on a property or an ``allOf`` entry keeps it only while that
context value is true (the certificate on a plan's last instalment); ``x-enum-unless`` maps an
enum value to a context value that withdraws it (no second extension of a deadline). A form's
top-level ``x-context`` lists what its task page shows above it (``repayments``: the
rectification progress, for the office's assessment). ``x-widget: files`` on an array makes it
a field of uploaded files (``webapp.taskforms.files``; its items are filled in here);
``x-not-future`` on a date refuses a day after today (local), for what already happened.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator

from webapp.errors import NotFound
from webapp.taskforms import keywords


@dataclass(frozen=True, eq=False)
class FormSchema:
    name: str
    schema: dict[str, Any]

    @cached_property
    def validator(self) -> Validator:
        """The compiled validator, built once per schema (a resolved form is shared)."""
        return keywords.FormValidator(self.schema, format_checker=FormatChecker())

    @property
    def properties(self) -> dict[str, dict[str, Any]]:
        props: dict[str, dict[str, Any]] = self.schema.get("properties", {})
        return props

    def title(self, locale: str) -> str:
        return localized(self.schema, "title", locale)


def localized(node: dict[str, Any], key: str, locale: str) -> str:
    if locale.startswith("en") and f"x-{key}-en" in node:
        return str(node[f"x-{key}-en"])
    return str(node.get(key, ""))


def enum_title(node: dict[str, Any], value: str, locale: str) -> str:
    key = "x-enum-titles-en" if locale.startswith("en") else "x-enum-titles"
    return str(node.get(key, {}).get(value, value))


@cache
def _load(forms_dir: str, name: str) -> dict[str, Any]:
    path = Path(forms_dir) / name
    if Path(name).name != name or not path.is_file():
        raise NotFound(f"form {name} not found")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as err:
        raise ValueError(f"{name} is not a valid JSON Schema: {err.message}") from err
    for prop in schema.get("properties", {}).values():
        if isinstance(prop, dict) and prop.get("x-widget") == keywords.FILES:
            prop["items"] = copy.deepcopy(keywords.FILE_ITEM)
    return schema


def load_schema(forms_dir: str, name: str) -> FormSchema:
    return FormSchema(name, copy.deepcopy(_load(forms_dir, name)))


def resolve_schema(
    forms_dir: str,
    name: str,
    options: dict[str, list[tuple[str, str, str]]],
    defaults: dict[str, Any],
    debtor_kind: str | None = None,
    context: dict[str, Any] | None = None,
) -> FormSchema:
    """The form ``name`` with its ``x-options`` enums filled (value, zh, en) and its
    ``x-default`` defaults set, without the enum values that ``x-debtor-kinds`` reserves for
    other kinds of debtor.

    Resolved once per distinct input and shared (a form page and a completion resolved it on
    every request): callers must not change the result.
    """
    frozen_options = tuple(sorted((key, tuple(choices)) for key, choices in options.items()))
    # only whether each context value is true matters to a form
    flags = tuple(sorted((key, bool(value)) for key, value in (context or {}).items()))
    return _resolved(forms_dir, name, frozen_options, tuple(sorted(defaults.items())), debtor_kind, flags)


@lru_cache(maxsize=1024)
def _resolved(
    forms_dir: str,
    name: str,
    options: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...],
    defaults: tuple[tuple[str, Any], ...],
    debtor_kind: str | None,
    context: tuple[tuple[str, bool], ...] = (),
) -> FormSchema:
    choices_of, default_of, flags = dict(options), dict(defaults), dict(context)
    schema = _apply_context(copy.deepcopy(_load(forms_dir, name)), flags)
    for prop in schema.get("properties", {}).values():
        reserved = prop.get("x-debtor-kinds", {})
        if reserved and debtor_kind is not None and "enum" in prop:
            prop["enum"] = [v for v in prop["enum"] if v not in reserved or debtor_kind in reserved[v]]
        source = prop.get("x-options")
        if source:
            choices = choices_of.get(source, ())
            target = prop["items"] if prop.get("type") == "array" else prop
            target["enum"] = [value for value, _, _ in choices]
            prop["x-enum-titles"] = {value: zh for value, zh, _ in choices}
            prop["x-enum-titles-en"] = {value: en for value, _, en in choices}
        withdrawn = {value for value, flag in prop.get("x-enum-unless", {}).items() if flags.get(flag)}
        if withdrawn and "enum" in prop:
            prop["enum"] = [v for v in prop["enum"] if v not in withdrawn]
        if prop.get("x-default") in default_of:
            prop["default"] = default_of[prop["x-default"]]
    return FormSchema(name, schema)


def _apply_context(schema: dict[str, Any], flags: dict[str, bool]) -> dict[str, Any]:
    """Drop the properties and ``allOf`` entries whose ``x-context-if`` value is not true."""
    props = schema.get("properties", {})
    gone = {
        name for name, prop in props.items() if "x-context-if" in prop and not flags.get(prop["x-context-if"])
    }
    for name in gone:
        del props[name]
    if gone and "required" in schema:
        schema["required"] = [name for name in schema["required"] if name not in gone]
    if "allOf" in schema:
        schema["allOf"] = [
            entry
            for entry in schema["allOf"]
            if "x-context-if" not in entry or flags.get(entry["x-context-if"])
        ]
    return schema
