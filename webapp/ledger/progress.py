"""A job's progress as the bank sees it, read from the batch's row: every chunk of a check, an
import or a discard commits its count with ``progress_at``, so what is shown has happened."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from webapp.models import ImportBatch
from webapp.models.imports import DISCARDING, IMPORTING, QUEUED, VALIDATING


@dataclass(frozen=True)
class Progress:
    phase: str  # the batch's status
    done: int
    total: int | None
    rate: float | None  # rows (cases, when discarding) a second in this run
    seconds_left: float | None

    @property
    def percent(self) -> int | None:
        return None if not self.total else min(100, self.done * 100 // self.total)


def of(batch: ImportBatch, at: dt.datetime) -> Progress | None:
    """The batch's progress at ``at``; None when no job runs or waits for it."""
    if batch.status not in (VALIDATING, QUEUED, IMPORTING, DISCARDING):
        return None
    if batch.status == DISCARDING:
        done, total = batch.cases_removed, batch.cases_created
    elif batch.status == VALIDATING:
        done, total = batch.rows_done, None
    else:
        done, total = batch.rows_done, batch.counts.get("new", 0) + batch.counts.get("join", 0)
    rate = seconds_left = None
    if batch.started_at and batch.progress_at and batch.progress_at > batch.started_at:
        moved = done - (batch.resumed_rows if batch.status != DISCARDING else 0)
        rate = moved / (batch.progress_at - batch.started_at).total_seconds()
        if total and rate > 0:
            left = (total - done) / rate - (at - batch.progress_at).total_seconds()
            # past its estimate the job is late (a worker cut off is resumed): no guess then
            seconds_left = left if left > 0 else None
    return Progress(batch.status, done, total, rate, seconds_left)


def is_stale(batch: ImportBatch, at: dt.datetime, stale_seconds: int) -> bool:
    """No chunk committed for ``stale_seconds`` (counted from the job's start when none did)."""
    moments = [t for t in (batch.progress_at, batch.started_at) if t is not None]
    return not moments or (at - max(moments)).total_seconds() > stale_seconds


def as_json(batch: ImportBatch, at: dt.datetime) -> dict[str, Any]:
    """What a batch's page polls: its status and progress."""
    current = of(batch, at)
    left = current.seconds_left if current else None
    return {
        "status": batch.status,
        "phase": current.phase if current else None,
        "done": current.done if current else None,
        "total": current.total if current else None,
        "percent": current.percent if current else None,
        "rate": round(current.rate, 1) if current and current.rate is not None else None,
        "seconds_left": round(left) if left is not None else None,
        "cases_created": batch.cases_created,
        "visible": not batch.hides_cases,
    }
