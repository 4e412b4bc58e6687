"""Running cases move to a newer version of their process.

The demo's cases (``flask demo``: at review, under a running rectification deadline, in joint
sanction, at an official's organisation talk, in a repayment plan, lifting after a closing,
and two closed ones) are moved to a changed copy of ``processes/debt_case.bpmn`` deployed as a
new version: one that keeps every element and adds a countersignature after the review, and
one that removes the organisation talk, where one demo case stands. The dry run's verdicts,
the move (through the admin pages and ``flask processes migrate``), the cases going on along
the new diagram, the blocked case staying untouched, the history chain and a second run that
moves nothing are checked on SQLite and PostgreSQL; one test runs the move and the next step
each in a fresh process.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from tests.processes_support import Deployment
from tests.support import PASSWORD, Browser, app_with_csrf, case_row, open_tasks
from webapp import create_app
from webapp.audit.chain import chain_of, verify_chain
from webapp.cases import steps
from webapp.engine import state as engine_state
from webapp.models import Case, CaseEvent, ProcessVersion, Task
from webapp.transactions import atomic

# the demo's cases in the order webapp/demo.py makes them
REVIEW, DEADLINE, SANCTION, OFFICIAL, REJECTED, DELISTED, PLAN, LIFTING = range(8)
RUNNING = [REVIEW, DEADLINE, SANCTION, OFFICIAL, PLAN, LIFTING]


# ---------------------------------------------------------------------------------------------
# changed copies of the diagram
# ---------------------------------------------------------------------------------------------
def _replace(text: str, old: str, new: str, count: int = 1) -> str:
    assert text.count(old) == count, f"{old!r} found {text.count(old)} times"
    return text.replace(old, new)


def add_countersignature(bpmn: str) -> str:
    """A new office task ``review_countersign`` between the review and its decision; every
    element of the diagram stays."""
    bpmn = _replace(
        bpmn,
        "<bpmn:outgoing>Flow_review_to_gw_review</bpmn:outgoing>",
        "<bpmn:outgoing>Flow_review_to_countersign</bpmn:outgoing>",
    )
    bpmn = _replace(
        bpmn,
        '<bpmn:exclusiveGateway id="gw_review"',
        '<bpmn:userTask id="review_countersign" name="复核会签 Countersign the review">\n'
        "        <bpmn:incoming>Flow_review_to_countersign</bpmn:incoming>\n"
        "        <bpmn:outgoing>Flow_review_to_gw_review</bpmn:outgoing>\n"
        "      </bpmn:userTask>\n"
        '      <bpmn:exclusiveGateway id="gw_review"',
    )
    bpmn = _replace(
        bpmn,
        '<bpmn:sequenceFlow id="Flow_review_to_gw_review" sourceRef="review"',
        '<bpmn:sequenceFlow id="Flow_review_to_countersign" sourceRef="review" '
        'targetRef="review_countersign"/>\n'
        '      <bpmn:sequenceFlow id="Flow_review_to_gw_review" sourceRef="review_countersign"',
    )
    return _replace(
        bpmn,
        "<bpmn:flowNodeRef>review</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>review</bpmn:flowNodeRef>\n"
        "        <bpmn:flowNodeRef>review_countersign</bpmn:flowNodeRef>",
    )


def remove_official_talk(bpmn: str) -> str:
    """The organisation talk removed: an official's case goes straight to the deadline."""
    bpmn, found = re.subn(r'\s*<bpmn:userTask id="official_talk".*?</bpmn:userTask>', "", bpmn, flags=re.S)
    assert found == 1
    bpmn = _replace(
        bpmn,
        '<bpmn:sequenceFlow id="Flow_official_talk_to_set_official_deadline" '
        'sourceRef="official_talk" targetRef="set_official_deadline"/>',
        "",
    )
    bpmn = _replace(bpmn, 'targetRef="official_talk"', 'targetRef="set_official_deadline"')
    bpmn = _replace(
        bpmn,
        "<bpmn:incoming>Flow_official_talk_to_set_official_deadline</bpmn:incoming>",
        "<bpmn:incoming>Flow_gw_class_to_official_talk</bpmn:incoming>",
    )
    bpmn = _replace(bpmn, "<bpmn:flowNodeRef>official_talk</bpmn:flowNodeRef>", "")
    for pattern in (
        r'\s*<bpmndi:BPMNShape id="official_talk_di".*?</bpmndi:BPMNShape>',
        r'\s*<bpmndi:BPMNEdge id="Flow_official_talk_to_set_official_deadline_di".*?</bpmndi:BPMNEdge>',
    ):
        bpmn, found = re.subn(pattern, "", bpmn, flags=re.S)
        assert found == 1
    assert 'id="official_talk"' not in bpmn
    return bpmn


