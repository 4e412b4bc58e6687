"""The one seam to SpiffWorkflow: nothing outside this package imports it.

- ``definitions``: parse, validate, hash and cache process definitions;
- ``scripting``: the restricted environment for every diagram expression;
- ``runtime``: start a case, complete a task, deliver a message, fire timers, and turn
  engine state into plain rows (``Snapshot``).
"""

from webapp.engine.definitions import (
    Definition,
    DefinitionError,
    forget_cached,
    from_stored,
    load_directory,
    parse,
)
from webapp.engine.runtime import CaseRun, CompletedElement, EngineError, ReadyTask, Snapshot, TaskNotReady

__all__ = [
    "CaseRun",
    "CompletedElement",
    "Definition",
    "DefinitionError",
    "EngineError",
    "ReadyTask",
    "Snapshot",
    "TaskNotReady",
    "forget_cached",
    "from_stored",
    "load_directory",
    "parse",
]
