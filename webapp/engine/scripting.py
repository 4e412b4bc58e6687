"""The restricted environment every BPMN expression and script runs in.

SpiffWorkflow evaluates conditions, scripts, timer and multi-instance expressions with
plain ``eval``/``exec`` and full builtins: a diagram could run ``__import__('os')``.
Emptying builtins alone is escaped through ``().__class__.__base__.__subclasses__()``, so
every expression is compiled by RestrictedPython (which rejects underscore names at
compile time) and run with its guards and a short list of harmless builtins.

The script engine is not part of the saved state: ``runtime`` sets it after every load.
"""

from __future__ import annotations

import operator
from functools import lru_cache
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

_EXTRA_BUILTINS = {
    "list": list,
    "dict": dict,
    "set": set,
    "min": min,
    "max": max,
    "sum": sum,
    "any": any,
    "all": all,
    "enumerate": enumerate,
    "sorted": sorted,
}

_INPLACE = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    if op not in _INPLACE:
        raise SyntaxError(f"operator {op} is not allowed in a diagram script")
    return _INPLACE[op](x, y)


_GUARDS: dict[str, Any] = {
    "_getattr_": safer_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
}
_BUILTINS = {**safe_builtins, **_EXTRA_BUILTINS}
_RESERVED = {*_GUARDS, "__builtins__", "__name__"}


class RestrictedScriptError(Exception):
    """A diagram expression that RestrictedPython refuses to compile."""


@lru_cache(maxsize=1024)
def _compile_eval(expression: str) -> Any:
    result = compile_restricted_eval(expression.strip())
    if result.errors or result.code is None:
        raise RestrictedScriptError("; ".join(result.errors) or "cannot compile expression")
    return result.code


@lru_cache(maxsize=1024)
def _compile_exec(script: str) -> Any:
    result = compile_restricted_exec(script)
    if result.errors or result.code is None:
        raise RestrictedScriptError("; ".join(result.errors) or "cannot compile script")
    return result.code


def _globals(context: dict[str, Any], external: dict[str, Any] | None) -> dict[str, Any]:
    """Task data first, guards last: data can never replace a guard (underscore names
    are not visible to scripts at all)."""
    glb: dict[str, Any] = {k: v for k, v in (external or {}).items() if not k.startswith("_")}
    glb.update({k: v for k, v in context.items() if not k.startswith("_")})
    glb.update({"__builtins__": _BUILTINS, "__name__": "bpmn", **_GUARDS})
    return glb


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Task data as the namespace, RestrictedPython as the compiler."""

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        return eval(_compile_eval(expression), _globals(context, external_context))  # noqa: S307

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        external = external_context or {}
        glb = _globals(context, external)
        exec(_compile_exec(script), glb)  # noqa: S102 - compiled by RestrictedPython with guards
        for name in list(context):
            if name not in glb and not name.startswith("_"):
                del context[name]
        for name, value in glb.items():
            if name in _RESERVED or name in external or callable(value):
                continue
            context[name] = value
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        raise NotImplementedError("service tasks are not available to diagrams")


def make_script_engine() -> PythonScriptEngine:
    return PythonScriptEngine(environment=RestrictedEnvironment())
