"""Deployed process versions: the diagram files stored once per content hash."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, defer

from webapp import catalog, engine
from webapp.models import Case, ProcessVersion

# a step needs a version's id and hash; its files only when the definition is not cached
WITHOUT_FILES = (defer(ProcessVersion.bpmn_xml), defer(ProcessVersion.spec_json))
# built once: every report runs it, and building it cost more than running it
_BY_HASH = (
    select(ProcessVersion).where(ProcessVersion.content_sha256 == bindparam("sha")).options(*WITHOUT_FILES)
)


def deploy(session: Session, processes_dir: str, process_id: str | None = None) -> ProcessVersion:
    """The version row of a process's diagram now in ``processes_dir`` (created if new);
    the catalogue's default process when none is named."""
    process_id = process_id or catalog.load(processes_dir).default_process.key
    definition = engine.load_directory(Path(processes_dir), process_id)
    version = session.scalar(_BY_HASH, {"sha": definition.sha256})
    if version is None:
        version = ProcessVersion(
            process_id=process_id,
            content_sha256=definition.sha256,
            bpmn_xml=json.dumps(definition.files, ensure_ascii=False),
            spec_json=definition.spec_json,
        )
        session.add(version)
        session.flush()
    return version


def process_key(session: Session, case: Case) -> str:
    """The key of the process the case runs (``processes/catalog.toml``); the version row is
    read as a step reads it, so the step that follows finds it in the session."""
    version = session.get(ProcessVersion, case.process_version_id, options=WITHOUT_FILES)
    return str(version.process_id) if version is not None else ""


def process_spec(session: Session, case: Case) -> catalog.ProcessSpec:
    return catalog.current().process(process_key(session, case))


def definition_of(version: ProcessVersion) -> engine.Definition:
    return engine.from_stored(
        version.process_id, version.content_sha256, lambda: json.loads(version.bpmn_xml)
    )
