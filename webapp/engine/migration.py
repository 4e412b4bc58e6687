"""Moving a running case to another deployed version of its process.

SpiffWorkflow 3.2 has its own migration support (``SpiffWorkflow.bpmn.util.diff``, described
in its documentation under "Diff Utilities"): ``diff_workflow`` aligns every task of a
workflow and of its subprocesses with the task specs of the new version (by BPMN id first,
then by structure), and ``migrate_workflow`` points each aligned task at its new spec and
resets the ready and waiting tasks so that what follows them is predicted again from the new
diagram. Both are used here as documented, on a workflow restored by the engine's serializer.

What the library's reset does not keep, and a case needs, is put back afterwards through the
tasks' public ``data`` and ``internal_data``: a reset task inherits its parent's data again
(a multi-instance item would lose the unit it belongs to, a token the case facts merged into
it) and forgets its internal data (a waiting timer would start its period again: the due time
lives there, ENGINE_NOTES).

What a migrated case keeps:
- every ready, waiting and started task, with its id, state, data and internal data: the
  open task rows (keyed by task id), the due dates of running timers and the multi-instance
  items stay valid;
- the completed tasks the stored state still holds (the state is compacted first, see
  ``runtime.compact``: finished history the engine no longer needs is dropped, and what the
  case did stays in its own tables and history). Those that the new version lacks are
  only refused when they are still on the running path;
- predicted (future) tasks are predicted again from the new diagram, so a step added after
  the element a case stands in is where the case goes next.

A case can move when every active element (a ready, waiting or started task: a user task, a
running timer, a waiting message catch, a subprocess, a multi-instance activity) exists in
the new version under the same BPMN id with the same kind (a user task stays a user task, a
timer a timer) and, for a person's task, the same lane; and when the migrated state is one
the new version's serializer reads back with the same live tasks. ``check`` runs the whole
migration in memory and reports each element that blocks it in plain words.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from webapp.engine import state as engine_state
from webapp.engine.definitions import Definition
from webapp.engine.runtime import compact
from webapp.engine.scripting import make_script_engine

LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
_STATE_NAMES = {
    TaskState.READY: "ready",
    TaskState.WAITING: "waiting",
    TaskState.STARTED: "started",
    TaskState.COMPLETED: "completed",
    TaskState.CANCELLED: "cancelled",
    TaskState.ERROR: "error",
}

# what blocks a move, by code (the UI words them in the user's language)
MISSING = "missing"  # the element does not exist in the new version
KIND_CHANGED = "kind_changed"  # it exists with another kind (a user task became a timer, ...)
LANE_CHANGED = "lane_changed"  # a person's task belongs to another lane there
SUBPROCESS_MISSING = "subprocess_missing"  # a running subprocess has no spec there
PATH_MISSING = "path_missing"  # a completed step still on the running path is gone
IN_ERROR = "in_error"  # a task is in error: the case must be repaired first
NOT_KEPT = "not_kept"  # the engine could not keep the task as it was
UNREADABLE = "unreadable"  # the state could not be read or compared


@dataclass(frozen=True)
class Obstacle:
    """An element that keeps a case from moving, with the reason in plain words."""

    element_id: str
    title: str
    state: str  # ready, waiting, started, completed, ...
    code: str
    reason: str
    detail: str = ""  # the kinds or lanes compared, when they differ


@dataclass(frozen=True)
class Verdict:
    movable: bool
    active_elements: list[str]
    obstacles: list[Obstacle] = field(default_factory=list)


class MigrationRefused(Exception):
    """The case cannot move to the target version (``verdict`` says why)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__("; ".join(o.reason for o in verdict.obstacles))
        self.verdict = verdict


def check(definition: Definition, state: str, target: Definition) -> Verdict:
    """Whether the case whose stored ``state`` runs on ``definition`` can move to ``target``:
    the whole migration is run in memory and nothing is saved."""
    verdict, _state = _migrate(definition, state, target)
    return verdict


