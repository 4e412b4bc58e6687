"""A case's engine state is SpiffWorkflow's own format, written and read by its serializer:
at every step of the main path, the referral loop and the other review outcomes, the stored
state read back by the library's unchanged deserializer (the definition put back in) gives
the same tasks, ready tasks and waiting events as the app's load, and writes back the same.
And a case runs on when each of its steps runs in a fresh interpreter (the production shape:
web workers and the timer worker), which the hand-made restore of 2026-11 did not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from webapp import catalog, engine
from webapp.engine import state as engine_state

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
DEFINITION = engine.load_directory(PROCESSES, "debt_case")
LANES = catalog.load(str(PROCESSES)).dynamic_lanes
START = {
    "case_id": 1,
    "debtor_kind": "enterprise",
    "creditor_bank": "bank_icbc",
    "creditor_banks": ["bank_icbc"],
    "employer_unit": None,
    "sanction_units": ["court", "ndrc"],
    "monitoring_period": "P90D",
}
LIBRARY = engine_state.LIBRARY_SERIALIZER


def _without_definition(dct: dict[str, Any]) -> dict[str, Any]:
    drop = {*engine_state.SPEC_KEYS, "typename", LIBRARY.VERSION_KEY}
    return {k: v for k, v in dct.items() if k not in drop}


def _ready(workflow: Any) -> list[tuple[str, str]]:
    tasks = workflow.get_tasks(state=TaskState.READY, manual=True)
    return sorted((str(t.id), t.task_spec.name) for t in tasks)


def _check(run: engine.CaseRun) -> engine.CaseRun:
    """Save the run; the library's own deserializer reads the same case the app reads."""
    stored = run.dump()
    ours = engine.CaseRun.load(DEFINITION, stored)
    theirs = engine_state.library_load(stored, DEFINITION.spec_json)
    assert _without_definition(LIBRARY.to_dict(theirs)) == _without_definition(json.loads(stored))
    assert _without_definition(engine_state.SERIALIZER.to_dict(ours.workflow)) == _without_definition(
        json.loads(stored)
    )
    assert [str(t.id) for t in ours.workflow.get_tasks()] == [str(t.id) for t in theirs.get_tasks()]
    assert _ready(ours.workflow) == _ready(theirs)
    assert sorted(e.name for e in ours.workflow.waiting_events()) == sorted(
        e.name for e in theirs.waiting_events()
    )
    return ours


def _complete(run: engine.CaseRun, element: str, data: dict[str, Any]) -> engine.CaseRun:
    ready = [r for r in run.snapshot(LANES).ready if r.element_id == element]
    assert ready, f"{element} is not ready: {[r.element_id for r in run.snapshot(LANES).ready]}"
    run.complete(ready[0].id, data)
    return _check(run)


# the main path's steps before joint sanction: the review, the regulator's and the market
# regulator's tasks beside the path, the interview; then (the deadline passed) the office's
# assessment, sanction in full
REVIEW = {"review_decision": "confirm", "classification": "evasion"}
NOTICES = (
    ("notify_banks", {"notice_date": "2026-03-03", "notice_document_no": "N-1"}),
    ("lookup_holdings", {"holdings_found": "none"}),
)
INTERVIEW = {"interview_date": "2026-03-02", "rectification_days": 1}
ASSESSMENT = {"assessment": "full"}


def _sanctioned() -> engine.CaseRun:
    run = _check(engine.CaseRun.start(DEFINITION, START))
    run = _complete(run, "review", REVIEW)
    for element, data in NOTICES:
        run = _complete(run, element, data)
    run = _complete(run, "interview", INTERVIEW)
    assert run.expire_timers() == 1
    run = _check(run)
    assert [r.element_id for r in run.snapshot(LANES).ready] == ["assess_rectification"]
    run = _complete(run, "assess_rectification", ASSESSMENT)
    for ready in run.snapshot(LANES).ready:
        run.complete(ready.id, {"measures": ["m"]})
        run = _check(run)
    return run


def test_main_path_to_delisting_reads_and_writes_as_spiffworkflow_does() -> None:
    run = _sanctioned()
    assert run.deliver_message("loan_settled", {"certificate_no": "JQ-1", "lift_units": ["court", "ndrc"]})
    run = _complete(_check(run), "verify_settlement", {"certificate_decision": "verified"})
    while run.snapshot(LANES).ready:
        run = _complete(run, "lift_sanction", {"lift_confirmed": True})
    assert run.snapshot(LANES).finished


def test_referral_loop_reads_and_writes_as_spiffworkflow_does() -> None:
    run = _sanctioned()
    for _ in range(3):
        run = _complete(run, "decide_referral", {"referral_decision": "court"})
        run = _complete(run, "answer_referral", {"referral_answer": "accepted"})
    assert any(r.element_id == "decide_referral" for r in run.snapshot(LANES).ready)


@pytest.mark.parametrize(
    "review",
    [
        {"review_decision": "reject", "reject_reason": "x"},
        {"review_decision": "confirm", "classification": "negotiation"},
        {"review_decision": "confirm", "classification": "market_exit"},
        {"review_decision": "confirm", "classification": "official_talk"},
    ],
)
def test_other_review_outcomes_read_and_write_as_spiffworkflow_does(review: dict[str, str]) -> None:
    run = _check(engine.CaseRun.start(DEFINITION, START))
    run = _complete(run, "review", review)
    assert run.snapshot(LANES).ready or run.snapshot(LANES).finished


