"""`flask cases upgrade-state`: stored states rewritten through the engine's serializer, and a
case that stalled under the hand-made restore of 2026-11 repaired with its next task.

The stalled case is made as production made it: the sanction items were created by the
timer worker, then each unit's step ran in a process whose spec objects came from the BPMN
parser (no join of the items wired), so the last item completed and nothing followed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from freezegun import freeze_time
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from tests.support import case_row, open_tasks
from tests.test_case_paths import START, _to_sanction
from tests.test_engine_state import _parsed_by_hand
from webapp import engine
from webapp.audit.chain import chain_of, verify_chain
from webapp.cases.versions import definition_of
from webapp.engine import state as engine_state
from webapp.models import Case, CaseEvent, ProcessVersion, Task


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


def _stall_as_before(app: Any, case_id: int) -> None:
    """Complete every sanction item with parser-made specs and store what that left."""
    with app.extensions["db_sessionmaker"]() as session:
        case = session.get(Case, case_id)
        version = session.get(ProcessVersion, case.process_version_id)
        spec, subprocess_specs = _parsed_by_hand()
        run = engine.CaseRun(definition_of(version), engine_state.loads(case.state, spec, subprocess_specs))
        for task in session.scalars(select(Task).where(Task.case_id == case_id, Task.status == "open")):
            run.complete(task.id, {"measures": ["m"]})
            task.status = "completed"
        assert run.snapshot({}).ready == [] and run.snapshot({}).next_timer_at is None
        case.state = run.dump()
        case.stage = "sanction"
        session.commit()


def test_upgrade_state_repairs_a_case_stalled_by_the_old_restore(app, browser, clock):
    case_id, _bank, _office = _to_sanction(app, browser, clock)
    _stall_as_before(app, case_id)
    cli = app.test_cli_runner()

    check = cli.invoke(args=["cases", "check"])
    assert check.exit_code == 1
    assert f"stalled  case {case_id}" in check.output

    upgraded = cli.invoke(args=["cases", "upgrade-state"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"case {case_id}: repaired apply_sanction" in upgraded.output
    assert open_tasks(app, case_id) == [("decide_referral", "office")]
    assert case_row(app, case_id).stage == "referral_decision"
    with app.extensions["db_sessionmaker"]() as session:
        kinds = list(
            session.scalars(
                select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
            )
        )
        assert kinds[-2:] == ["case_repaired", "task_opened"]
        assert verify_chain(session, chain_of(case_id)).ok

    assert cli.invoke(args=["cases", "check"]).exit_code == 0
    again = cli.invoke(args=["cases", "upgrade-state"])
    assert again.exit_code == 0 and "0 repaired" in again.output


def test_upgrade_state_rewrites_states_the_library_reads(app, browser, clock):
    case_id, _bank, _office = _to_sanction(app, browser, clock)
    with app.extensions["db_sessionmaker"]() as session:
        case = session.get(Case, case_id)
        version = session.get(ProcessVersion, case.process_version_id)
        # as the hand-made writer stored it: no typename at the top, compact separators
        dct = json.loads(case.state)
        dct.pop("typename")
        case.state = json.dumps(dct, separators=(",", ":"))
        session.commit()
        spec_json = version.spec_json
    result = app.test_cli_runner().invoke(args=["cases", "upgrade-state"])
    assert result.exit_code == 0, result.output
    stored = case_row(app, case_id).state
    assert json.loads(stored)["typename"] == "BpmnWorkflow"
    theirs = engine_state.library_load(stored, spec_json)
    ready = sorted(str(t.id) for t in theirs.get_tasks(state=TaskState.READY, manual=True))
    assert ready == sorted(t for t, _ in _open_ids(app, case_id))


def _open_ids(app: Any, case_id: int) -> list[tuple[str, str]]:
    with app.extensions["db_sessionmaker"]() as session:
        rows = session.execute(
            select(Task.id, Task.unit_code).where(Task.case_id == case_id, Task.status == "open")
        )
        return [(t, u) for t, u in rows]


def test_a_supervisor_sees_and_repairs_a_case_stalled_by_the_old_restore(app, browser, clock):
    case_id, _bank, _office = _to_sanction(app, browser, clock)
    _stall_as_before(app, case_id)
    supervisor = browser("supervisor")
    page = supervisor.get("/supervision/").get_data(as_text=True)
    assert f"/supervision/cases/{case_id}/retry" in page
    response = supervisor.post(f"/supervision/cases/{case_id}/retry", follow_redirects=True)
    assert response.status_code == 200
    assert "apply_sanction" in response.get_data(as_text=True)  # the flash names what was joined
    assert open_tasks(app, case_id) == [("decide_referral", "office")]
    with app.extensions["db_sessionmaker"]() as session:
        kinds = session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id))
        assert "case_repaired" in set(kinds)
    assert f"/supervision/cases/{case_id}/retry" not in supervisor.get("/supervision/").get_data(as_text=True)
