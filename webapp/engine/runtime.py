"""Running one case's workflow: start, complete a task, deliver a message, fire timers.

A ``CaseRun`` wraps a loaded workflow for the length of one step; the caller (the
domain's step function) loads it from the saved state, acts, takes a ``Snapshot`` and
saves it again inside one database transaction.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from webapp.engine.definitions import SERIALIZER, Definition
from webapp.engine.scripting import make_script_engine


class EngineError(Exception):
    """The engine could not run a step (bad expression, no path, task in error)."""


class TaskNotReady(Exception):
    """The task does not exist in this case or is not waiting for a person."""


@dataclass(frozen=True)
class ReadyTask:
    id: str
    element_id: str
    title: str
    lane: str
    assignee: str | None  # the lane, or for a dynamic lane the value it resolves to
    form: str | None
    properties: dict[str, str]
    item: dict[str, Any]  # the multi-instance item, if any


@dataclass(frozen=True)
class CompletedElement:
    element_id: str
    task_id: str
    properties: dict[str, str]


@dataclass(frozen=True)
class Snapshot:
    ready: list[ReadyTask]
    active_elements: list[str]
    completed_elements: list[str]
    next_timer_at: dt.datetime | None
    finished: bool
    stages: list[str]


@dataclass
class CaseRun:
    definition: Definition
    workflow: BpmnWorkflow
    completed: list[CompletedElement] = field(default_factory=list)

    # ---- lifecycle -------------------------------------------------------------
    @classmethod
    def start(cls, definition: Definition, data: Mapping[str, Any]) -> CaseRun:
        try:
            workflow = BpmnWorkflow(
                definition.spec, definition.subprocess_specs, script_engine=make_script_engine()
            )
            first = workflow.get_tasks(state=TaskState.READY)[0]
            first.set_data(**dict(data))
        except Exception as err:  # any engine failure becomes a recorded incident, never a 500
            raise EngineError(_describe(err)) from err
        run = cls(definition, workflow)
        run._advance()
        return run

    @classmethod
    def load(cls, definition: Definition, state: str) -> CaseRun:
        try:
            dct = json.loads(state, cls=SERIALIZER.json_decoder_cls)
            SERIALIZER.migrate(dct)
            workflow = _restore(dct, definition)
        except Exception as err:  # an unreadable state is an incident, not a 500
            raise EngineError(f"the case state cannot be loaded: {_describe(err)}") from err
        # the script engine is not saved: without this the case would run unrestricted
        workflow.script_engine = make_script_engine()
        return cls(definition, workflow)

    def dump(self) -> str:
        """The instance state to save; the finished history is dropped first (``compact``)."""
        compact(self.workflow)
        dct = _instance_dict(self.workflow)
        dct[SERIALIZER.VERSION_KEY] = SERIALIZER.VERSION
        return json.dumps(dct, cls=SERIALIZER.json_encoder_cls, separators=(",", ":"))

    # ---- actions -----------------------------------------------------------------
    def complete(self, task_id: str, data: Mapping[str, Any]) -> None:
        task = self._ready_user_task(task_id)
        task.set_data(**dict(data))
        try:
            task.run()
        except Exception as err:  # any engine failure becomes a recorded incident, never a 500
            raise EngineError(_describe(err)) from err
        self._record(task)
        self._advance()

    def deliver_message(self, name: str, payload: Mapping[str, Any]) -> bool:
        """Deliver a message; False when nothing in the case waits for it."""
        if not any(event.name == name for event in self.workflow.waiting_events()):
            return False
        event = BpmnEvent(MessageEventDefinition(name), payload=dict(payload))
        try:
            self.workflow.send_event(event)
        except Exception as err:  # any engine failure becomes a recorded incident, never a 500
            raise EngineError(_describe(err)) from err
        self._advance()
        return True

    def fire_due_timers(self) -> None:
        try:
            self.workflow.refresh_timers()
        except Exception as err:  # any engine failure becomes a recorded incident, never a 500
            raise EngineError(_describe(err)) from err
        self._advance()

    def expire_timers(self) -> int:
        """Make every waiting timer due now (demo and training data only)."""
        now = dt.datetime.now(dt.UTC).isoformat()
        count = 0
        for task in self.workflow.get_tasks(state=TaskState.WAITING):
            if isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
                task.internal_data["event_value"] = now
                count += 1
        self.fire_due_timers()
        return count

    def merge_data(self, data: Mapping[str, Any]) -> None:
        """Merge case facts (e.g. a new creditor bank) into every live token's data."""
        for task in self.workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED):
            task.data.update(dict(data))

    def task_data(self, task_id: str) -> dict[str, Any]:
        return dict(self._ready_user_task(task_id).data)

    # ---- projection ------------------------------------------------------------------
    def snapshot(self, dynamic_lanes: Mapping[str, str]) -> Snapshot:
        ready: list[ReadyTask] = []
        active: list[str] = []
        completed: set[str] = set()
        stages: list[str] = []
        timers: list[dt.datetime] = []
        for task in self.workflow.get_tasks():
            spec = task.task_spec
            bpmn_id = getattr(spec, "bpmn_id", None)
            if bpmn_id is None:
                continue
            props = _properties(spec)
            if task.has_state(TaskState.COMPLETED):
                completed.add(bpmn_id)
            elif task.has_state(TaskState.READY | TaskState.WAITING | TaskState.STARTED):
                if bpmn_id not in active:
                    active.append(bpmn_id)
                if props.get("stage") and (spec.manual or task.has_state(TaskState.WAITING)):
                    stages.append(props["stage"])
                if task.has_state(TaskState.WAITING) and isinstance(
                    getattr(spec, "event_definition", None), TimerEventDefinition
                ):
                    due = task.internal_data.get("event_value")
                    if due:
                        timers.append(dt.datetime.fromisoformat(due))
                if task.has_state(TaskState.READY) and spec.manual:
                    ready.append(_ready_task(task, props, dynamic_lanes))
        return Snapshot(
            ready=ready,
            active_elements=active,
            completed_elements=sorted(completed),
            next_timer_at=min(timers) if timers else None,
            finished=self.workflow.is_completed(),
            stages=stages,
        )

    # ---- internals --------------------------------------------------------------------
    def _ready_user_task(self, task_id: str) -> Any:
        try:
            task = self.workflow.get_task_from_id(UUID(task_id))
        except (ValueError, TypeError, KeyError, WorkflowException) as err:
            raise TaskNotReady(task_id) from err
        if task is None or not task.task_spec.manual or not task.has_state(TaskState.READY):
            raise TaskNotReady(task_id)
        return task

    def _record(self, task: Any) -> None:
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if bpmn_id:
            self.completed.append(CompletedElement(bpmn_id, str(task.id), _properties(task.task_spec)))

    def _engine_ready_and_errors(self) -> tuple[bool, list[Any]]:
        """Whether engine tasks are still ready, and the tasks in error, in one pass over the
        task maps (walking the trees with ``get_tasks`` twice cost more than the rest)."""
        pending, errors = False, []
        workflow = self.workflow
        for wf in (workflow, *workflow.subprocesses.values()):
            for task in wf.tasks.values():
                state = task._state
                if state == TaskState.READY and not task.task_spec.manual:
                    pending = True
                elif state == TaskState.ERROR:
                    errors.append(task)
        return pending, errors

    def _advance(self) -> None:
        """Run engine tasks (scripts, gateways, events) until only people or timers are left."""
        try:
            for _ in range(1000):
                self.workflow.do_engine_steps(did_complete_task=self._record)
                pending, errors = self._engine_ready_and_errors()
                if not pending:
                    break
        except RecursionError as err:  # very deep task trees (ENGINE_NOTES)
            raise EngineError("the case history is too deep for the engine") from err
        except Exception as err:  # any engine failure becomes a recorded incident, never a 500
            raise EngineError(_describe(err)) from err
        if errors:
            raise EngineError(f"element {errors[0].task_spec.bpmn_id} is in error")


