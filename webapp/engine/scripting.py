"""The restricted environment every BPMN expression and script runs in.

SpiffWorkflow evaluates conditions, scripts, timer and multi-instance expressions with
plain ``eval``/``exec`` and full builtins: a diagram could run ``__import__('os')``.
Emptying builtins alone is escaped through ``().__class__.__base__.__subclasses__()``, so
every expression is compiled by RestrictedPython (which rejects underscore names at
compile time) and run with its guards and a short list of harmless builtins.

Every evaluation also runs on a budget (``Budget``): a diagram must not hang a step or
exhaust memory (``10**10**8``, ``'a'*10**9``, ``sum(range(10**9))``, ``while True``). CPython
cannot interrupt one long C-level operation without signals (which gunicorn threads rule
out), so what could grow too large is refused before it runs: the compiler policy (a
subclass of RestrictedPython's, passed as its ``policy``) routes every binary operator, call
and f-string format through guards that check sizes, one at a time and added up; ``range``,
``pow`` and the padding/joining string methods are bounded versions; and every loop
iteration, ``while`` test and call ticks an operation counter that also checks a wall-clock
deadline. Exceeding the budget raises ``BudgetExceeded``, which the engine turns
into a recorded incident like any other expression error.

The script engine is not part of the saved state: ``runtime`` sets it after every load.
"""

from __future__ import annotations

import ast
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any, cast

from RestrictedPython import (
    RestrictingNodeTransformer,
    compile_restricted_eval,
    compile_restricted_exec,
    safe_builtins,
)
from RestrictedPython.Eval import default_guarded_getitem
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

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

# the evaluation budget: generous for diagrams that handle a few loans, far below what
# could hold a worker (a million loop iterations take about half a second)
MAX_SIZE = 1_000_000  # items of a string, bytes, list, tuple or range one operation may build
MAX_INT_BITS = 100_000  # about 30,000 decimal digits
MAX_BUILT = 5_000_000  # items built in all by one evaluation (a loop of large copies)
MAX_OPERATIONS = 1_000_000  # loop iterations, while tests and function calls of one evaluation
TIME_LIMIT = 0.5  # seconds of one evaluation

_BINARY: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", operator.mod),
    ast.Pow: ("**", operator.pow),
    ast.LShift: ("<<", operator.lshift),
    ast.RShift: (">>", operator.rshift),
    ast.BitOr: ("|", operator.or_),
    ast.BitXor: ("^", operator.xor),
    ast.BitAnd: ("&", operator.and_),
}
_OPERATORS = {symbol: function for symbol, function in _BINARY.values()}
_INPLACE = {"+=": "+", "-=": "-", "*=": "*", "/=": "/", "//=": "//", "%=": "%"}
_SEQUENCES = (str, bytes, list, tuple)


class RestrictedScriptError(Exception):
    """A diagram expression that RestrictedPython refuses to compile."""


class BudgetExceeded(RestrictedScriptError, SpiffWorkflowException):
    """A diagram expression that would run too long or build something too large (a
    SpiffWorkflow exception, so that the engine keeps this message in the incident)."""


def _is_int(x: Any) -> bool:
    return isinstance(x, int)


