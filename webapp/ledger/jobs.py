"""The worker's part of ledger imports: check uploaded batches' rows, import confirmed ones.

One job per worker pass. A job is claimed with a conditional update, so several workers
never run the same batch; a job cut off midway (the worker killed) shows no progress for
``LEDGER_STALE_SECONDS`` and is claimed again — it committed nothing, so running it again
is safe.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from flask_babel import gettext as _
from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from webapp.clock import now
from webapp.errors import DomainError
from webapp.ledger import importer, preview, progress
from webapp.ledger.settings import LedgerSettings
from webapp.models import ImportBatch, ImportRow
from webapp.models.imports import FAILED, IMPORTING, QUEUED, UPLOADED, VALIDATING

log = logging.getLogger(__name__)
# a waiting state and the state its job runs in
JOBS = ((UPLOADED, VALIDATING), (QUEUED, IMPORTING))


def run_next(session: Session, cfg: LedgerSettings) -> int | None:
    """Run one waiting job; the batch's id, or None when there was nothing to do."""
    _requeue_stale(session, cfg)
    for waiting, running in JOBS:
        batch_id = session.scalar(
            select(ImportBatch.id).where(ImportBatch.status == waiting).order_by(ImportBatch.id).limit(1)
        )
        if batch_id is None:
            continue
        claim = (
            update(ImportBatch)
            .where(ImportBatch.id == batch_id, ImportBatch.status == waiting)
            .values(status=running, started_at=now())
        )
        claimed = cast("CursorResult[Any]", session.execute(claim)).rowcount
        session.commit()
        if claimed == 1:
            _run(session, batch_id, running, cfg)
            return batch_id
    return None


def _run(session: Session, batch_id: int, running: str, cfg: LedgerSettings) -> None:
    batch = session.get_one(ImportBatch, batch_id, populate_existing=True)
    started = time.monotonic()
    try:
        if running == VALIDATING:
            preview.check_rows(session, batch, cfg)
        else:
            importer.import_rows(session, batch, cfg)
        batch.finished_at = now() if running == IMPORTING else None
        session.commit()
        log.warning("ledger batch %s: %s done in %.1f s", batch_id, running, time.monotonic() - started)
    except (DomainError, importer.ImportFailed, OSError) as err:
        session.rollback()
        message = err.message if isinstance(err, DomainError) else str(err)
        _fail(session, batch_id, message, cfg)
    except Exception:
        session.rollback()
        log.exception("ledger batch %s failed", batch_id)
        _fail(session, batch_id, _("The import failed unexpectedly; nothing was imported."), cfg)
    finally:
        progress.clear(cfg.upload_dir, batch_id)


def _fail(session: Session, batch_id: int, message: str, cfg: LedgerSettings) -> None:
    batch = session.get_one(ImportBatch, batch_id, populate_existing=True)
    if batch.status == VALIDATING:  # rows of a failed check are not kept
        session.execute(delete(ImportRow).where(ImportRow.batch_id == batch_id))
    if batch.stored_name:  # a file that failed its check is fixed and uploaded anew
        (cfg.upload_dir / batch.stored_name).unlink(missing_ok=True)
        batch.stored_name = None
    batch.status = FAILED
    batch.error = message[:2000]
    batch.finished_at = now()
    session.commit()


def _requeue_stale(session: Session, cfg: LedgerSettings) -> None:
    running = session.scalars(
        select(ImportBatch).where(or_(ImportBatch.status == VALIDATING, ImportBatch.status == IMPORTING))
    ).all()
    for batch in running:
        since = batch.started_at.timestamp() if batch.started_at else 0.0
        if progress.is_stale(cfg.upload_dir, batch.id, since, cfg.stale_seconds):
            waiting = UPLOADED if batch.status == VALIDATING else QUEUED
            session.execute(
                update(ImportBatch)
                .where(ImportBatch.id == batch.id, ImportBatch.status == batch.status)
                .values(status=waiting)
            )
            log.warning("ledger batch %s was cut off while %s; queued again", batch.id, batch.status)
    session.commit()
