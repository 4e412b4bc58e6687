"""Moving running cases to a newer version of their process.

Deploying a changed diagram creates a new version (``versions.deploy``); running cases stay
on the version they started on. An administrator moves them in bulk: the dry run says for
each running case of the source version whether it can move and, if not, which of its active
elements block it and why (``engine.migration``); the move then takes each case in its own
short transaction under its row lock (``steps.lock_case``), as ``upgrade.upgrade_states``
does, so the app keeps serving and a case changed meanwhile is judged again as it stands.
A moved case points at the new version, its rows are projected again as after a step, and
its history gets a ``version_migrated`` event (sealed on its chain like every event). Closed
cases never move; a second run finds nothing left to move.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp import engine
from webapp.cases import steps
from webapp.cases.versions import WITHOUT_FILES, definition_of
from webapp.errors import Conflict, Invalid, NotFound, StepFailed
from webapp.models import Case, ProcessVersion, User
from webapp.models.cases import CLOSED
from webapp.transactions import atomic


@dataclass(frozen=True)
class VersionRow:
    """A deployed version with its cases, for the admin page."""

    id: int
    process_id: str
    sha256: str
    deployed_at: dt.datetime
    running: int
    closed: int
    current: bool  # the version the processes/ directory gives now

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]


@dataclass(frozen=True)
class CaseVerdict:
    case_id: int
    debtor_name: str
    stage: str
    movable: bool
    obstacles: list[engine.Obstacle]


@dataclass
class DryRun:
    source: VersionRow
    target: VersionRow
    cases: list[CaseVerdict]

    @property
    def movable(self) -> list[CaseVerdict]:
        return [c for c in self.cases if c.movable]

    @property
    def blocked(self) -> list[CaseVerdict]:
        return [c for c in self.cases if not c.movable]


@dataclass
class MigrationReport:
    source: VersionRow
    target: VersionRow
    cases: int = 0
    moved: list[int] = field(default_factory=list)
    blocked: list[CaseVerdict] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


def versions(session: Session, processes_dir: str | Path | None = None) -> list[VersionRow]:
    """Every deployed version, newest first, with its running and closed cases; the one the
    diagrams in ``processes_dir`` give now is marked current."""
    counts: dict[tuple[int, bool], int] = {}
    rows = session.execute(
        select(Case.process_version_id, Case.status, func.count(Case.id)).group_by(
            Case.process_version_id, Case.status
        )
    )
    for version_id, status, count in rows:
        key = (version_id, status == CLOSED)
        counts[key] = counts.get(key, 0) + count
    found = list(
        session.scalars(select(ProcessVersion).options(*WITHOUT_FILES).order_by(ProcessVersion.id.desc()))
    )
    current = _current_hashes(processes_dir, {v.process_id for v in found})
    return [
        VersionRow(
            id=v.id,
            process_id=v.process_id,
            sha256=v.content_sha256,
            deployed_at=v.deployed_at,
            running=counts.get((v.id, False), 0),
            closed=counts.get((v.id, True), 0),
            current=current.get(v.process_id) == v.content_sha256,
        )
        for v in found
    ]


def _current_hashes(processes_dir: str | Path | None, process_ids: set[str]) -> dict[str, str]:
    if processes_dir is None:
        return {}
    hashes = {}
    for process_id in process_ids:
        try:
            hashes[process_id] = engine.load_directory(Path(processes_dir), process_id).sha256
        except engine.DefinitionError:
            continue  # a process no longer in the directory has no current version
    return hashes


def pair(session: Session, from_version_id: int, to_version_id: int) -> tuple[VersionRow, VersionRow]:
    """The source and target versions of a move: both deployed, of the same process, the
    target newer than the source."""
    rows = {v.id: v for v in versions(session)}
    source, target = rows.get(from_version_id), rows.get(to_version_id)
    if source is None or target is None:
        raise NotFound("process version not found")
    if source.process_id != target.process_id:
        message = _("The target version belongs to another process.")
        raise Invalid(message, {"to_version": [message]})
    if target.id <= source.id:
        message = _("The target version must be newer than the source version.")
        raise Invalid(message, {"to_version": [message]})
    return source, target


def dry_run(session: Session, from_version_id: int, to_version_id: int) -> DryRun:
    """For each running case of the source version: can it move to the target, or what
    blocks it. Nothing is written."""
    source, target = pair(session, from_version_id, to_version_id)
    source_def, target_def = _definitions(session, source.id, target.id)
    verdicts = []
    for case in session.execute(
        select(Case.id, Case.debtor_name, Case.stage, Case.state)
        .where(Case.process_version_id == source.id, Case.status != CLOSED)
        .order_by(Case.id)
    ):
        verdict = engine.migration.check(source_def, case.state, target_def)
        verdicts.append(
            CaseVerdict(case.id, case.debtor_name, case.stage, verdict.movable, verdict.obstacles)
        )
    return DryRun(source, target, verdicts)


def migrate(
    session: Session,
    from_version_id: int,
    to_version_id: int,
    actor: User | None,
    *,
    batch: int = 200,
    progress: Callable[[int, int], None] | None = None,
) -> MigrationReport:
    """Move every movable running case of the source version to the target, each in its own
    transaction (the caller's session is committed case by case); ``progress`` is told the
    cases done and their total after each case."""
    source, target = pair(session, from_version_id, to_version_id)
    source_def, target_def = _definitions(session, source.id, target.id)
    report = MigrationReport(source, target)
    running = select(Case.id).where(Case.process_version_id == source.id, Case.status != CLOSED)
    total = session.scalar(select(func.count()).select_from(running.subquery())) or 0
    after = 0
    while True:
        ids = list(session.scalars(running.where(Case.id > after).order_by(Case.id).limit(batch)))
        session.rollback()  # the read's snapshot is not held while the batch runs
        if not ids:
            return report
        for case_id in ids:
            report.cases += 1
            move = partial(_move_one, session, case_id, source, target, source_def, target_def, actor)
            try:
                # a refused move changes nothing on the case: no incident is recorded
                verdict = atomic(session, move, incident=_no_incident)
            except (StepFailed, Conflict) as err:
                report.failed.append((case_id, getattr(err, "message", None) or str(err)))
            else:
                if verdict is None:
                    pass  # closed or moved meanwhile: nothing to do
                elif verdict.movable:
                    report.moved.append(case_id)
                else:
                    report.blocked.append(verdict)
            if progress is not None:
                progress(report.cases, total)
        after = ids[-1]


def _move_one(
    session: Session,
    case_id: int,
    source: VersionRow,
    target: VersionRow,
    source_def: engine.Definition,
    target_def: engine.Definition,
    actor: User | None,
) -> CaseVerdict | None:
    case = steps.lock_case(session, case_id)
    if case.status == CLOSED or case.process_version_id != source.id:
        return None
    try:
        state = engine.migration.migrate(source_def, case.state, target_def)
    except engine.MigrationRefused as refused:
        return CaseVerdict(case.id, case.debtor_name, case.stage, False, refused.verdict.obstacles)
    version = session.get(ProcessVersion, target.id, options=WITHOUT_FILES)
    if version is None:
        raise NotFound("process version not found")
    steps.move_to_version(
        session,
        case,
        version,
        state,
        actor,
        from_version=source.id,
        to_version=target.id,
        from_sha256=source.sha256,
        to_sha256=target.sha256,
    )
    return CaseVerdict(case.id, case.debtor_name, case.stage, True, [])


def _definitions(
    session: Session, source_id: int, target_id: int
) -> tuple[engine.Definition, engine.Definition]:
    found = []
    for version_id in (source_id, target_id):
        version = session.get(ProcessVersion, version_id)
        if version is None:
            raise NotFound("process version not found")
        found.append(definition_of(version))
    return found[0], found[1]


def _no_incident(_session: Session, _failure: StepFailed) -> None:
    """A move that fails leaves the case as it was, on its version: not an incident."""