def migrate(definition: Definition, state: str, target: Definition) -> str:
    """The case's state moved onto ``target`` (to store with the case's new version); raises
    ``MigrationRefused`` when an active element blocks it."""
    verdict, migrated = _migrate(definition, state, target)
    if not verdict.movable or migrated is None:
        raise MigrationRefused(verdict)
    return migrated


# ---- the migration ----------------------------------------------------------------------


def _migrate(definition: Definition, state: str, target: Definition) -> tuple[Verdict, str | None]:
    try:
        workflow = engine_state.loads(state, definition.spec, definition.subprocess_specs)
    except Exception as err:  # an unreadable state blocks the move; it never raises to a page
        return _refused(UNREADABLE, f"the case state cannot be read: {err}"), None
    workflow.script_engine = make_script_engine()  # a reset task may evaluate expressions
    compact(workflow)
    trees = [workflow, *workflow.subprocesses.values()]
    live = {task.id: task for wf in trees for task in wf.get_tasks(state=LIVE, skip_subprocesses=True)}
    active = sorted({bpmn for task in live.values() if (bpmn := _bpmn_id(task)) is not None})
    obstacles = _obstacles(workflow, target, live)
    if obstacles:
        return Verdict(False, active, obstacles), None

    kept = {
        task_id: (
            task.task_spec.name,
            task.state,
            copy.deepcopy(task.data),
            copy.deepcopy(task.internal_data),
        )
        for task_id, task in live.items()
    }
    try:
        top_diff, sub_diffs = diff_workflow(
            engine_state.SERIALIZER.registry, workflow, target.spec, target.subprocess_specs
        )
        migrate_workflow(top_diff, workflow, target.spec)
        for sub_id, sub in workflow.subprocesses.items():
            diff = sub_diffs.get(sub_id)
            if diff is not None:
                migrate_workflow(diff, sub, target.subprocess_specs[sub.spec.name])
        workflow.subprocess_specs = target.subprocess_specs
    except Exception as err:  # the library could not align or re-predict: say so, move nothing
        return Verdict(
            False, active, [_obstacle(None, UNREADABLE, f"the engine cannot migrate: {err}")]
        ), None

    # what the library's reset forgot, put back; the live tasks must be the same ones
    obstacles = []
    now_live: dict[UUID, Any] = {}
    for wf in [workflow, *workflow.subprocesses.values()]:
        now_live.update({t.id: t for t in wf.get_tasks(state=LIVE, skip_subprocesses=True)})
    for task_id, (name, task_state, data, internal) in kept.items():
        task = workflow.get_task_from_id(task_id)
        if task is None or task.task_spec.name != name or task.state != task_state:
            obstacles.append(
                _obstacle(live[task_id], NOT_KEPT, "the engine could not keep this step as it stands")
            )
            continue
        task.data = data
        task.internal_data = internal
    for task_id, task in now_live.items():
        if task_id not in kept:
            obstacles.append(
                _obstacle(task, NOT_KEPT, "the new version would start this step at once, outside any step")
            )
    obstacles.extend(_foreign(workflow, target))
    if obstacles:
        return Verdict(False, active, obstacles), None
    migrated = engine_state.dumps(workflow)
    try:  # what is stored must be what the new version's serializer reads back
        engine_state.loads(migrated, target.spec, target.subprocess_specs)
    except Exception as err:  # a state the target cannot read is never stored
        return Verdict(
            False, active, [_obstacle(None, UNREADABLE, f"the migrated state cannot be read: {err}")]
        ), None
    return Verdict(True, active), migrated


