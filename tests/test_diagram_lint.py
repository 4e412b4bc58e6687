"""Every process diagram passes bpmnlint's recommended rules (installed from the npm registry
by `make vendor`), and its multi-instance collections are declared so that standard tools
resolve them while SpiffWorkflow reads them from the task data as before."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from webapp import engine

ROOT = Path(__file__).resolve().parent.parent
DIAGRAMS = sorted((ROOT / "processes").rglob("*.bpmn"))
BPMNLINT = ROOT / "node_modules" / ".bin" / "bpmnlint"
CONFIG = ROOT / ".bpmnlintrc"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
# the declaration a multi-instance activity carries for its collection (see test below)
PROPERTY = re.compile(r'\s*<bpmn:property id="[^"]+" name="[^"]+"/>')


def _bpmnlint(path: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: bpmnlint SKIPPED (`make test` installs it with `make vendor`)")
    assert BPMNLINT.exists(), "bpmnlint is missing from node_modules: run `make vendor` (npm ci)"
    return subprocess.run(  # noqa: S603 - the installed bpmnlint on our own files
        [str(BPMNLINT), "--config", str(CONFIG), "--max-warnings=0", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
    )


def test_there_are_diagrams_to_lint():
    assert any(path.name == "debt_case.bpmn" for path in DIAGRAMS)


@pytest.mark.parametrize("path", DIAGRAMS, ids=[p.name for p in DIAGRAMS])
def test_bpmnlint_recommended_rules_pass(path: Path):
    result = _bpmnlint(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "problem" not in result.stdout, result.stdout


def test_bpmnlint_reports_an_undeclared_collection(tmp_path: Path):
    # the check bites: the main diagram as it was before its collections were declared
    source = (ROOT / "processes" / "debt_case.bpmn").read_text(encoding="utf-8")
    undeclared = PROPERTY.sub("", source)
    assert undeclared != source
    path = tmp_path / "debt_case.bpmn"
    path.write_text(undeclared, encoding="utf-8")
    result = _bpmnlint(path)
    assert result.returncode != 0
    assert "unresolved reference <sanction_list>" in result.stdout, result.stdout
    assert "unresolved reference <lift_units>" in result.stdout, result.stdout


@pytest.mark.parametrize("path", DIAGRAMS, ids=[p.name for p in DIAGRAMS])
def test_each_loop_collection_is_a_property_of_its_activity_named_as_its_id(path: Path):
    """SpiffWorkflow 3.2 reads ``loopDataInputRef`` as the name of a task-data variable (of a
    ``dataInput`` if the activity has an ioSpecification, which would also cut the task's data
    down to its declared inputs); bpmn-moddle resolves it as the id of an item-aware element.
    A ``bpmn:property`` of the activity whose id and name are the variable satisfies both and
    leaves the engine's behaviour unchanged."""
    tree = etree.parse(str(path))
    refs = tree.xpath(
        "//bpmn:multiInstanceLoopCharacteristics/bpmn:loopDataInputRef"
        " | //bpmn:multiInstanceLoopCharacteristics/bpmn:loopDataOutputRef",
        namespaces=NS,
    )
    for ref in refs:
        activity = ref.getparent().getparent()
        declared = activity.xpath(f"./bpmn:property[@id='{ref.text}']", namespaces=NS)
        assert len(declared) == 1, f"{activity.get('id')}: {ref.text} is not a property of the activity"
        assert declared[0].get("name") == ref.text
        assert not activity.xpath("./bpmn:ioSpecification", namespaces=NS), activity.get("id")
        # one element with that id in the whole file, so the reference cannot mean another
        assert len(tree.xpath(f"//*[@id='{ref.text}']")) == 1


def test_the_declarations_leave_the_engine_definition_unchanged(tmp_path: Path):
    # the parsed, serialized spec is the same with or without them: only the content hash
    # (and so the deployed version) differs, and cases run exactly as before
    processes = ROOT / "processes"
    shutil.copytree(processes, tmp_path / "processes")
    main = tmp_path / "processes" / "debt_case.bpmn"
    main.write_text(PROPERTY.sub("", main.read_text(encoding="utf-8")), encoding="utf-8")
    declared = engine.load_directory(processes, "debt_case")
    undeclared = engine.load_directory(tmp_path / "processes", "debt_case")
    assert declared.sha256 != undeclared.sha256
    assert declared.spec_json == undeclared.spec_json
