"""Which fields of a form are shown only under a condition on another field.

Derived from the schema's ``allOf`` entries ``{"if": {"properties": {X: {"const": V}},
"required": [X]}, "then": {"required": [...]}, "else": {"required": [...]}}`` (``enum``
instead of ``const`` is read too): a property outside the top-level ``required`` that an
entry's ``then`` requires is shown when X is one of those entries' values; one that only
``else`` requires (of entries with one value) is shown when X is not that value. A property
required in ways that do not reduce to one such condition stays always shown, as does
every field when the page runs no script. ``x-show-when: {"field": X, "values": [...],
"negate": false}`` on a property wins over the derivation.

The server validates the schema itself either way; this only says what to hide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ShowWhen:
    """Show the field when ``field`` has one of ``values`` (none of them if ``negate``);
    ``required`` says the schema then requires it (the page marks it so)."""

    field: str
    values: tuple[Any, ...]
    negate: bool = False
    required: bool = False


def show_conditions(schema: Mapping[str, Any]) -> dict[str, ShowWhen]:
    """The conditional properties of ``schema``, by name."""
    always = set(schema.get("required", []))
    then_of: dict[str, dict[str, list[Any]]] = {}  # property -> controlling field -> values
    else_of: dict[str, dict[str, list[Any]]] = {}
    for entry in schema.get("allOf", []):
        test = _test(entry.get("if")) if isinstance(entry, Mapping) else None
        if test is None:
            continue
        field, values = test
        for branch, into in (("then", then_of), ("else", else_of)):
            for name in _required(entry.get(branch)):
                into.setdefault(name, {}).setdefault(field, []).extend(values)

    conditions: dict[str, ShowWhen] = {}
    for name, prop in schema.get("properties", {}).items():
        derived = None if name in always else _derive(then_of.get(name), else_of.get(name))
        override = _override(prop.get("x-show-when")) if isinstance(prop, Mapping) else None
        if override is not None:
            conditions[name] = ShowWhen(
                override.field, override.values, override.negate, required=derived is not None
            )
        elif derived is not None:
            conditions[name] = derived
    return conditions


def _test(node: Any) -> tuple[str, list[Any]] | None:
    """(X, values) of an ``if`` that holds when the single field X has one of the values."""
    if not isinstance(node, Mapping) or set(node) - {"properties", "required"}:
        return None
    properties = node.get("properties")
    if not isinstance(properties, Mapping) or len(properties) != 1:
        return None
    ((field, check),) = properties.items()
    if node.get("required") != [field] or not isinstance(check, Mapping):
        return None  # an absent X would pass the test: not a condition on its value
    if set(check) == {"const"}:
        return field, [check["const"]]
    if set(check) == {"enum"} and isinstance(check["enum"], list):
        return field, list(check["enum"])
    return None


def _required(branch: Any) -> list[str]:
    if not isinstance(branch, Mapping):
        return []
    names = branch.get("required", [])
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def _derive(then: dict[str, list[Any]] | None, otherwise: dict[str, list[Any]] | None) -> ShowWhen | None:
    if then and not otherwise and len(then) == 1:
        ((field, values),) = then.items()
        return ShowWhen(field, _unique(values), required=True)
    if otherwise and not then and len(otherwise) == 1:
        ((field, values),) = otherwise.items()
        distinct = _unique(values)
        # required unless X is V1, or unless X is V2: always required when there are two
        if len(distinct) == 1:
            return ShowWhen(field, distinct, negate=True, required=True)
    return None


def _override(node: Any) -> ShowWhen | None:
    if not isinstance(node, Mapping) or not isinstance(node.get("field"), str):
        return None
    values = node.get("values", [])
    if not isinstance(values, list):
        return None
    return ShowWhen(node["field"], _unique(values), negate=bool(node.get("negate", False)))


def _unique(values: list[Any]) -> tuple[Any, ...]:
    seen: list[Any] = []
    for value in values:
        # True == 1 in Python: compare type too, as the page's script does
        if not any(value == s and type(value) is type(s) for s in seen):
            seen.append(value)
    return tuple(seen)
