"""The worker's part of ledger imports: check uploaded batches' rows, import confirmed ones,
remove discarded ones.

One job per worker pass. A job is claimed with a conditional update, so several workers
never run the same batch. Every job commits in chunks with its progress (``progress_at``);
a job cut off midway (the worker killed) shows no progress for ``LEDGER_STALE_SECONDS`` and
is claimed again: a check starts over (its rows are not shown before the preview), an import
resumes after its last committed chunk, a discard goes on removing.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

from flask_babel import gettext as _
from sqlalchemy import Table, delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from webapp import bulkwrite
from webapp.cases import history
from webapp.clock import now
from webapp.errors import DomainError
from webapp.ledger import discarding, importer, kinds, progress
from webapp.ledger.settings import LedgerSettings
from webapp.models import ImportBatch, ImportRow
from webapp.models.imports import DISCARDING, FAILED, IMPORTING, QUEUED, UPLOADED, VALIDATING

log = logging.getLogger(__name__)
# a waiting state and the state its job runs in (a discard runs in the state it waits in)
JOBS = ((DISCARDING, DISCARDING), (UPLOADED, VALIDATING), (QUEUED, IMPORTING))


def run_next(session: Session, cfg: LedgerSettings) -> int | None:
    """Run one waiting job; the batch's id, or None when there was nothing to do."""
    _requeue_stale(session, cfg)
    for waiting, running in JOBS:
        stmt = select(ImportBatch.id).where(ImportBatch.status == waiting)
        if waiting == DISCARDING:  # one not being removed by another worker right now
            stmt = stmt.where(ImportBatch.started_at.is_(None))
        batch_id = session.scalar(stmt.order_by(ImportBatch.id).limit(1))
        if batch_id is None:
            continue
        claim = (
            update(ImportBatch)
            .where(ImportBatch.id == batch_id, ImportBatch.status == waiting)
            .values(status=running, started_at=now(), progress_at=None, resumed_rows=ImportBatch.rows_done)
        )
        if waiting == DISCARDING:
            claim = claim.where(ImportBatch.started_at.is_(None))
        claimed = cast("CursorResult[Any]", session.execute(claim)).rowcount
        session.commit()
        if claimed == 1:
            _run(session, batch_id, running, cfg)
            return batch_id
    return None


def _run(session: Session, batch_id: int, running: str, cfg: LedgerSettings) -> None:
    started = time.monotonic()
    try:
        kind = kinds.of(session.get_one(ImportBatch, batch_id, populate_existing=True).kind)
        if running == VALIDATING:
            batch = session.get_one(ImportBatch, batch_id, populate_existing=True)
            kind.check_rows(session, batch, cfg)
            session.commit()
            # the rows were just loaded: the import's chunk queries need their statistics
            bulkwrite.analyze(session, cast("Table", ImportRow.__table__))
            session.commit()
        elif running == IMPORTING:
            kind.import_rows(session, batch_id, cfg)
        else:
            discarding.remove_cases(session, batch_id)
        log.warning("ledger batch %s: %s done in %.1f s", batch_id, running, time.monotonic() - started)
    except importer.ImportStopped:
        log.warning("ledger batch %s: import stopped, the batch was discarded", batch_id)
    except importer.ImportPaused:
        session.rollback()
        # the worker is stopping: the next one resumes at once, not after the stale time
        session.execute(
            update(ImportBatch)
            .where(ImportBatch.id == batch_id, ImportBatch.status == IMPORTING)
            .values(status=QUEUED, started_at=None)
        )
        session.commit()
        log.warning("ledger batch %s: paused after a chunk (the worker stops); queued again", batch_id)
    except (DomainError, importer.ImportFailed, OSError) as err:
        session.rollback()
        message = err.message if isinstance(err, DomainError) else str(err)
        _fail(session, batch_id, running, message, cfg)
    except Exception:
        session.rollback()
        log.exception("ledger batch %s failed", batch_id)
        _fail(session, batch_id, running, _("The job failed unexpectedly."), cfg)


def _fail(session: Session, batch_id: int, running: str, message: str, cfg: LedgerSettings) -> None:
    batch = session.get_one(ImportBatch, batch_id, populate_existing=True)
    if batch.status != running:  # discarded meanwhile: the discard goes on
        return
    if running == DISCARDING:  # tried again at the next pass, after the stale time
        log.warning("ledger batch %s: discard failed: %s", batch_id, message)
        return
    if running == VALIDATING:
        # rows of a failed check are not kept; a file that failed its check is fixed and
        # uploaded anew
        session.execute(delete(ImportRow).where(ImportRow.batch_id == batch_id))
        if batch.stored_name:
            (cfg.upload_dir / batch.stored_name).unlink(missing_ok=True)
            batch.stored_name = None
    else:
        history.batch_event(session, batch, "import_failed", None, error=message[:500], rows=batch.rows_done)
    batch.status = FAILED
    batch.error = message[:2000]
    batch.finished_at = now()
    session.commit()


def _requeue_stale(session: Session, cfg: LedgerSettings) -> None:
    at = now()
    running = session.scalars(
        select(ImportBatch).where(ImportBatch.status.in_((VALIDATING, IMPORTING, DISCARDING)))
    ).all()
    for batch in running:
        if batch.status == DISCARDING and batch.started_at is None:
            continue  # waiting, not running
        if progress.is_stale(batch, at, cfg.stale_seconds):
            waiting = {VALIDATING: UPLOADED, IMPORTING: QUEUED, DISCARDING: DISCARDING}[batch.status]
            session.execute(
                update(ImportBatch)
                .where(ImportBatch.id == batch.id, ImportBatch.status == batch.status)
                .values(status=waiting, started_at=None)
            )
            log.warning("ledger batch %s was cut off while %s; queued again", batch.id, batch.status)
    session.commit()
