"""Diagram expressions run restricted: imports, dunder walks and file access fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.make_diagram import script_diagram
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