_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED


def compact(workflow: BpmnWorkflow) -> int:
    """Drop the finished history of the task trees; the number of tasks removed.

    SpiffWorkflow keeps every task a case ever ran, so a case's state, its load and save,
    and every walk over its tasks grow with its history (a loop also stalls once the tree
    is 1,000 levels deep). Only the unfinished part matters to the engine: in each task
    tree (the case and each subprocess) the chain of completed tasks between the root and
    the last one above the unfinished tasks is cut out, with the finished branches hanging
    off it (cancelled paths, completed multi-instance items) and the subprocesses those
    held. The root, the last completed task (whose data the next task inherits) and the
    workflow's ``last_task`` stay. What the case did is kept in its own tables and history.
    """
    removed = 0
    for wf in [workflow, *list(workflow.subprocesses.values())]:
        # a subprocess dropped with an earlier tree's history is gone
        if wf is workflow or workflow.subprocesses.get(wf.parent_task_id) is wf:
            removed += _compact_tree(workflow, wf)
    return removed


def _compact_tree(top: BpmnWorkflow, wf: Any) -> int:
    live: set[UUID] = set()  # unfinished tasks and their ancestors
    for task in wf.tasks.values():
        subprocess = top.subprocesses.get(task.id)
        if (
            task.has_state(_FINISHED)
            and task is not wf.last_task
            and (subprocess is None or subprocess.completed)
        ):
            continue
        while task is not None and task.id not in live:
            live.add(task.id)
            task = task.parent
    root = wf.task_tree
    spine: list[Any] = []
    node = root
    while True:
        ahead = [child for child in node._children if child in live]
        if len(ahead) != 1:
            break
        child = wf.tasks[ahead[0]]
        if not child.has_state(TaskState.COMPLETED) or child is wf.last_task:
            break
        spine.append(child)
        node = child
    if len(spine) < 2:
        return 0
    keep = spine[-1]
    doomed: list[UUID] = []
    stack = [spine[0].id]
    while stack:
        task_id = stack.pop()
        if task_id != keep.id:
            doomed.append(task_id)
            stack.extend(wf.tasks[task_id]._children)
    for task_id in doomed:
        if task_id in top.subprocesses:
            top.delete_subprocess(wf.tasks[task_id])
        del wf.tasks[task_id]
    root._children[root._children.index(spine[0].id)] = keep.id
    keep._parent = root.id
    return len(doomed)


