"""Stored case states rewritten through the engine's serializer, stalled cases repaired.

Run by ``flask cases upgrade-state`` (``make run`` and ``make serve`` run it after the
schema migration). Each case goes in its own short transaction under its row lock, so the
app keeps serving while it runs and a second run finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.cases import steps
from webapp.errors import Conflict, StepFailed
from webapp.models import Case
from webapp.transactions import atomic


@dataclass
class UpgradeReport:
    cases: int = 0
    repaired: list[tuple[int, list[str]]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


def upgrade_states(
    session: Session, *, batch: int = 500, progress: Callable[[int], None] | None = None
) -> UpgradeReport:
    """Every case's state read and written again by the engine; ``progress`` is told how
    many cases are done after each batch."""
    report = UpgradeReport()
    after = 0
    while True:
        ids = list(session.scalars(select(Case.id).where(Case.id > after).order_by(Case.id).limit(batch)))
        session.rollback()  # the read's snapshot is not held while the batch runs
        if not ids:
            return report
        for case_id in ids:
            report.cases += 1
            try:
                repaired = atomic(session, partial(_upgrade_one, session, case_id))
            except (StepFailed, Conflict) as err:
                report.failed.append((case_id, getattr(err, "message", None) or str(err)))
                continue
            if repaired:
                report.repaired.append((case_id, repaired))
        after = ids[-1]
        if progress is not None:
            progress(report.cases)


def _upgrade_one(session: Session, case_id: int) -> list[str]:
    return steps.upgrade_state(session, steps.lock_case(session, case_id))
