"""A case's engine state holds what is unfinished, not its whole history (engine.compact).

Run at the engine level (load, complete, save every step) along the main diagram: the
referral loop repeats far past the depth where SpiffWorkflow used to stall (about 333
rounds), the saved state stays the same size, and the case still reaches delisting with
the data it gathered before the history was dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from webapp import catalog, engine

PROCESSES = Path(__file__).resolve().parent.parent / "processes"
DEFINITION = engine.load_directory(PROCESSES, "debt_case")
LANES = catalog.load(str(PROCESSES)).dynamic_lanes
SANCTION_UNITS = ["court", "ndrc", "market"]


def _saved(run: engine.CaseRun) -> engine.CaseRun:
    return engine.CaseRun.load(DEFINITION, run.dump())


def _complete(run: engine.CaseRun, element: str, data: dict[str, Any]) -> engine.CaseRun:
    ready = [r for r in run.snapshot(LANES).ready if r.element_id == element]
    assert ready, f"{element} is not ready: {[r.element_id for r in run.snapshot(LANES).ready]}"
    run.complete(ready[0].id, data)
    return _saved(run)


def _tasks(state: str) -> int:
    dct = json.loads(state)
    return len(dct["tasks"]) + sum(len(sp["tasks"]) for sp in dct["subprocesses"].values())


def _at_referral() -> engine.CaseRun:
    run = engine.CaseRun.start(
        DEFINITION,
        {
            "case_id": 1,
            "debtor_kind": "enterprise",
            "creditor_bank": "bank_icbc",
            "creditor_banks": ["bank_icbc"],
            "employer_unit": None,
            "sanction_units": SANCTION_UNITS,
            "monitoring_period": "P90D",
        },
    )
    run = _complete(_saved(run), "review", {"review_decision": "confirm", "classification": "evasion"})
    # the regulator's and the market regulator's tasks beside the path
    run = _complete(run, "notify_banks", {"notice_date": "2026-03-03", "notice_document_no": "N-1"})
    run = _complete(run, "lookup_holdings", {"holdings_found": "none"})
    run = _complete(run, "interview", {"interview_date": "2026-03-02", "rectification_days": 1})
    assert run.expire_timers() == 1
    run = _complete(_saved(run), "assess_rectification", {"assessment": "full"})
    for ready in run.snapshot(LANES).ready:
        run.complete(ready.id, {"measures": ["m"]})
    return _saved(run)


def _referral_round(run: engine.CaseRun, n: int) -> engine.CaseRun:
    run = _complete(run, "decide_referral", {"referral_decision": "court", "referral_reason": f"r{n}"})
    return _complete(
        run,
        "answer_referral",
        # not filed: the answer goes back to the office's decision (a filing opens the court's
        # judgment first)
        {
            "referral_answer": "not_filed",
            "answer_document_no": str(n),
            "answer_date": "2026-04-10",
            "answer_reasons": "证据不足",
        },
    )


def test_a_loop_runs_past_the_old_depth_limit_with_a_state_that_does_not_grow():
    run = _at_referral()
    sizes = []
    for n in range(400):
        run = _referral_round(run, n)
        if n in (5, 399):
            sizes.append((_tasks(run.dump()), len(run.dump())))
    assert [r.element_id for r in run.snapshot(LANES).ready] == ["decide_referral"]
    (tasks_early, bytes_early), (tasks_late, bytes_late) = sizes
    assert tasks_late == tasks_early
    assert bytes_late <= bytes_early + 100  # ids and numbers may differ by a few characters


def test_data_gathered_before_the_history_was_dropped_still_drives_the_case():
    run = _referral_round(_at_referral(), 0)
    # the loan is settled: the units whose sanctions are in force lift them, then it ends
    units = ["bank_icbc", *SANCTION_UNITS]
    assert run.deliver_message("loan_settled", {"certificate_no": "JQ", "lift_units": units})
    run = _complete(_saved(run), "verify_settlement", {"certificate_decision": "verified"})
    snapshot = run.snapshot(LANES)
    assert sorted(r.assignee or "" for r in snapshot.ready) == sorted(units)
    for ready in snapshot.ready:
        run.complete(ready.id, {"lift_confirmed": True})
    run = _saved(run)
    assert run.snapshot(LANES).finished