_REGISTRY = SERIALIZER.registry


def _converter(typename: str) -> Any:
    """SpiffWorkflow's registered converter of ``typename`` (the object behind its from_dict)."""
    return _REGISTRY.convert_from_dict[typename].args[0].__self__


# SpiffWorkflow's own BpmnWorkflow converter, to save and restore a case's instance state
# around the definition's cached spec objects: restoring the spec from JSON on every load was
# the largest part of a step (ENGINE_NOTES: store the definition once)
_CONVERTER = _converter(_REGISTRY.typenames[BpmnWorkflow])
_TASK_TYPENAME = "Task"
_TASK_CLASS = _converter(_TASK_TYPENAME).target_class
_SUBWORKFLOW_TYPENAME = "BpmnSubWorkflow"
_SUBWORKFLOW_CLASS = _converter(_SUBWORKFLOW_TYPENAME).target_class

# The instance state is SpiffWorkflow's own format (its serializer reads it back); its task
# and workflow converters are restated here because, going through the registry for every
# task and every empty data dict, they were half of a step's engine time. The functions
# below write and read exactly what SpiffWorkflow 3.2's TaskConverter, WorkflowConverter and
# BpmnSubWorkflowConverter do (tests/test_engine_state.py compares them on every path).


def _instance_dict(workflow: BpmnWorkflow) -> dict[str, Any]:
    """What ``BpmnWorkflowConverter.to_dict`` writes, without the spec and subprocess specs."""
    names = _Names()  # each id is written up to four times (key, task, parent, child)
    dct = _workflow_dict(workflow, names)
    dct["subprocesses"] = {
        names[key]: {
            **_workflow_dict(sub, names),
            "parent_task_id": names[sub.parent_task_id],
            "spec": sub.spec.name,
            "typename": _REGISTRY.typenames[type(sub)],
        }
        for key, sub in workflow.subprocesses.items()
    }
    dct["bpmn_events"] = _REGISTRY.convert(workflow.bpmn_events)
    return dct


class _Names(dict[UUID, str]):
    """Task ids as text, each formatted once."""

    def __missing__(self, key: UUID) -> str:
        text = self[key] = str(key)
        return text


def _workflow_dict(wf: Any, names: _Names) -> dict[str, Any]:
    """``WorkflowConverter.to_dict``."""
    return {
        "data": _REGISTRY.convert(_REGISTRY.clean(wf.data)),
        "correlations": wf.correlations,
        "last_task": names[wf.last_task.id] if wf.last_task is not None else None,
        "success": wf.success,
        "completed": wf.completed,
        "tasks": {names[key]: _task_dict(task, names) for key, task in wf.tasks.items()},
        "root": names[wf.task_tree.id],
    }


def _task_dict(task: Any, names: _Names) -> dict[str, Any]:
    """``TaskConverter.to_dict`` with the registry's typename: a task below the root keeps
    only its changes to its parent's data."""
    parent = task.parent
    if parent is None:
        data, delta = task.data, {}
    else:
        before, after = parent.data, task.data
        data = {}
        delta = {
            "updates": {k: v for k, v in after.items() if k not in before or v != before[k]},
            "deletions": [key for key in before if key not in after],
        }
    internal = task.internal_data
    return {
        "id": names[task.id],
        "parent": names[task._parent] if parent is not None else None,
        "children": [names[child] for child in task._children],
        "last_state_change": task.last_state_change,
        "state": task._state,
        "task_spec": task.task_spec.name,
        "triggered": task.triggered,
        "internal_data": _REGISTRY.convert(internal) if internal else {},
        "data": data,
        "delta": delta,
        "typename": _TASK_TYPENAME,
    }


