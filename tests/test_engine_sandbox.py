"""Diagram expressions run restricted: imports, dunder walks and file access fail, and
expressions that would hang a step or exhaust memory are refused quickly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.data.make_diagram import script_diagram
from tests.support import Browser, app_with_edited_diagram, case_row, open_task_id, open_tasks, report_payload
from webapp import engine


def _run(script: str, condition: str | None = None, data: dict | None = None) -> engine.CaseRun:
    definition = engine.parse("probe", {"probe.bpmn": script_diagram("probe", script, condition)})
    return engine.CaseRun.start(definition, data or {})


@pytest.mark.parametrize(
    "script",
    [
        "x = __import__('os').system('touch /tmp/liandong-pwned')",
        "x = ().__class__.__base__.__subclasses__()",
        "x = [c for c in ().__class__.__mro__[1].__subclasses__() if c.__name__ == 'Popen']",
        "x = open('/etc/passwd').read()",
        "import os\nx = os.getcwd()",
        "x = getattr((), '__class__')",
        "x = eval('1 + 1')",
        "x = (lambda: 0).__globals__",
    ],
)
def test_hostile_scripts_fail_and_do_nothing(script):
    marker = Path("/tmp/liandong-pwned")  # noqa: S108 - the file the hostile script would create
    marker.unlink(missing_ok=True)
    with pytest.raises(engine.EngineError):
        _run(script)
    assert not marker.exists()


def test_hostile_gateway_condition_fails():
    with pytest.raises(engine.EngineError):
        _run("x = 1", condition="().__class__.__base__.__subclasses__() != []")


def test_ordinary_scripts_still_work():
    run = _run(
        "items = [a + b for a, b in pairs]\ntotal = sum(items)\nlabel = 'P' + str(total) + 'D'\n"
        "counts = {}\ncounts['n'] = len(items)\nn = 0\nn += 2",
        condition="total == 10 and label == 'P10D'",
        data={"pairs": [[1, 2], [3, 4]]},
    )
    snapshot = run.snapshot({})
    assert [t.element_id for t in snapshot.ready] == ["task"]
    data = run.task_data(snapshot.ready[0].id)
    assert data["items"] == [3, 7] and data["counts"] == {"n": 2} and data["n"] == 2


def test_engine_stays_restricted_after_save_and_load():
    run = _run("x = 1")
    loaded = engine.CaseRun.load(run.definition, run.dump())
    from webapp.engine.scripting import RestrictedEnvironment

    assert isinstance(loaded.workflow.script_engine.environment, RestrictedEnvironment)


def test_unknown_variable_in_a_condition_is_an_engine_error():
    with pytest.raises(engine.EngineError, match="not_there"):
        _run("x = 1", condition="not_there == 1")


def test_task_data_cannot_replace_the_guards():
    """Data named like a guard (``_getattr_``) is invisible to scripts."""
    with pytest.raises(engine.EngineError):
        _run("x = ().__class__", data={"_getattr_": "anything"})
    run = _run("x = [v for v in items]", data={"_getiter_": 1, "items": [1, 2]})
    assert run.task_data(run.snapshot({}).ready[0].id)["x"] == [1, 2]


# what a diagram could do to hold a worker or exhaust its memory: each is refused before
# it runs (or stopped by the operation count or the deadline) and becomes an engine error
HOSTILE_EXPRESSIONS = [
    "10**10**8",
    "'a'*10**9",
    "sum(range(10**9))",
    "pow(10, 10**8)",
    "[0] * 10**9",
    "10**9 * 'a'",
    "1 << 10**9",
    "len(range(10**12))",
    "sum(sum(range(10**6)) for i in range(10**6))",
    "len([x for x in range(10**6) for y in range(10**6)])",
    "'x'.ljust(10**9)",
    "'-'.join(['a' * 10**5] * 10**5)",
    "('a' * 10**5).replace('a', 'b' * 10**5)",
    "f'{1:>1000000000}'",
    "'%1000000000d' % 1",
    "'%(v)1000000000d' % {'v': 1}",
    # each piece allowed, together too much memory
    "[[0] * 10**6 for i in range(10**6)]",
    "[list(range(10**6)) for i in range(1000)]",
    "[x[:] for x in [[0] * 10**6] for i in range(1000)]",
]
HOSTILE_SCRIPTS = [
    "while True:\n    pass",
    "x = 'a'\nfor i in range(100):\n    x += x",
    "n = 2\nfor i in range(100):\n    n = n * n",
    "items = [0] * 1000\nfor i in range(100):\n    items.extend(items)",
    "def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nx = f(100)",
    # the script catches the error: it is stopped all the same
    "while True:\n    try:\n        while True:\n            pass\n    except Exception:\n        pass",
    "try:\n    x = 'a' * 10**9\nexcept Exception:\n    x = 1",
]


def _quickly_refused(script: str, condition: str | None = None) -> str:
    started = time.monotonic()
    with pytest.raises(engine.EngineError, match="evaluation budget") as err:
        _run(script, condition=condition)
    assert time.monotonic() - started < 1.0
    return str(err.value)


@pytest.mark.parametrize("expression", HOSTILE_EXPRESSIONS)
def test_huge_expressions_are_refused_quickly(expression):
    _quickly_refused("x = 1", condition=f"({expression}) != 0")
    _quickly_refused(f"x = {expression}")


@pytest.mark.parametrize("script", HOSTILE_SCRIPTS)
def test_long_or_huge_scripts_are_refused_quickly(script):
    _quickly_refused(script)


def test_budgeted_operations_still_work():
    run = _run(
        "n = 0\nfor i in range(1000):\n    n += i\nbig = 2**64 * 3\ns = 'ab' * 3 + f'{n:>8}' + f'{n!r:>8}'\n"
        "t = '-'.join(['a', 'b']).replace('-', '+').ljust(5, '.')\nm = pow(3, 5, 7) + 7 % 3 - 1 // 1\n"
        "k = 0\nwhile k < 10:\n    k += 1\ndef double(v):\n    return v * 2\n"
        "d = [double(v) for v in [1, 2]]\nsq = sorted([(lambda v: v * v)(v) for v in [3, 1, 2]])\n"
        "e = [1]\ne.extend(d[:1])\np = '%s-%03d' % ('P', k)",
        condition="n == 499500 and k == 10",
    )
    data = run.task_data(run.snapshot({}).ready[0].id)
    assert data["big"] == 3 * 2**64 and data["s"] == "ababab  499500  499500"
    assert (data["t"], data["m"], data["d"], data["sq"]) == ("a+b..", 5, [2, 4], [1, 4, 9])
    assert (data["e"], data["p"]) == ([1, 2], "P-010")


def test_a_huge_gateway_condition_is_a_recorded_incident(app, users, tmp_path):
    """Through the door users use: the office's completion meets a diagram whose gateway
    computes ``10**10**8``; the step is refused at once and the case carries the incident."""
    broken = app_with_edited_diagram(
        app, tmp_path, "classification == 'negotiation'", "10**10**8 > 0 and classification == 'negotiation'"
    )
    try:
        case_id = Browser(broken, "bank_icbc").report(report_payload(1))
        task_id = open_task_id(app, case_id, "review")
        started = time.monotonic()
        response = Browser(broken, "office").post(
            f"/tasks/{task_id}", data={"review_decision": "confirm", "classification": "evasion"}
        )
        assert time.monotonic() - started < 5.0  # the request itself, not a hung step
        assert response.status_code == 409
        case = case_row(app, case_id)
        assert "evaluation budget" in (case.incident or "")
        assert open_tasks(app, case_id) == [("review", "office")]
    finally:
        broken.extensions["db_engine"].dispose()