class Budget:
    """One evaluation's allowance: operations counted, a deadline, sizes checked before
    anything is built. Once exceeded it stays exceeded, so a script that catches the
    error is stopped at its next loop iteration all the same."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + TIME_LIMIT
        self.operations = 0
        self.built = 0
        self.exceeded = ""

    def refuse(self, why: str) -> BudgetExceeded:
        self.exceeded = self.exceeded or why
        return BudgetExceeded(f"the expression exceeds its evaluation budget: {why}")

    def tick(self) -> bool:
        self.operations += 1
        if self.exceeded:
            raise self.refuse(self.exceeded)
        if self.operations > MAX_OPERATIONS:
            raise self.refuse(f"more than {MAX_OPERATIONS} operations")
        if time.monotonic() > self.deadline:
            raise self.refuse(f"it ran longer than {TIME_LIMIT} s")
        return True

    def size(self, n: int, what: str) -> None:
        """Count ``n`` items about to be built: one thing, and all of them together, bounded
        (a time limit alone would let a loop allocate gigabytes first)."""
        if n > MAX_SIZE:
            raise self.refuse(f"{what} would have {n} items (at most {MAX_SIZE})")
        self.built += n
        if self.built > MAX_BUILT:
            raise self.refuse(f"more than {MAX_BUILT} items built in all")

    def bits(self, n: int, what: str) -> None:
        if n > MAX_INT_BITS:
            raise self.refuse(f"{what} would have about {n} bits (at most {MAX_INT_BITS})")

    def check_binary(self, symbol: str, x: Any, y: Any) -> None:
        """Refuse, before it runs, an operation whose result would be too large."""
        if symbol == "*":
            if isinstance(x, _SEQUENCES) and _is_int(y):
                self.size(len(x) * max(y, 0), "a repeated sequence")
            elif isinstance(y, _SEQUENCES) and _is_int(x):
                self.size(len(y) * max(x, 0), "a repeated sequence")
            elif _is_int(x) and _is_int(y):
                self.bits(abs(x).bit_length() + abs(y).bit_length(), "a product")
        elif symbol == "+" and isinstance(x, _SEQUENCES) and isinstance(y, _SEQUENCES):
            self.size(len(x) + len(y), "a concatenation")
        elif symbol == "**" and _is_int(x) and _is_int(y) and y > 0 and abs(x) > 1:
            self.bits((abs(x).bit_length() - 1) * y, "a power")
        elif symbol == "<<" and _is_int(x) and _is_int(y) and x:
            self.bits(abs(x).bit_length() + y, "a shifted number")
        elif symbol == "%" and isinstance(x, str | bytes):
            fmt = x if isinstance(x, str) else x.decode("latin-1")
            if re.search(r"%(\([^)]*\))?[^a-zA-Z%]*(\*|\d{7,})", fmt):
                raise self.refuse("a format width or precision too large to check")

    def binary(self, symbol: str, x: Any, y: Any) -> Any:
        self.tick()
        self.check_binary(symbol, x, y)
        return _OPERATORS[symbol](x, y)

    def inplace(self, op: str, x: Any, y: Any) -> Any:
        if op not in _INPLACE:
            raise SyntaxError(f"operator {op} is not allowed in a diagram script")
        return self.binary(_INPLACE[op], x, y)

    def iterate(self, ob: Iterable[Any]) -> Iterator[Any]:
        for item in ob:
            self.tick()
            yield item

    def format(self, value: Any, conversion: int, spec: str) -> str:
        """An f-string field with a format spec (``f'{x:>9}'``): its width is checked."""
        self.tick()
        if re.search(r"\d{7,}", spec):
            raise self.refuse("a format width or precision too large")
        if conversion == ord("r"):
            value = repr(value)
        elif conversion == ord("s"):
            value = str(value)
        elif conversion == ord("a"):
            value = ascii(value)
        return format(value, spec)

    def range(self, *args: int) -> range:
        result = range(*args)
        self.size(len(result), "a range")
        return result

    def pow(self, base: Any, exp: Any, mod: Any = None) -> Any:
        if mod is None:
            return self.binary("**", base, exp)
        return pow(base, exp, mod)  # modular powers stay as small as the modulus

    def getattr(self, ob: Any, name: str, default: Any = None) -> Any:
        """``safer_getattr``, with the string methods that build from a size bounded."""
        self.tick()
        attr = safer_getattr(ob, name, default)
        if isinstance(ob, str | bytes) and name in _SIZED_METHODS:
            return _SIZED_METHODS[name](self, ob, attr)
        return attr

    def getitem(self, ob: Any, index: Any) -> Any:
        self.tick()
        if isinstance(index, slice) and isinstance(ob, _SEQUENCES):
            self.size(len(range(*index.indices(len(ob)))), "a slice")
        return default_guarded_getitem(ob, index)

    def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Every call ticks; the builtins and methods that copy a collection count its size."""
        self.tick()
        owner = getattr(function, "__self__", None)
        if function in _COPYING or (
            isinstance(owner, list | dict | set) and getattr(function, "__name__", "") in _GROWING
        ):
            sizes = [len(a) for a in (owner, *args) if isinstance(a, list | dict | set | tuple | str | range)]
            self.size(sum(sizes), "a copied collection")
        return function(*args, **kwargs)

    def globals(self) -> dict[str, Any]:
        return {
            "_getattr_": self.getattr,
            "_getitem_": self.getitem,
            "_getiter_": self.iterate,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_write_": full_write_guard,
            "_inplacevar_": self.inplace,
            "_binop_": self.binary,
            "_tick_": self.tick,
            "_format_": self.format,
            "_call_": self.call,
        }


def _padding(budget: Budget, ob: Any, method: Callable[..., Any]) -> Callable[..., Any]:
    def bounded(width: int, *args: Any) -> Any:
        budget.size(width, "a padded string")
        return method(width, *args)

    return bounded


def _expandtabs(budget: Budget, ob: Any, method: Callable[..., Any]) -> Callable[..., Any]:
    def bounded(tabsize: int = 8) -> Any:
        budget.size(len(ob) * max(tabsize, 1), "a string with tabs expanded")
        return method(tabsize)

    return bounded


def _join(budget: Budget, ob: Any, method: Callable[..., Any]) -> Callable[..., Any]:
    def bounded(items: Iterable[Any]) -> Any:
        parts = list(budget.iterate(items))
        budget.size(sum(len(p) for p in parts if isinstance(p, str | bytes)) + len(ob) * len(parts), "a join")
        return method(parts)

    return bounded


def _replace(budget: Budget, ob: Any, method: Callable[..., Any]) -> Callable[..., Any]:
    def bounded(old: Any, new: Any, count: int = -1) -> Any:
        times = len(ob) + 1 if not old else ob.count(old)
        if count >= 0:
            times = min(times, count)
        budget.size(len(ob) + times * len(new), "a replaced string")
        return method(old, new, count)

    return bounded