@pytest.fixture
def deploy_changed(app: Flask, tmp_path: Path) -> Iterator[Callable[..., tuple[Flask, int]]]:
    """``deploy_changed(name, change[, process])``: an app on the same database whose processes/ holds
    the changed diagram, and the id of the version ``flask deploy`` made of it."""
    made: list[Flask] = []

    def deploy(name: str, change: Any, process: str = "debt_case") -> tuple[Flask, int]:
        changed, version = _deploy_changed(app, tmp_path, name, change, process)
        made.append(changed)
        return changed, version

    yield deploy
    for changed in made:
        changed.extensions["db_engine"].dispose()


def _deploy_changed(
    app: Flask, tmp_path: Path, name: str, change: Any, process: str = "debt_case"
) -> tuple[Flask, int]:
    edited = tmp_path / name
    shutil.copytree(app.config["PROCESSES_DIR"], edited)
    bpmn = edited / f"{process}.bpmn"
    bpmn.write_text(change(bpmn.read_text(encoding="utf-8")), encoding="utf-8")
    changed = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": app.config["DATABASE_URL"],
            "WTF_CSRF_ENABLED": False,
            "PROCESSES_DIR": str(edited),
            "SECRET_KEY": "test-secret",
            "UPLOAD_DIR": app.config["UPLOAD_DIR"],
            "AUDIT_KEY": app.config["AUDIT_KEY"],
            "AUDIT_CHECKPOINT_LOG": app.config["AUDIT_CHECKPOINT_LOG"],
        }
    )
    result = changed.test_cli_runner().invoke(args=["deploy", "--process", process])
    assert result.exit_code == 0, result.output
    version = int(result.output.split()[2])
    return changed, version


# ---------------------------------------------------------------------------------------------
# the demo and what the tests read of it
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def demo(app: Flask, users: dict[str, int]) -> list[int]:
    """The demo's cases (its users are the suite's, with the suite's password)."""
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    ids = [int(n) for n in re.search(r"Demo cases: ([\d, ]+)", result.output).group(1).split(", ")]
    # eight debt cases, then five judgment defaulters (another process: these tests move the
    # debt cases' diagram)
    assert len(ids) == 13
    ids = ids[:8]
    assert [case_row(app, i).status for i in ids].count("closed") == 2
    return ids


def _version_of(app: Flask, case_id: int) -> int:
    return case_row(app, case_id).process_version_id


def _open_rows(app: Flask, case_id: int) -> list[tuple[str, str, str]]:
    with app.extensions["db_sessionmaker"]() as session:
        rows = session.execute(
            select(Task.id, Task.element_id, Task.unit_code).where(
                Task.case_id == case_id, Task.status == "open"
            )
        )
        return sorted((i, e, u) for i, e, u in rows)


def _events(app: Flask, case_id: int) -> list[CaseEvent]:
    with app.extensions["db_sessionmaker"]() as session:
        events = list(
            session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))
        )
        session.expunge_all()
        return events


def _chain_ok(app: Flask, case_id: int) -> bool:
    with app.extensions["db_sessionmaker"]() as session:
        return verify_chain(session, chain_of(case_id)).ok