def _restore(dct: dict[str, Any], definition: Definition) -> BpmnWorkflow:
    """``BpmnWorkflowConverter.from_dict`` with the definition's spec objects (shared, read-only)."""
    conv = _CONVERTER
    ids: dict[str, UUID] = {}  # each id appears up to three times (task, parent, child)
    workflow = BpmnWorkflow(definition.spec, definition.subprocess_specs, deserializing=True)
    workflow.tasks = _tasks(dct["tasks"], workflow, ids)
    workflow.task_tree = workflow.tasks.get(_uuid(ids, dct["root"]))
    conv.set_default_attributes(workflow, dct)
    _subprocesses(dct["subprocesses"], workflow, workflow, ids)
    workflow.bpmn_events = _REGISTRY.restore(dct.pop("bpmn_events", []))
    return workflow


def _subprocesses(dct: dict[str, Any], workflow: Any, top: BpmnWorkflow, ids: dict[str, UUID]) -> None:
    """``WorkflowConverter.subprocesses_from_dict``: parents before the subprocesses they hold."""
    for task in list(workflow.tasks.values()):
        key = str(task.id)
        if not isinstance(task.task_spec, SubWorkflowTask) or key not in dct:
            continue
        sub_dct = dct.pop(key)
        if sub_dct.get("typename") != _SUBWORKFLOW_TYPENAME:  # not written by this module
            sub = _REGISTRY.restore(sub_dct, task=task, top_workflow=top)
        else:
            spec = top.subprocess_specs.get(task.task_spec.spec)
            sub = _SUBWORKFLOW_CLASS(spec, task.id, top, deserializing=True)
            sub.tasks = _tasks(sub_dct["tasks"], sub, ids)
            sub.task_tree = sub.tasks.get(_uuid(ids, sub_dct["root"]))
            _CONVERTER.set_default_attributes(sub, sub_dct)
        top.subprocesses[task.id] = sub
        sub.completed_event.connect(task.task_spec._on_subworkflow_completed, task)
        _subprocesses(dct, sub, top, ids)


def _tasks(tasks: dict[str, Any], workflow: Any, ids: dict[str, UUID]) -> dict[UUID, Any]:
    """``TaskConverter.from_dict`` for each task, in saved order (a parent before its children)."""
    specs = workflow.spec.task_specs
    restored: dict[UUID, Any] = {}
    for key, dct in tasks.items():
        if dct.get("typename") != _TASK_TYPENAME:  # not written by this module
            restored[_uuid(ids, key)] = _REGISTRY.restore(dct, workflow=workflow)
            continue
        spec = specs.get(dct["task_spec"])
        task = _TASK_CLASS(workflow, spec, state=dct["state"], id=_uuid(ids, dct["id"]))
        parent_id = dct["parent"]
        task._parent = _uuid(ids, parent_id) if parent_id is not None else None
        task._children = [_uuid(ids, child) for child in dct["children"]]
        task.last_state_change = dct["last_state_change"]
        task.triggered = dct["triggered"]
        internal = dct["internal_data"]
        task.internal_data = _REGISTRY.restore(internal) if internal else {}
        if isinstance(spec, CatchingEvent) and task.has_state(TaskState.WAITING):
            workflow.top_workflow.event_manager.add_task(task)
        delta = dct.get("delta")
        parent = task.parent
        if delta and parent is not None:
            # DeepMerge.merge({}, parent.data): the parent's data, its containers copied once
            data = {
                k: copy.copy(v) if isinstance(v, dict | list | set) else v for k, v in parent.data.items()
            }
            updates = delta.get("updates")
            if updates:
                data.update(_REGISTRY.restore(updates))
            for name in delta.get("deletions", ()):
                data.pop(name, None)
        else:
            data = _REGISTRY.restore(dct["data"])
        task.data = data
        restored[_uuid(ids, key)] = task
    return restored


def _uuid(ids: dict[str, UUID], text: str) -> UUID:
    found = ids.get(text)
    if found is None:
        found = ids[text] = UUID(text)
    return found


def _properties(spec: Any) -> dict[str, str]:
    extensions = getattr(spec, "extensions", None) or {}
    return dict(extensions.get("properties") or {})


def _ready_task(task: Any, props: dict[str, str], dynamic_lanes: Mapping[str, str]) -> ReadyTask:
    spec = task.task_spec
    lane = spec.lane or ""
    item: dict[str, Any] = {}
    assignee: str | None = lane
    if lane in dynamic_lanes:
        variable = dynamic_lanes[lane]
        value = task.data.get(variable)
        assignee = value if isinstance(value, str) else None
        item = {variable: value}
    return ReadyTask(
        id=str(task.id),
        element_id=spec.bpmn_id,
        title=spec.bpmn_name or spec.bpmn_id,
        lane=lane,
        assignee=assignee,
        form=props.get("formJsonSchemaFilename"),
        properties=props,
        item=item,
    )


def _describe(err: Exception) -> str:
    parts = [str(err) if isinstance(err, SpiffWorkflowException) else f"{type(err).__name__}: {err}"]
    parts.extend(getattr(err, "notes", None) or getattr(err, "__notes__", None) or [])
    return "; ".join(p for p in parts if p)
