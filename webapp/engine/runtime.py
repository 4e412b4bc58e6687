"""Running one case's workflow: start, complete a task, deliver a message, fire timers.

A ``CaseRun`` wraps a loaded workflow for the length of one step; the caller (the
domain's step function) loads it from the saved state, acts, takes a ``Snapshot`` and
saves it again inside one database transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition as BaseMessageEvent
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from webapp.engine import state as engine_state
from webapp.engine.definitions import Definition
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
    # the multi-instance item, if any, and the data the element names in ``contextVariables``
    # (what its form and page need from the case, e.g. the instalment it confirms)
    item: dict[str, Any]
    # the value of the data named by the element's ``dueDateVariable`` (an ISO date): the task
    # is due on that day instead of after a period from deadlines.toml
    due_on: str | None = None


@dataclass(frozen=True)
class CompletedElement:
    element_id: str
    task_id: str
    properties: dict[str, str]
    # a timer event: the engine fires due timers at the end of any step, not only when asked
    is_timer: bool = False


@dataclass(frozen=True)
class Snapshot:
    ready: list[ReadyTask]
    active_elements: list[str]
    completed_elements: list[str]
    next_timer_at: dt.datetime | None
    finished: bool
    stages: list[str]
    # an intermediate message catch waits (a boundary message only interrupts: it does not
    # carry the case on by itself, so a case waiting on one alone is stalled)
    awaits_message: bool = False


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
        run.advance()
        return run

    @classmethod
    def load(cls, definition: Definition, state: str) -> CaseRun:
        try:
            workflow = engine_state.loads(state, definition.spec, definition.subprocess_specs)
        except Exception as err:  # an unreadable state is an incident, not a 500
            raise EngineError(f"the case state cannot be loaded: {_describe(err)}") from err
        # the script engine is not saved: without this the case would run unrestricted
        workflow.script_engine = make_script_engine()
        return cls(definition, workflow)

    def dump(self) -> str:
        """The instance state to save; the finished history is dropped first (``compact``)."""
        compact(self.workflow)
        return engine_state.dumps(self.workflow)

    # ---- actions -----------------------------------------------------------------
    def complete(self, task_id: str, data: Mapping[str, Any]) -> None:
        task = self._ready_user_task(task_id)
        task.set_data(**dict(data))
        try:
            task.run()
        except Exception as err:  # any engine failure becomes a recorded incident, never a 500
            raise EngineError(_describe(err)) from err
        self._record(task)
        self.advance()

    def deliver_message(self, name: str, payload: Mapping[str, Any]) -> bool:
        """Deliver a message; False when nothing in the case waits for it."""
        if not any(event.name == name for event in self.workflow.waiting_events()):
            return False
        event = BpmnEvent(MessageEventDefinition(name), payload=dict(payload))
        try:
            self.workflow.send_event(event)
        except Exception as err:  # any engine failure becomes a recorded incident, never a 500
            raise EngineError(_describe(err)) from err
        self.advance()
        return True

    def fire_due_timers(self) -> None:
        try:
            self.workflow.refresh_timers()
        except Exception as err:  # any engine failure becomes a recorded incident, never a 500
            raise EngineError(_describe(err)) from err
        self.advance()

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

    def repair(self) -> list[str]:
        """Join multi-instance items that finished without being merged, then run on; the ids
        of the elements repaired. A state saved while the running spec lacked the join
        (restored by hand before 2026-12, ENGINE_NOTES) has every item completed and its
        activity still started: the case waits forever. ``merge_child`` is what the item's
        completion calls when the join is wired."""
        repaired: list[str] = []
        for task in self.workflow.get_tasks(state=TaskState.STARTED):
            spec = task.task_spec
            if not isinstance(spec, MultiInstanceTask):
                continue
            merged = set(task.internal_data.get("merged", []))
            for child in task.children:
                if child.has_state(TaskState.COMPLETED) and str(child.id) not in merged:
                    spec.merge_child(child.workflow, child)
                    repaired.append(spec.bpmn_id)
        if repaired:
            self.advance()
        return repaired

    def task_data(self, task_id: str) -> dict[str, Any]:
        return dict(self._ready_user_task(task_id).data)

    # ---- projection ------------------------------------------------------------------
    def snapshot(self, dynamic_lanes: Mapping[str, str]) -> Snapshot:
        ready: list[ReadyTask] = []
        active: list[str] = []
        completed: set[str] = set()
        stages: list[str] = []
        timers: list[dt.datetime] = []
        awaits_message = False
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
                if (
                    task.has_state(TaskState.WAITING)
                    and isinstance(getattr(spec, "event_definition", None), BaseMessageEvent)
                    and not isinstance(spec, BoundaryEvent)
                ):
                    awaits_message = True
                if task.has_state(TaskState.READY) and spec.manual:
                    ready.append(_ready_task(task, props, dynamic_lanes))
        return Snapshot(
            ready=ready,
            active_elements=active,
            completed_elements=sorted(completed),
            next_timer_at=min(timers) if timers else None,
            finished=self.workflow.is_completed(),
            stages=stages,
            awaits_message=awaits_message,
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
            is_timer = isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition)
            self.completed.append(
                CompletedElement(bpmn_id, str(task.id), _properties(task.task_spec), is_timer)
            )

    def _engine_ready_and_errors(self) -> tuple[bool, list[Any]]:
        """Whether engine tasks are still ready, and the tasks in error, in one pass over the
        task maps (walking the trees with ``get_tasks`` twice cost more than the rest)."""
        pending, errors = False, []
        workflow = self.workflow
        for wf in (workflow, *workflow.subprocesses.values()):
            for task in wf.tasks.values():
                state = task.state
                if state == TaskState.READY and not task.task_spec.manual:
                    pending = True
                elif state == TaskState.ERROR:
                    errors.append(task)
        return pending, errors

    def advance(self) -> None:
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
    # Every chain of completed tasks, each with one live child, is cut down to its last task,
    # hung where the chain began: below the root and below every fork of live branches (a
    # side branch that ended waits at the body's end join while the path goes on, so a cut
    # from the root alone would stop at its split and keep everything after it).
    removed = 0
    forks = [wf.task_tree]
    while forks:
        node = forks.pop()
        for start in [child for child in node.children if child.id in live]:
            chain: list[Any] = []
            current = start
            while current.has_state(TaskState.COMPLETED) and current is not wf.last_task:
                chain.append(current)
                ahead = [child for child in current.children if child.id in live]
                if len(ahead) != 1:
                    break
                current = ahead[0]
            if len(chain) >= 2:
                removed += _cut(top, wf, node, chain)
            forks.append(chain[-1] if chain else start)
    return removed


def _cut(top: BpmnWorkflow, wf: Any, node: Any, chain: list[Any]) -> int:
    """Drop ``chain`` but its last task, which takes the first's place below ``node``."""
    keep = chain[-1]
    doomed: list[Any] = []
    stack = [chain[0]]
    while stack:
        task = stack.pop()
        if task is not keep:
            doomed.append(task)
            stack.extend(task.children)
    # the node's children are read while every task is still there
    node.children = [keep if child is chain[0] else child for child in node.children]
    keep.parent = node
    for task in doomed:
        if task.id in top.subprocesses:
            top.delete_subprocess(task)
    for task in doomed:
        del wf.tasks[task.id]
    return len(doomed)


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
    for name in props.get("contextVariables", "").split():
        item[name] = task.data.get(name)
    due_on = task.data.get(props.get("dueDateVariable", ""))
    return ReadyTask(
        id=str(task.id),
        element_id=spec.bpmn_id,
        title=spec.bpmn_name or spec.bpmn_id,
        lane=lane,
        assignee=assignee,
        form=props.get("formJsonSchemaFilename"),
        properties=props,
        item=item,
        due_on=due_on if isinstance(due_on, str) else None,
    )


def _describe(err: Exception) -> str:
    parts = [str(err) if isinstance(err, SpiffWorkflowException) else f"{type(err).__name__}: {err}"]
    parts.extend(getattr(err, "notes", None) or getattr(err, "__notes__", None) or [])
    return "; ".join(p for p in parts if p)