_SIZED_METHODS: dict[str, Callable[[Budget, Any, Callable[..., Any]], Callable[..., Any]]] = {
    "ljust": _padding,
    "rjust": _padding,
    "center": _padding,
    "zfill": _padding,
    "expandtabs": _expandtabs,
    "join": _join,
    "replace": _replace,
}  # str.format is refused by safer_getattr already
# callables that build a collection as large as their arguments (methods by name, on the
# collection they grow)
_COPYING: tuple[Any, ...] = (list, dict, set, sorted)
_GROWING = {"extend", "update", "copy", "union", "intersection", "difference", "symmetric_difference"}
_BUILTINS = {**safe_builtins, **_EXTRA_BUILTINS}
_GUARD_NAMES = set(Budget().globals())
_RESERVED = {*_GUARD_NAMES, "__builtins__", "__name__"}


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=[])


def _located(new: ast.AST, old: ast.AST) -> Any:
    ast.copy_location(new, old)
    return ast.fix_missing_locations(new)


class BudgetedPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy (its ``policy`` argument), plus the budget's hooks: binary
    operators and f-string formats call guards, ``while`` tests, function and lambda bodies
    tick. The names it inserts start with an underscore, which sources cannot use."""

    def visit_BinOp(self, node: ast.BinOp) -> Any:  # noqa: N802 - ast.NodeVisitor names
        node = self.node_contents_visit(node)
        symbol, _function = _BINARY.get(type(node.op), ("", None))
        if not symbol:  # matrix multiplication: no type in a diagram has it
            self.error(node, "this operator is not allowed in a diagram expression")
            return node
        return _located(_call("_binop_", ast.Constant(symbol), node.left, node.right), node)

    def visit_Call(self, node: ast.Call) -> Any:  # noqa: N802 - ast.NodeVisitor names
        node = cast(ast.Call, super().visit_Call(node))
        call = ast.Call(
            func=ast.Name(id="_call_", ctx=ast.Load()), args=[node.func, *node.args], keywords=node.keywords
        )
        return _located(call, node)

    def visit_While(self, node: ast.While) -> Any:  # noqa: N802 - ast.NodeVisitor names
        node = self.node_contents_visit(node)
        node.test = _located(ast.BoolOp(op=ast.And(), values=[_call("_tick_"), node.test]), node.test)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:  # noqa: N802 - ast.NodeVisitor names
        node = cast(ast.FunctionDef, super().visit_FunctionDef(node))
        node.body.insert(0, _located(ast.Expr(_call("_tick_")), node.body[0]))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:  # noqa: N802 - ast.NodeVisitor names
        node = cast(ast.Lambda, super().visit_Lambda(node))
        node.body = _located(ast.BoolOp(op=ast.And(), values=[_call("_tick_"), node.body]), node.body)
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:  # noqa: N802 - ast.NodeVisitor names
        node = self.node_contents_visit(node)
        if node.format_spec is None:
            return node
        value = _call("_format_", node.value, ast.Constant(node.conversion), node.format_spec)
        return _located(ast.FormattedValue(value=value, conversion=-1, format_spec=None), node)


@lru_cache(maxsize=1024)
def _compile_eval(expression: str) -> Any:
    result = compile_restricted_eval(expression.strip(), policy=BudgetedPolicy)
    if result.errors or result.code is None:
        raise RestrictedScriptError("; ".join(result.errors) or "cannot compile expression")
    return result.code


@lru_cache(maxsize=1024)
def _compile_exec(script: str) -> Any:
    result = compile_restricted_exec(script, policy=BudgetedPolicy)
    if result.errors or result.code is None:
        raise RestrictedScriptError("; ".join(result.errors) or "cannot compile script")
    return result.code


def _globals(context: dict[str, Any], external: dict[str, Any] | None, budget: Budget) -> dict[str, Any]:
    """Task data first, guards last: data can never replace a guard (underscore names
    are not visible to scripts at all)."""
    glb: dict[str, Any] = {k: v for k, v in (external or {}).items() if not k.startswith("_")}
    glb.update({k: v for k, v in context.items() if not k.startswith("_")})
    builtins = {**_BUILTINS, "range": budget.range, "pow": budget.pow}
    glb.update({"__builtins__": builtins, "__name__": "bpmn", **budget.globals()})
    return glb


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Task data as the namespace, RestrictedPython as the compiler."""

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        budget = Budget()
        result = eval(_compile_eval(expression), _globals(context, external_context, budget))  # noqa: S307
        if budget.exceeded:  # the expression caught the error itself: still refused
            raise budget.refuse(budget.exceeded)
        return result

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        external = external_context or {}
        budget = Budget()
        glb = _globals(context, external, budget)
        exec(_compile_exec(script), glb)  # noqa: S102 - compiled by RestrictedPython with guards
        if budget.exceeded:  # the script caught the error itself: still refused
            raise budget.refuse(budget.exceeded)
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
