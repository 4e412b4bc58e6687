"""The engine's own task and workflow converters (engine/runtime.py) write and read exactly
what SpiffWorkflow's serializer does, at every step of the main path, the referral loop and
a rejected report: the saved state stays SpiffWorkflow's format, and a state read by either
comes back the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from webapp import catalog, engine
from webapp.engine.definitions import SERIALIZER

PROCESSES = Path(__file__).resolve().parent.parent / "processes"
DEFINITION = engine.load_directory(PROCESSES, "debt_case")
LANES = catalog.load(str(PROCESSES)).dynamic_lanes
SPEC_KEYS = ("spec", "subprocess_specs", "typename", SERIALIZER.VERSION_KEY)
START = {
    "case_id": 1,
    "debtor_kind": "enterprise",
    "creditor_bank": "bank_icbc",
    "creditor_banks": ["bank_icbc"],
    "employer_unit": None,
    "sanction_units": ["court", "ndrc"],
    "monitoring_period": "P90D",
}


def _spiff_dict(workflow: Any) -> dict[str, Any]:
    """SpiffWorkflow's own dictionary of a workflow, without the definition."""
    full = SERIALIZER.to_dict(workflow)
    return {k: v for k, v in full.items() if k not in SPEC_KEYS}


def _spiff_load(state: str) -> Any:
    """The state read by SpiffWorkflow's own serializer (with the definition's specs)."""
    dct = json.loads(state)
    dct.update(json.loads(DEFINITION.spec_json), typename="BpmnWorkflow")
    return SERIALIZER.from_dict(dct)


def _check(run: engine.CaseRun) -> engine.CaseRun:
    """Save the run; both writers agree, and both readers read the state back the same."""
    state = run.dump()
    assert json.loads(state) == {**_spiff_dict(run.workflow), SERIALIZER.VERSION_KEY: SERIALIZER.VERSION}
    ours, theirs = engine.CaseRun.load(DEFINITION, state), _spiff_load(state)
    assert _spiff_dict(ours.workflow) == _spiff_dict(theirs)
    assert sorted(e.name for e in ours.workflow.waiting_events()) == sorted(
        e.name for e in theirs.waiting_events()
    )
    assert [str(t.id) for t in ours.workflow.get_tasks()] == [str(t.id) for t in theirs.get_tasks()]
    return ours


def _complete(run: engine.CaseRun, element: str, data: dict[str, Any]) -> engine.CaseRun:
    ready = [r for r in run.snapshot(LANES).ready if r.element_id == element]
    assert ready, f"{element} is not ready: {[r.element_id for r in run.snapshot(LANES).ready]}"
    run.complete(ready[0].id, data)
    return _check(run)


def _sanctioned() -> engine.CaseRun:
    run = _check(engine.CaseRun.start(DEFINITION, START))
    run = _complete(run, "review", {"review_decision": "confirm", "classification": "evasion"})
    run = _complete(run, "interview", {"interview_date": "2026-03-02", "rectification_days": 1})
    assert run.expire_timers() == 1
    run = _check(run)
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