def test_the_definition_joins_multi_instance_items_before_any_case_ran() -> None:
    """The spec objects come from the library's deserializer, which wires each
    multi-instance activity to its items' completion; the parser leaves that to the first
    item created in the process."""
    specs = [DEFINITION.spec, *DEFINITION.subprocess_specs.values()]
    loops = [(s, t) for s in specs for t in s.task_specs.values() if isinstance(t, MultiInstanceTask)]
    assert {t.bpmn_id for _, t in loops} >= {"apply_sanction", "lift_sanction"}
    for spec, task_spec in loops:
        assert spec.task_specs[task_spec.task_spec].completed_event.is_connected(task_spec.merge_child)


STEP_SCRIPT = """
import json, sys
from pathlib import Path
from webapp import catalog, engine
processes = Path(sys.argv[1])
definition = engine.load_directory(processes, "debt_case")
lanes = catalog.load(str(processes)).dynamic_lanes
state_file, action, arg = Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
if action == "start":
    run = engine.CaseRun.start(definition, arg)
else:
    run = engine.CaseRun.load(definition, state_file.read_text())
    if action == "expire":
        run.expire_timers()
    else:
        ready = [r for r in run.snapshot(lanes).ready if r.element_id == action]
        run.complete(ready[0].id, arg)
state_file.write_text(run.dump())
snapshot = run.snapshot(lanes)
print(json.dumps([r.element_id for r in snapshot.ready]))
"""


def _step_in_fresh_interpreter(state_file: Path, action: str, arg: dict[str, Any]) -> list[str]:
    done = subprocess.run(  # noqa: S603 - the test's own interpreter and script
        [sys.executable, "-c", STEP_SCRIPT, str(PROCESSES), str(state_file), action, json.dumps(arg)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_joint_sanction_runs_on_with_every_step_in_a_fresh_interpreter(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    assert _step_in_fresh_interpreter(state_file, "start", START) == ["review"]
    ready = _step_in_fresh_interpreter(state_file, "review", REVIEW)
    assert sorted(ready) == ["interview", "lookup_holdings", "notify_banks"]
    for element, data in NOTICES:
        _step_in_fresh_interpreter(state_file, element, data)
    assert _step_in_fresh_interpreter(state_file, "interview", INTERVIEW) == []
    assert _step_in_fresh_interpreter(state_file, "expire", {}) == ["assess_rectification"]
    ready = _step_in_fresh_interpreter(state_file, "assess_rectification", ASSESSMENT)
    assert ready == ["apply_sanction"] * 3
    for left in (2, 1):
        ready = _step_in_fresh_interpreter(state_file, "apply_sanction", {"measures": ["m"]})
        assert ready == ["apply_sanction"] * left
    # the last item: the multi-instance activity joins its items and the case goes on
    ready = _step_in_fresh_interpreter(state_file, "apply_sanction", {"measures": ["m"]})
    assert ready == ["decide_referral"]


def _parsed_by_hand() -> tuple[Any, Any]:
    """Spec objects as the BPMN parser makes them (no join wired until an item is created in
    this very process): how cases ran before 2026-12."""
    parser = SpiffBpmnParser()
    for path in sorted(PROCESSES.glob("*.bpmn")):
        parser.add_bpmn_file(str(path))
    return parser.get_spec("debt_case"), parser.get_subprocess_specs("debt_case")


def stalled_state() -> str:
    """A joint-sanction case stalled as in production before 2026-12: its sanction items were
    created by one process and completed by another whose spec had no join."""
    run = engine.CaseRun.start(DEFINITION, START)
    for element, data in (("review", REVIEW), *NOTICES, ("interview", INTERVIEW)):
        run.complete(next(r.id for r in run.snapshot(LANES).ready if r.element_id == element), data)
    run.expire_timers()
    # the office's assessment creates the sanction items in this process
    run.complete(next(r.id for r in run.snapshot(LANES).ready), ASSESSMENT)
    assert [r.element_id for r in run.snapshot(LANES).ready] == ["apply_sanction"] * 3
    stored = run.dump()
    spec, subprocess_specs = _parsed_by_hand()
    other = engine.CaseRun(DEFINITION, engine_state.loads(stored, spec, subprocess_specs))
    while ready := other.snapshot(LANES).ready:
        other.complete(ready[0].id, {"measures": ["m"]})
    assert other.snapshot(LANES).ready == [] and other.snapshot(LANES).next_timer_at is None
    return other.dump()


def test_repair_joins_the_items_of_a_stalled_case_and_runs_it_on() -> None:
    run = engine.CaseRun.load(DEFINITION, stalled_state())
    assert run.snapshot(LANES).ready == []
    assert run.repair() == ["apply_sanction"] * 3
    assert [r.element_id for r in run.snapshot(LANES).ready] == ["decide_referral"]
    run = _check(run)
    assert run.repair() == []  # nothing left to join


@pytest.mark.parametrize("state_file", ["state-2026-11.json"])
def test_a_state_saved_by_the_hand_made_writer_of_2026_11_loads(state_file: str) -> None:
    """States stored before the serializer wrote a typename at their top still load."""
    stored = (ROOT / "tests" / "data" / state_file).read_text()
    run = engine.CaseRun.load(DEFINITION, stored)
    assert run.repair() == ["apply_sanction"] * 3
    assert [r.element_id for r in run.snapshot(LANES).ready] == ["decide_referral"]