def _obstacles(workflow: Any, target: Definition, live: dict[UUID, Any]) -> list[Obstacle]:
    """Every active element the target lacks or changes, every running subprocess without a
    spec there, every completed step on the running path the target lacks, tasks in error."""
    found: list[Obstacle] = []
    registry = engine_state.SERIALIZER.registry
    for sub_id, sub in workflow.subprocesses.items():
        if sub.spec.name not in target.subprocess_specs:
            owner = workflow.get_task_from_id(sub_id)
            found.append(
                _obstacle(owner, SUBPROCESS_MISSING, "its subprocess does not exist in the new version")
            )
    for wf in [workflow, *workflow.subprocesses.values()]:
        specs = _target_specs(wf, workflow, target)
        if specs is None:
            continue  # reported above with its subprocess
        for task in wf.get_tasks(skip_subprocesses=True):
            name = task.task_spec.name
            candidate = specs.get(name)
            if task.has_state(TaskState.ERROR):
                found.append(_obstacle(task, IN_ERROR, "this step is in error: repair the case first"))
            elif task.id in live:
                if candidate is None:
                    found.append(_obstacle(task, MISSING, "this element does not exist in the new version"))
                    continue
                old_kind, new_kind = _kind(registry, task.task_spec), _kind(registry, candidate)
                if old_kind != new_kind:
                    found.append(
                        _obstacle(
                            task,
                            KIND_CHANGED,
                            "this element is of another kind in the new version",
                            f"{old_kind} → {new_kind}",
                        )
                    )
                elif task.task_spec.manual and task.task_spec.lane != candidate.lane:
                    found.append(
                        _obstacle(
                            task,
                            LANE_CHANGED,
                            "this task belongs to another lane in the new version",
                            f"{task.task_spec.lane} → {candidate.lane}",
                        )
                    )
            elif (
                task.has_state(TaskState.COMPLETED | TaskState.CANCELLED)
                and candidate is None
                and _leads_to_live(task, live)
            ):
                found.append(
                    _obstacle(
                        task,
                        PATH_MISSING,
                        "the case's running path still passes this step, which the new version lacks",
                    )
                )
    return found


def _foreign(workflow: Any, target: Definition) -> list[Obstacle]:
    """Tasks left pointing at a spec the target does not hold (the state would not load)."""
    found = []
    for wf in [workflow, *workflow.subprocesses.values()]:
        specs = _target_specs(wf, workflow, target) or {}
        for task in wf.get_tasks(skip_subprocesses=True):
            if specs.get(task.task_spec.name) is not task.task_spec:
                found.append(_obstacle(task, NOT_KEPT, "this step has no counterpart in the new version"))
    return found


def _target_specs(wf: Any, top: Any, target: Definition) -> dict[str, Any] | None:
    if wf is top:
        return dict(target.spec.task_specs)
    spec = target.subprocess_specs.get(wf.spec.name)
    return dict(spec.task_specs) if spec is not None else None


def _leads_to_live(task: Any, live: dict[UUID, Any]) -> bool:
    stack = list(task.children)
    while stack:
        current = stack.pop()
        if current.id in live:
            return True
        stack.extend(current.children)
    return task.workflow.last_task is task


def _kind(registry: Any, spec: Any) -> str:
    """The spec's kind as the serializer names it, with its event's kind (a timer, a message)."""
    dct = registry.convert(spec)
    event = dct.get("event_definition")
    kind = str(dct.get("typename", ""))
    if isinstance(event, dict) and event.get("typename"):
        kind += f"/{event['typename']}"
    return kind


def _bpmn_id(task: Any) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


def _obstacle(task: Any, code: str, reason: str, detail: str = "") -> Obstacle:
    if task is None:
        return Obstacle("", "", "", code, reason, detail)
    spec = task.task_spec
    element = getattr(spec, "bpmn_id", None) or spec.name
    title = getattr(spec, "bpmn_name", None) or element
    state = next((name for value, name in _STATE_NAMES.items() if task.has_state(value)), "")
    return Obstacle(element, title, state, code, reason, detail)


def _refused(code: str, reason: str) -> Verdict:
    return Verdict(False, [], [Obstacle("", "", "", code, reason)])