def _library_ready(app: Flask, case_id: int) -> list[str]:
    """The ready human tasks of the stored state as SpiffWorkflow's unchanged serializer reads
    it around the case's version (what a fresh process sees)."""
    with app.extensions["db_sessionmaker"]() as session:
        case = session.get(Case, case_id)
        version = session.get(ProcessVersion, case.process_version_id)
        workflow = engine_state.library_load(case.state, version.spec_json)
    return sorted(str(t.id) for t in workflow.get_tasks(state=TaskState.READY, manual=True))


def _snapshot(app: Flask, ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """What a move must not change for a case that stays: version, state, rows, history."""
    return {
        i: (
            _version_of(app, i),
            case_row(app, i).state,
            _open_rows(app, i),
            len(_events(app, i)),
        )
        for i in ids
    }


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------
def test_every_stage_moves_to_a_version_that_keeps_every_element(app, demo, browser, deploy_changed):
    """A new step after the review: every running demo case can move; the admin's dry run
    says so, the move takes them all, each goes on along the new diagram (the case at review
    meets the countersignature next), closed cases stay, the history holds the move and
    verifies, and a second run moves nothing."""
    changed, new = deploy_changed("countersign", add_countersignature)
    old = _version_of(app, demo[REVIEW])
    assert new > old
    before = {i: _open_rows(app, i) for i in demo}
    timer_due = case_row(app, demo[DEADLINE]).next_timer_at
    untouched = _snapshot(app, [demo[REJECTED], demo[DELISTED]])

    admin = Browser(changed, "admin")
    page = admin.get("/admin/versions").get_data(as_text=True)
    assert f'data-version="{new}"' in page and f'data-version="{old}"' in page
    row_old = page[page.index(f'data-version="{old}"') :].split("</tr>")[0]
    assert 'class="running">6<' in row_old and 'class="closed">2<' in row_old
    row_new = page[page.index(f'data-version="{new}"') :].split("</tr>")[0]
    assert "badge current" in row_new and "badge current" not in row_old  # what processes/ gives now
    assert 'class="running">0<' in row_new

    # a target older than the source is refused, and nothing moves
    refused = admin.get(f"/admin/versions/dry-run?from_version={new}&to_version={old}")
    assert refused.status_code == 422
    dry = admin.get(f"/admin/versions/dry-run?from_version={old}&to_version={new}")
    assert dry.status_code == 200
    text = dry.get_data(as_text=True)
    for index in RUNNING:
        assert f'data-case="{demo[index]}" class="movable"' in text
    for index in (REJECTED, DELISTED):
        assert f'data-case="{demo[index]}"' not in text  # closed cases never move
    assert 'class="blocked"' not in text and 'id="confirm-migration"' in text
    assert all(_version_of(app, i) == old for i in demo)  # a dry run writes nothing

    moved = admin.post("/admin/versions/migrate", data={"from_version": old, "to_version": new})
    assert moved.status_code == 200
    assert re.search(r'id="moved-cases">.*' + str(demo[LIFTING]), moved.get_data(as_text=True))
    for index in RUNNING:
        case_id = demo[index]
        assert _version_of(app, case_id) == new
        assert _open_rows(app, case_id) == before[case_id]  # the same task rows, same ids
        assert _library_ready(app, case_id) == sorted(t for t, _e, _u in before[case_id])
        migrated = [e for e in _events(app, case_id) if e.kind == "version_migrated"]
        assert len(migrated) == 1
        assert migrated[0].data["from_version"] == old and migrated[0].data["to_version"] == new
        with app.extensions["db_sessionmaker"]() as session:
            hashes = {v.id: v.content_sha256 for v in session.scalars(select(ProcessVersion))}
        assert migrated[0].data["from_sha256"] == hashes[old]
        assert migrated[0].data["to_sha256"] == hashes[new]
        assert _chain_ok(app, case_id)
    assert case_row(app, demo[DEADLINE]).next_timer_at == timer_due  # the deadline keeps its date
    assert _snapshot(app, [demo[REJECTED], demo[DELISTED]]) == untouched
    verified = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output

    # each case goes on along the new diagram
    office = browser("office")
    office.complete(demo[REVIEW], "review", review_decision="confirm", classification="evasion")
    assert ("review_countersign", "office") in open_tasks(app, demo[REVIEW])
    assert ("interview", "office") not in open_tasks(app, demo[REVIEW])
    office.complete(demo[REVIEW], "review_countersign")
    assert {("interview", "office"), ("notify_banks", "regulator")} <= set(open_tasks(app, demo[REVIEW]))
    assert case_row(app, demo[REVIEW]).blacklisted

    # the rectification deadline passes (as the demo expires one): the assessment follows
    with app.app_context(), app.extensions["db_sessionmaker"]() as session:
        atomic(
            session,
            lambda: steps.fire_timers(session, steps.lock_case(session, demo[DEADLINE]), expire=True),
        )
    assert ("assess_rectification", "office") in open_tasks(app, demo[DEADLINE])

    browser("finance").complete(demo[SANCTION], "apply_sanction", measures=["no_procurement"])
    assert ("apply_sanction", "finance") not in open_tasks(app, demo[SANCTION])
    assert case_row(app, demo[SANCTION]).incident is None

    browser("employer_education").complete(
        demo[OFFICIAL], "official_talk", talk_date=_today(), talker="单位负责人", rectification_days=30
    )
    assert case_row(app, demo[OFFICIAL]).next_timer_at is not None

    browser("court").complete(demo[LIFTING], "lift_sanction", lift_confirmed=True)
    assert case_row(app, demo[LIFTING]).status == "closed"
    for index in (REVIEW, DEADLINE, SANCTION, OFFICIAL, LIFTING):
        assert _chain_ok(app, demo[index])

    again = changed.test_cli_runner().invoke(
        args=["processes", "migrate", "--from", str(old), "--to", str(new)]
    )
    assert again.exit_code == 0, again.output
    assert "0 moved, 0 blocked, 0 failed" in again.output


def _today() -> str:
    from webapp.taskforms.keywords import today

    return today().isoformat()


def test_a_case_standing_in_a_removed_element_stays_on_its_version(app, demo, browser, deploy_changed):
    """The organisation talk removed: the official's case, which stands in it, cannot move and
    the dry run says why; the move takes the others and leaves it untouched on its version,
    where it goes on; a second run moves nothing and says the same."""
    changed, new = deploy_changed("no_talk", remove_official_talk)
    old = _version_of(app, demo[OFFICIAL])
    cli = changed.test_cli_runner()

    dry = cli.invoke(args=["processes", "migrate", "--from", str(old), "--to", str(new), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"case {demo[OFFICIAL]}  official_talk  blocked" in dry.output
    assert "official_talk (ready): this element does not exist in the new version" in dry.output
    for index in (REVIEW, DEADLINE, SANCTION, PLAN, LIFTING):
        assert re.search(rf"case {demo[index]}  \w+  can move", dry.output)
    assert "5 can move, 1 blocked (dry run: nothing moved)" in dry.output
    assert all(_version_of(app, i) == old for i in demo)

    # the admin's dry run in Chinese, by default
    page = Browser(changed, "admin").get(f"/admin/versions/dry-run?from_version={old}&to_version={new}")
    text = page.get_data(as_text=True)
    assert f'data-case="{demo[OFFICIAL]}" class="blocked"' in text
    blocked_row = text[text.index(f'data-case="{demo[OFFICIAL]}"') :].split("</tr>")[0]
    assert 'data-element="official_talk"' in blocked_row and "新版本中不存在此环节" in blocked_row

    kept = _snapshot(app, [demo[OFFICIAL]])
    moved = cli.invoke(args=["processes", "migrate", "--from", str(old), "--to", str(new)])
    assert moved.exit_code == 0, moved.output
    assert "5 moved, 1 blocked, 0 failed" in moved.output
    assert f"case {demo[OFFICIAL]}: stays on version {old}" in moved.output
    assert _snapshot(app, [demo[OFFICIAL]]) == kept  # untouched: version, state, rows, history
    assert "version_migrated" not in {e.kind for e in _events(app, demo[OFFICIAL])}
    assert _version_of(app, demo[PLAN]) == new

    # on its own version the official's case goes on as before
    browser("employer_education").complete(
        demo[OFFICIAL], "official_talk", talk_date=_today(), talker="单位负责人", rectification_days=30
    )
    assert case_row(app, demo[OFFICIAL]).next_timer_at is not None
    assert _version_of(app, demo[OFFICIAL]) == old
    # and the case in the repayment plan goes on on the new one
    browser("bank_abc").complete(
        demo[PLAN], "confirm_instalment", instalment_status="paid", paid_amount=200000, paid_on=_today()
    )
    assert ("confirm_instalment", "bank_abc") in open_tasks(app, demo[PLAN])
    for index in RUNNING:
        assert _chain_ok(app, demo[index])

    again = cli.invoke(args=["processes", "migrate", "--from", str(old), "--to", str(new)])
    assert again.exit_code == 0, again.output
    assert "0 moved" in again.output


def test_the_move_and_the_next_step_each_in_a_fresh_process(app, demo, deploy_changed, tmp_path):
    """``flask processes migrate`` in one process, the office's next step in another: the
    second process builds the new version from the database and the case meets the new
    step, and the stored state is what SpiffWorkflow's own serializer reads."""
    _changed, new = deploy_changed("countersign_processes", add_countersignature)
    old = _version_of(app, demo[REVIEW])
    deployment = Deployment(url=app.config["DATABASE_URL"], tmp=tmp_path)
    out = deployment.flask("processes", "migrate", "--from", str(old), "--to", str(new))
    assert "6 moved, 0 blocked, 0 failed" in out
    assert _version_of(app, demo[REVIEW]) == new

    step = (
        "import sys\n"
        "from tests.support import Browser\n"
        "from webapp import create_app\n"
        "app = create_app({'WTF_CSRF_ENABLED': False})\n"
        "Browser(app, 'office').complete(int(sys.argv[1]), 'review', "
        "review_decision='confirm', classification='evasion')\n"
    )
    deployment.check_run("-c", step, str(demo[REVIEW]))
    assert ("review_countersign", "office") in open_tasks(app, demo[REVIEW])
    assert sorted(t for t, e, _u in _open_rows(app, demo[REVIEW])) == _library_ready(app, demo[REVIEW])
    kinds = [e.kind for e in _events(app, demo[REVIEW])]
    assert kinds.index("version_migrated") < kinds.index("task_completed")
    assert _chain_ok(app, demo[REVIEW])
    assert json.loads(case_row(app, demo[REVIEW]).state)["typename"] == "BpmnWorkflow"


def test_the_move_is_posted_with_the_form_token(app, demo, deploy_changed):
    """With CSRF protection on, as in production: a move posted without the dry-run page's
    token is refused and moves nothing; the page's own confirm form moves the cases."""
    _changed, new = deploy_changed("countersign_csrf", add_countersignature)
    old = _version_of(app, demo[REVIEW])
    protected = app_with_csrf(app)
    try:
        client = protected.test_client()
        login = client.get("/login").get_data(as_text=True)
        token = login.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"username": "admin", "password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=form).status_code == 302
        chosen = {"from_version": old, "to_version": new}
        assert client.post("/admin/versions/migrate", data=chosen).status_code == 400
        assert _version_of(app, demo[REVIEW]) == old
        dry = client.get(f"/admin/versions/dry-run?from_version={old}&to_version={new}")
        page = dry.get_data(as_text=True)
        confirm_form = page[page.index('action="/admin/versions/migrate"') :]
        token = confirm_form.split('name="csrf_token" value="')[1].split('"')[0]
        moved = client.post("/admin/versions/migrate", data={**chosen, "csrf_token": token})
        assert moved.status_code == 200
        assert _version_of(app, demo[REVIEW]) == new
    finally:
        protected.extensions["db_engine"].dispose()


def move_review_and_change_instalment(bpmn: str) -> str:
    """The review in the regulator's lane, and the instalment's confirmation a manual task."""
    bpmn = _replace(bpmn, "        <bpmn:flowNodeRef>review</bpmn:flowNodeRef>\n", "")
    bpmn = _replace(
        bpmn,
        '<bpmn:lane id="Lane_regulator" name="regulator">',
        '<bpmn:lane id="Lane_regulator" name="regulator">\n'
        "        <bpmn:flowNodeRef>review</bpmn:flowNodeRef>",
    )
    start = bpmn.index('<bpmn:userTask id="confirm_instalment"')
    end = bpmn.index("</bpmn:userTask>", start)
    return (
        bpmn[:start]
        + bpmn[start:end].replace("<bpmn:userTask", "<bpmn:manualTask", 1)
        + "</bpmn:manualTask>"
        + bpmn[end + len("</bpmn:userTask>") :]
    )


def test_a_task_in_another_lane_or_of_another_kind_blocks_its_cases(app, demo, deploy_changed):
    """An element the case stands in that exists in the new version but in another lane (the
    open task would belong to another unit) or as another kind of element blocks the move;
    the dry run names the lanes and kinds compared, and the move leaves those cases alone."""
    changed, new = deploy_changed("lane_and_kind", move_review_and_change_instalment)
    old = _version_of(app, demo[REVIEW])
    cli = changed.test_cli_runner()
    dry = cli.invoke(args=["processes", "migrate", "--from", str(old), "--to", str(new), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "review (ready): this task belongs to another lane in the new version [office → regulator]" in (
        dry.output
    )
    assert "confirm_instalment (ready): this element is of another kind in the new version" in dry.output
    assert "UserTask → ManualTask" in dry.output
    assert "4 can move, 2 blocked" in dry.output
    kept = _snapshot(app, [demo[REVIEW], demo[PLAN]])
    moved = cli.invoke(args=["processes", "migrate", "--from", str(old), "--to", str(new)])
    assert "4 moved, 2 blocked, 0 failed" in moved.output, moved.output
    assert _snapshot(app, [demo[REVIEW], demo[PLAN]]) == kept
    assert _version_of(app, demo[SANCTION]) == new


def test_a_version_with_too_many_running_cases_is_moved_from_the_command_line(
    app, demo, deploy_changed, monkeypatch
):
    """Above the page's limit the dry run and the move are refused with the command to run,
    and nothing moves."""
    monkeypatch.setattr("webapp.admin.versions.WEB_LIMIT", 5)  # the demo has 6 running cases
    changed, new = deploy_changed("countersign_limit", add_countersignature)
    old = _version_of(app, demo[REVIEW])
    admin = Browser(changed, "admin")
    chosen = {"from_version": old, "to_version": new}
    for response in (
        admin.get("/admin/versions/dry-run", query_string=chosen),
        admin.post("/admin/versions/migrate", data=chosen),
    ):
        assert response.status_code == 422
        assert f"flask processes migrate --from {old}" in response.get_data(as_text=True)
    assert all(_version_of(app, i) == old for i in demo)


# ---------------------------------------------------------------------------------------------
# the other process: the demo's judgment defaulters
# ---------------------------------------------------------------------------------------------
JUST_LISTED, RESTRICTED, REFERRED, EXITED, LINKED = range(8, 13)


def add_refusal_countersignature(bpmn: str) -> str:
    """A new court task ``refusal_countersign`` between the decision on a refusal-to-execute
    referral and its gateway; every element stays."""
    bpmn = _replace(
        bpmn,
        "<bpmn:outgoing>Flow_refer_refusal_to_gw_refer</bpmn:outgoing>",
        "<bpmn:outgoing>Flow_refer_refusal_to_countersign</bpmn:outgoing>",
    )
    bpmn = _replace(
        bpmn,
        '<bpmn:exclusiveGateway id="gw_refer"',
        '<bpmn:userTask id="refusal_countersign" name="移送会签 Countersign the referral decision">\n'
        "        <bpmn:incoming>Flow_refer_refusal_to_countersign</bpmn:incoming>\n"
        "        <bpmn:outgoing>Flow_refer_refusal_to_gw_refer</bpmn:outgoing>\n"
        "      </bpmn:userTask>\n"
        '      <bpmn:exclusiveGateway id="gw_refer"',
    )
    bpmn = _replace(
        bpmn,
        '<bpmn:sequenceFlow id="Flow_refer_refusal_to_gw_refer" sourceRef="refer_refusal"',
        '<bpmn:sequenceFlow id="Flow_refer_refusal_to_countersign" sourceRef="refer_refusal" '
        'targetRef="refusal_countersign"/>\n'
        '      <bpmn:sequenceFlow id="Flow_refer_refusal_to_gw_refer" sourceRef="refusal_countersign"',
    )
    return _replace(
        bpmn,
        "<bpmn:flowNodeRef>refer_refusal</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>refer_refusal</bpmn:flowNodeRef>\n"
        "        <bpmn:flowNodeRef>refusal_countersign</bpmn:flowNodeRef>",
    )


def test_the_demo_defaulters_move_to_a_new_version_of_their_own_process(app, users, browser, deploy_changed):
    """The second process has versions of its own: a changed judgment-defaulter diagram is a new
    version of that process only; the demo's running defaulters (just listed, restricted,
    referred to the police, linked) move to it and go on along it, the exited one stays, and
    the debt cases are not offered."""
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    ids = [int(n) for n in re.search(r"Demo cases: ([\d, ]+)", result.output).group(1).split(", ")]
    running = [ids[i] for i in (JUST_LISTED, RESTRICTED, REFERRED, LINKED)]
    debt_version = _version_of(app, ids[REVIEW])
    old = _version_of(app, ids[JUST_LISTED])
    assert old != debt_version
    changed, new = deploy_changed("refusal-countersign", add_refusal_countersignature, "judgment_defaulter")
    before = {i: _open_rows(app, i) for i in running}
    untouched = _snapshot(app, [ids[EXITED], ids[REVIEW]])

    admin = Browser(changed, "admin")
    # a debt version is no target for a defaulter version
    assert (
        admin.get(f"/admin/versions/dry-run?from_version={old}&to_version={debt_version}").status_code == 422
    )
    dry = admin.get(f"/admin/versions/dry-run?from_version={old}&to_version={new}").get_data(as_text=True)
    for case_id in running:
        assert f'data-case="{case_id}" class="movable"' in dry
    assert f'data-case="{ids[EXITED]}"' not in dry and 'class="blocked"' not in dry
    moved = admin.post("/admin/versions/migrate", data={"from_version": old, "to_version": new})
    assert moved.status_code == 200
    for case_id in running:
        assert _version_of(app, case_id) == new
        assert _open_rows(app, case_id) == before[case_id]
        assert _library_ready(app, case_id) == sorted(t for t, _e, _u in before[case_id])
        assert [e.kind for e in _events(app, case_id)].count("version_migrated") == 1
        assert _chain_ok(app, case_id)
    assert _snapshot(app, [ids[EXITED], ids[REVIEW]]) == untouched

    # the just-listed defaulter meets the new step after the court's decision on a referral
    court = browser("court")
    court.complete(
        ids[JUST_LISTED],
        "refer_refusal",
        refer_decision="refer",
        refusal_facts="转移财产",
        referral_document_no="移送函9号",
    )
    assert ("refusal_countersign", "court") in open_tasks(app, ids[JUST_LISTED])
    court.complete(ids[JUST_LISTED], "refusal_countersign")
    assert ("police_filing", "police") in open_tasks(app, ids[JUST_LISTED])
    # the referred one goes on where it stood, and the court's exit still lifts every restriction
    court.complete(
        ids[RESTRICTED],
        "record_exit",
        exit_reason="fulfilled",
        exit_document_no="执结9号",
        exit_date=_today(),
    )
    assert not case_row(app, ids[RESTRICTED]).blacklisted
    assert {e for e, _u in open_tasks(app, ids[RESTRICTED])} == {"lift_restriction"}
    for case_id in running:
        assert case_row(app, case_id).incident is None and _chain_ok(app, case_id)
