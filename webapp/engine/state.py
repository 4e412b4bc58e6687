"""A case's engine state, saved and restored by SpiffWorkflow's own serializer.

The process definition is stored once per deployed version, so a case's state leaves it
out: ``CaseStateConverter`` is SpiffWorkflow's ``BpmnWorkflowConverter`` registered the
documented way (``BpmnWorkflowSerializer.configure`` with a config that maps
``BpmnWorkflow`` to it). It writes what the library writes minus the two spec entries, and
reads a state back by handing the library's own ``from_dict`` the definition's spec objects
(the registry passes objects it does not recognise through unchanged). Every task, data
delta, subprocess and waiting event is written and restored by the library's converters.

The spec objects themselves are also built by the library's deserializer from the
definition's serialized form (``restore_specs``), never taken from the BPMN parser: the
deserializer wires what the engine needs at run time and the parser leaves to the first
use in the process (a multi-instance task's join of its finished items: a case whose items
were created in another process waited forever, ENGINE_NOTES).
"""

from __future__ import annotations

import json
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import WorkflowConverter
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

SPEC_KEYS = ("spec", "subprocess_specs")


class CaseStateConverter(BpmnWorkflowConverter):
    """``BpmnWorkflowConverter`` without the process definition in the saved state."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        # BpmnWorkflowConverter.to_dict converts the whole definition first; the rest is its own
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> BpmnWorkflow:
        if spec is None:  # a state that carries its definition (SpiffWorkflow's full format)
            return super().from_dict(dct)
        return super().from_dict({**dct, "spec": spec, "subprocess_specs": subprocess_specs})


_CONFIG = {**SPIFF_CONFIG, BpmnWorkflow: CaseStateConverter}
SERIALIZER = BpmnWorkflowSerializer(registry=BpmnWorkflowSerializer.configure(_CONFIG))
# the library's own converters, unchanged: what a maintainer or an auditor reads a stored
# state with (the definition's serialized form put back in)
LIBRARY_SERIALIZER = BpmnWorkflowSerializer(registry=BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


def dumps(workflow: BpmnWorkflow) -> str:
    """The state to store: the library's JSON, without the definition."""
    return SERIALIZER.serialize_json(workflow)


def loads(state: str, spec: Any, subprocess_specs: Any) -> BpmnWorkflow:
    """A stored state read back around the definition's spec objects (from ``restore_specs``).
    States saved before the serializer wrote a typename at the top are read the same."""
    dct = json.loads(state)
    SERIALIZER.migrate(dct)
    dct.setdefault("typename", SERIALIZER.registry.typenames[BpmnWorkflow])
    return SERIALIZER.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)


def spec_dicts(spec: Any, subprocess_specs: Any) -> dict[str, Any]:
    """The definition's serialized form (stored once per deployed version)."""
    registry = SERIALIZER.registry
    return {
        "spec": registry.convert(spec),
        "subprocess_specs": {name: registry.convert(sub) for name, sub in subprocess_specs.items()},
    }


def restore_specs(dicts: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The spec objects, built by the library's deserializer from ``spec_dicts``' form."""
    registry = SERIALIZER.registry
    spec = registry.restore(dicts["spec"])
    subprocess_specs = {name: registry.restore(sub) for name, sub in dicts["subprocess_specs"].items()}
    return spec, subprocess_specs


def library_load(state: str, spec_json: str) -> BpmnWorkflow:
    """A stored state read by SpiffWorkflow's unchanged serializer, its definition put back
    in: the check that what is stored is the library's format (tests, ``flask cases check``)."""
    dct = json.loads(state)
    dct.update(json.loads(spec_json))
    dct[LIBRARY_SERIALIZER.VERSION_KEY] = dct.get(LIBRARY_SERIALIZER.VERSION_KEY, LIBRARY_SERIALIZER.VERSION)
    dct["typename"] = LIBRARY_SERIALIZER.registry.typenames[BpmnWorkflow]
    return LIBRARY_SERIALIZER.deserialize_json(json.dumps(dct))
