"""The one seam to SpiffWorkflow: nothing outside this package imports it.

- ``definitions``: parse, validate, hash and cache process definitions;
- ``scripting``: the restricted environment for every diagram expression;
- ``runtime``: start a case, complete a task, deliver a message, fire timers, and turn
  engine state into plain rows (``Snapshot``);
- ``templates``: start many cases of a version at once (a ledger import);
- ``migration``: move a running case to another version of its process.
"""

from webapp.engine.definitions import (
    Definition,
    DefinitionError,
    forget_cached,
    from_stored,
    load_directory,
    parse,
)
from webapp.engine.migration import MigrationRefused, Obstacle, Verdict
from webapp.engine.runtime import CaseRun, CompletedElement, EngineError, ReadyTask, Snapshot, TaskNotReady
from webapp.engine.templates import DerivedStart, StartTemplate

__all__ = [
    "CaseRun",
    "CompletedElement",
    "Definition",
    "DefinitionError",
    "DerivedStart",
    "EngineError",
    "MigrationRefused",
    "Obstacle",
    "ReadyTask",
    "Snapshot",
    "StartTemplate",
    "TaskNotReady",
    "Verdict",
    "forget_cached",
    "from_stored",
    "load_directory",
    "parse",
]
