"""Parsing and caching process definitions.

A definition is identified by the SHA-256 of its BPMN files; it is stored once per
deployed version and cases keep only their instance state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from webapp.engine import state


class DefinitionError(Exception):
    """A diagram that does not parse or validate."""


@dataclass(frozen=True)
class Definition:
    process_id: str
    sha256: str
    files: dict[str, str]
    spec_json: str
    # built by SpiffWorkflow's deserializer from spec_json (state.restore_specs), shared by
    # every case of this version in the process
    spec: Any
    subprocess_specs: Any

    @property
    def bpmn_xml(self) -> str:
        """The XML of the file holding the main process, as served to the browser."""
        marker = f'id="{self.process_id}"'
        return next((xml for xml in self.files.values() if marker in xml), next(iter(self.files.values())))

    @cached_property
    def element_properties(self) -> dict[str, dict[str, str]]:
        """Spiff properties (stage, effect, form, ...) of every element, by BPMN id."""
        props: dict[str, dict[str, str]] = {}
        for spec in [self.spec, *self.subprocess_specs.values()]:
            for task_spec in spec.task_specs.values():
                bpmn_id = getattr(task_spec, "bpmn_id", None)
                extensions = getattr(task_spec, "extensions", None) or {}
                if bpmn_id and extensions.get("properties"):
                    props[bpmn_id] = dict(extensions["properties"])
        return props


_CACHE: dict[str, Definition] = {}


def _hash(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()


def parse(process_id: str, files: dict[str, str]) -> Definition:
    """Parse and validate BPMN files (name -> XML); cached by content hash. The parser only
    validates and reads the diagrams: the spec objects cases run on are the library's
    deserialization of what it read (``state.restore_specs``)."""
    sha = _hash(files)
    if sha in _CACHE:
        return _CACHE[sha]
    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        for name, xml in files.items():
            parser.add_bpmn_str(xml.encode(), filename=name)
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except (ValidationException, KeyError, ValueError) as err:
        raise DefinitionError(f"{process_id}: {err}") from err
    spec_json = json.dumps(state.spec_dicts(spec, subprocess_specs))
    spec, subprocess_specs = state.restore_specs(json.loads(spec_json))
    definition = Definition(process_id, sha, dict(files), spec_json, spec, subprocess_specs)
    _CACHE[sha] = definition
    return definition


def from_stored(process_id: str, sha256: str, files: Callable[[], dict[str, str]]) -> Definition:
    """A definition as stored in the database: parsed once per process, then taken from the
    cache (``files`` is only called on a cache miss)."""
    if sha256 in _CACHE:
        return _CACHE[sha256]
    definition = parse(process_id, files())
    if definition.sha256 != sha256:
        raise DefinitionError(f"stored definition {sha256[:12]} does not match its files")
    return definition


# (directory, process id) -> the files' names, sizes and modification times, and the definition
_DIRECTORIES: dict[tuple[str, str], tuple[tuple[tuple[str, int, int], ...], Definition]] = {}


def load_directory(directory: Path, process_id: str) -> Definition:
    """The definition of ``process_id`` from its file ``<process_id>.bpmn`` in a directory
    (or, when it has none, from every .bpmn file there), so a process's versions change only
    with its own diagram; the files are read and hashed again only when one of them changed
    (every report deploys: reading and hashing them each time cost a report about 0.2 ms)."""
    own = directory / f"{process_id}.bpmn"
    paths = [own] if own.exists() else sorted(directory.glob("*.bpmn"))
    stamp = tuple((p.name, st.st_size, st.st_mtime_ns) for p in paths for st in [p.stat()])
    key = (str(directory), process_id)
    known = _DIRECTORIES.get(key)
    if known is not None and known[0] == stamp:
        return known[1]
    files = {p.name: p.read_text(encoding="utf-8") for p in paths}
    if not files:
        raise DefinitionError(f"no .bpmn files in {directory}")
    definition = parse(process_id, files)
    _DIRECTORIES[key] = (stamp, definition)
    return definition


def forget_cached() -> None:
    """Forget every definition this process parsed: the next step reads and builds them again,
    as a fresh worker process does (tests restart between steps with it)."""
    _CACHE.clear()
    _DIRECTORIES.clear()
