"""A ledger batch from the user's side: upload (the file checked as a whole at once),
look at the preview, confirm or discard. Rows are checked and imported by the worker
(``webapp.ledger.jobs``)."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Any, cast

from flask_babel import gettext as _
from sqlalchemy import or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from webapp.cases import history
from webapp.cases.attachments import track_written
from webapp.clock import now
from webapp.errors import Conflict, NotFound
from webapp.ledger import kinds, limits, rows
from webapp.ledger.columns import Column
from webapp.ledger.reader import open_ledger
from webapp.ledger.settings import LedgerSettings
from webapp.models import ImportBatch, ImportRow, User
from webapp.models.imports import (
    DISCARDED,
    DISCARDING,
    FAILED,
    IMPORTING,
    LEDGER,
    PREVIEWED,
    QUEUED,
    UPLOADED,
    VALIDATING,
)

# a batch in one of these is still on its way: the same file uploaded again goes to it
UNFINISHED = (UPLOADED, VALIDATING, PREVIEWED, QUEUED, IMPORTING)


def upload(
    session: Session, user: User, content: bytes, filename: str, cfg: LedgerSettings, kind: str = LEDGER
) -> ImportBatch:
    """Check a file of ``kind`` as a whole (format, encoding, size, header, rows and cells
    within the limits) and queue its rows for checking; ``LedgerFileError`` (422) and nothing
    stored when it cannot be read or is over a limit."""
    file_kind = kinds.of(kind)
    file_kind.check_user(user)
    return store(session, user, content, filename, cfg, file_kind.columns(session, cfg.forms_dir)[1], kind)


def store(
    session: Session,
    user: User,
    content: bytes,
    filename: str,
    cfg: LedgerSettings,
    cols: list[Column],
    kind: str,
) -> ImportBatch:
    """Check a file of ``kind`` as a whole against its columns, store it and queue its rows
    for the worker's check; the same file still on its way is that batch."""
    sheet = open_ledger(content, max_bytes=cfg.max_bytes, max_unpacked_bytes=cfg.max_unpacked_bytes)
    layout = rows.layout(sheet.header, cols, sheet.encoding)
    limits.check(content, sheet, max_rows=cfg.max_rows, max_cell_chars=cfg.max_cell_chars)
    digest = hashlib.sha256(content).hexdigest()
    same = session.scalar(
        select(ImportBatch).where(
            ImportBatch.kind == kind,
            ImportBatch.unit_code == user.unit_code,
            ImportBatch.sha256 == digest,
            ImportBatch.status.in_(UNFINISHED),
        )
    )
    if same is not None:
        return same
    stored_name = secrets.token_hex(16) + (".xlsx" if sheet.file_format == "xlsx" else ".csv")
    cfg.upload_dir.mkdir(parents=True, exist_ok=True)
    path = cfg.upload_dir / stored_name
    path.write_bytes(content)
    track_written(session, path)
    batch = ImportBatch(
        kind=kind,
        unit_code=user.unit_code,
        user_id=user.id,
        filename=Path(filename).name[:255] or "ledger",
        sha256=digest,
        file_format=sheet.file_format,
        encoding=sheet.encoding,
        header_language=layout.language,
        stored_name=stored_name,
        status=UPLOADED,
    )
    session.add(batch)
    session.flush()
    return batch


def get(session: Session, user: User, batch_id: int, kind: str = LEDGER) -> ImportBatch:
    """A batch of ``kind`` of the user's unit (others' batches do not exist for them)."""
    batch = session.get(ImportBatch, batch_id)
    if batch is None or batch.unit_code != user.unit_code or batch.kind != kind:
        raise NotFound(_("No such import."))
    return batch


def of_unit(session: Session, user: User, limit: int, offset: int, kind: str = LEDGER) -> list[ImportBatch]:
    return list(
        session.scalars(
            select(ImportBatch)
            .where(ImportBatch.unit_code == user.unit_code, ImportBatch.kind == kind)
            .order_by(ImportBatch.created_at.desc(), ImportBatch.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def rows_of(session: Session, batch: ImportBatch, kind: str, limit: int, offset: int) -> list[ImportRow]:
    return list(
        session.scalars(
            select(ImportRow)
            .where(ImportRow.batch_id == batch.id, ImportRow.kind == kind)
            .order_by(ImportRow.row_no)
            .limit(limit)
            .offset(offset)
        )
    )


def confirm(session: Session, user: User, batch_id: int, kind: str = LEDGER) -> ImportBatch:
    """Queue a previewed batch for import; confirming twice imports once."""
    batch = _previewed(session, user, batch_id, kind)
    if not (batch.counts.get("new", 0) or batch.counts.get("join", 0)):
        raise Conflict(_("The file has no rows to import."))
    _move(session, batch, PREVIEWED, QUEUED, confirmed_at=now())
    return batch


def discard(session: Session, user: User, batch_id: int, kind: str = LEDGER) -> ImportBatch:
    """Discard a batch: a previewed one at once; one whose import is waiting, running or
    failed while its cases are still hidden is queued for the worker to remove them."""
    kinds.of(kind).check_user(user)
    batch = get(session, user, batch_id, kind)
    if batch.status == PREVIEWED:
        _move(session, batch, PREVIEWED, DISCARDED, finished_at=now())
        return batch
    if batch.status not in (QUEUED, IMPORTING, FAILED) or (batch.status == FAILED and not batch.counts):
        raise Conflict(_("Only a previewed import, or one not finished, can be discarded."))
    if batch.rows_done and not batch.hides_cases:
        raise Conflict(
            _("The import's new cases are already visible to the units; it can no longer be discarded.")
        )
    # only while its cases are hidden (or none was made): the import may show them meanwhile
    hidden = or_(ImportBatch.hides_cases.is_(True), ImportBatch.rows_done == 0)
    _move(session, batch, batch.status, DISCARDING, hidden, started_at=None, progress_at=None)
    history.batch_event(session, batch, "discard_requested", user, rows_done=batch.rows_done)
    return batch


def resume(session: Session, user: User, batch_id: int, kind: str = LEDGER) -> ImportBatch:
    """Queue a failed import again: it goes on after its last committed chunk."""
    kinds.of(kind).check_user(user)
    batch = get(session, user, batch_id, kind)
    if batch.status != FAILED or not batch.counts:
        raise Conflict(_("Only a failed import can be resumed."))
    _move(session, batch, FAILED, QUEUED, error=None, finished_at=None)
    history.batch_event(session, batch, "import_resumed", user, rows_done=batch.rows_done)
    return batch


def _previewed(session: Session, user: User, batch_id: int, kind: str) -> ImportBatch:
    """The user's batch, which must wait in its preview to be confirmed or discarded."""
    kinds.of(kind).check_user(user)
    batch = get(session, user, batch_id, kind)
    if batch.status != PREVIEWED:
        raise Conflict(
            _(
                "Only a previewed import can be confirmed or discarded; this one is %(status)s.",
                status=batch.status,
            )
        )
    return batch


def _move(
    session: Session, batch: ImportBatch, old: str, new: str, *conditions: Any, **values: object
) -> None:
    """A conditional update, so two clicks (or two workers) cannot both move the batch."""
    moved = cast(
        "CursorResult[Any]",
        session.execute(
            update(ImportBatch)
            .where(ImportBatch.id == batch.id, ImportBatch.status == old, *conditions)
            .values(status=new, **values)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if moved != 1:
        raise Conflict(_("The import was changed at the same time; reload the page."))
    session.refresh(batch)
