"""Replay, export and search of the history (read-only, from the events table)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from webapp.audit.chain import Verdict, chain_of, verify_chain
from webapp.models import Attachment, Case, CaseEvent, ImportBatch, Task, User

EXPORT_FIELDS = (
    "seq",
    "id",
    "created_at",
    "kind",
    "actor",
    "unit_code",
    "task_id",
    "element_id",
    "data",
    "active_elements",
    "completed_elements",
    "prev_hash",
    "hash",
)


FILE_STATES = {"intact": _l("matches"), "altered": _l("altered"), "missing": _l("missing")}


@dataclass(frozen=True)
class FileCheck:
    """A file whose hash a step put into the history, checked against the stored file:
    ``intact`` (same SHA-256), ``altered`` or ``missing``."""

    attachment_id: int
    name: str
    sha256: str
    state: str


@dataclass(frozen=True)
class Step:
    event: CaseEvent
    actor: str
    task_title: str
    changes: dict[str, list[Any]]
    attachments: list[int]
    files: list[FileCheck] = field(default_factory=list)


def steps(session: Session, case: Case, upload_dir: str | None = None) -> list[Step]:
    """The case's events in chain order, each with what it changed in the case data and the
    files it recorded, verified against the stored files (in ``upload_dir``, by default the
    app's)."""
    events = list(
        session.scalars(select(CaseEvent).where(CaseEvent.chain == chain_of(case.id)).order_by(CaseEvent.seq))
    )
    users = {u.id: u.display_name for u in session.scalars(select(User))}
    titles = {
        task_id: title
        for task_id, title in session.execute(select(Task.id, Task.title).where(Task.case_id == case.id))
    }
    known: dict[str, Any] = {}
    result = []
    for e in events:
        submitted = (e.data or {}).get("submitted") or {}
        changes = {k: [known.get(k), v] for k, v in submitted.items() if known.get(k) != v}
        known.update(submitted)
        attachments = [a for a in _attachment_ids(e.data or {}) if a]
        result.append(
            Step(e, users.get(e.actor_id or 0, ""), titles.get(e.task_id or "", ""), changes, attachments)
        )
    if upload_dir is None and has_app_context():
        upload_dir = current_app.config.get("UPLOAD_DIR")
    return _with_file_checks(session, result, upload_dir) if upload_dir else result


def _recorded_files(data: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(id, name, sha256) of the files an event's data records: a stored file
    (``attachment_id`` with its ``sha256``) and the files of a task's file fields."""
    found: list[tuple[int, str, str]] = []
    if isinstance(data.get("attachment_id"), int) and isinstance(data.get("sha256"), str):
        # a comment names its file ``file_name``
        name = data.get("name") or data.get("file_name") or ""
        found.append((data["attachment_id"], str(name), data["sha256"]))
    for value in (data.get("submitted") or {}).values():
        for item in value if isinstance(value, list) else ():
            if (
                isinstance(item, dict)
                and isinstance(item.get("id"), int)
                and isinstance(item.get("sha256"), str)
            ):
                found.append((item["id"], str(item.get("name", "")), item["sha256"]))
    return found


def _with_file_checks(session: Session, result: list[Step], upload_dir: str) -> list[Step]:
    """Each step with its recorded files checked: the file on disk hashed again and compared
    with the hash in the history (not with the attachments table, which is not chained)."""
    recorded = {step.event.id: _recorded_files(step.event.data or {}) for step in result}
    ids = {file_id for files in recorded.values() for file_id, _name, _hash in files}
    if not ids:
        return result
    stored = {a.id: a.stored_name for a in session.scalars(select(Attachment).where(Attachment.id.in_(ids)))}
    states: dict[int, str] = {}
    checked = []
    for step in result:
        files = []
        for file_id, name, sha256 in recorded[step.event.id]:
            actual = states.get(file_id) or _hash_of(Path(upload_dir), stored.get(file_id))
            states[file_id] = actual
            state = "missing" if actual == "missing" else ("intact" if actual == sha256 else "altered")
            files.append(FileCheck(file_id, name, sha256, state))
        checked.append(Step(step.event, step.actor, step.task_title, step.changes, step.attachments, files))
    return checked


def _hash_of(folder: Path, stored_name: str | None) -> str:
    """The SHA-256 of a stored file, or ``missing``."""
    path = folder / stored_name if stored_name else None
    if path is None or not path.is_file():
        return "missing"
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _attachment_ids(data: dict[str, Any]) -> list[int]:
    ids = [data.get("attachment_id")]
    ids += [item.get("attachment_id") for item in data.get("loans", []) if isinstance(item, dict)]
    return [int(i) for i in ids if isinstance(i, int)]


def verdict(session: Session, case: Case) -> Verdict:
    return verify_chain(session, chain_of(case.id))


def export_rows(session: Session, case: Case) -> list[dict[str, Any]]:
    users = {u.id: u.username for u in session.scalars(select(User))}
    rows = []
    for e in session.scalars(
        select(CaseEvent).where(CaseEvent.chain == chain_of(case.id)).order_by(CaseEvent.seq)
    ):
        rows.append(
            {
                "seq": e.seq,
                "id": e.id,
                "created_at": e.created_at.isoformat(),
                "kind": e.kind,
                "actor": users.get(e.actor_id or 0),
                "unit_code": e.unit_code,
                "task_id": e.task_id,
                "element_id": e.element_id,
                "data": e.data,
                "active_elements": e.active_elements,
                "completed_elements": e.completed_elements,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
        )
    return rows


def export_json(session: Session, case: Case) -> str:
    check = verdict(session, case)
    body = {
        "case_id": case.id,
        "chain": chain_of(case.id),
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
        "verdict": {"ok": check.ok, "text": check.describe()},
        "hash_algorithm": "sha256(prev_hash + '\\n' + canonical JSON), see webapp/audit/chain.py",
        "events": export_rows(session, case),
    }
    return json.dumps(body, ensure_ascii=False, indent=2)


def export_csv(session: Session, case: Case) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in export_rows(session, case):
        flat = {
            k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v for k, v in row.items()
        }
        # spreadsheet programs run cells starting with = + - @ as formulas
        writer.writerow(
            {k: f"'{v}" if isinstance(v, str) and v[:1] in "=+-@" else v for k, v in flat.items()}
        )
    return out.getvalue()


@dataclass(frozen=True)
class EventQuery:
    actor: str | None = None
    unit: str | None = None
    kind: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None


# events of cases a ledger import still hides (webapp.cases.visibility): nobody sees them yet
_HIDDEN_CASES = select(Case.id).where(
    Case.import_batch_id.in_(select(ImportBatch.id).where(ImportBatch.hides_cases.is_(True)))
)


def search(session: Session, query: EventQuery, limit: int = 50, offset: int = 0) -> list[CaseEvent]:
    stmt = select(CaseEvent).where(or_(CaseEvent.case_id.is_(None), CaseEvent.case_id.not_in(_HIDDEN_CASES)))
    if query.actor:
        stmt = stmt.join(User, CaseEvent.actor_id == User.id).where(User.username == query.actor)
    if query.unit:
        stmt = stmt.where(CaseEvent.unit_code == query.unit)
    if query.kind:
        stmt = stmt.where(CaseEvent.kind == query.kind)
    if query.start:
        stmt = stmt.where(CaseEvent.created_at >= query.start)
    if query.end:
        stmt = stmt.where(CaseEvent.created_at < query.end)
    return list(
        session.scalars(
            stmt.order_by(CaseEvent.created_at.desc(), CaseEvent.id.desc()).limit(limit).offset(offset)
        )
    )
