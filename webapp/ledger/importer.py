"""Importing a confirmed batch (run by the worker's ledger lane), a chunk at a time.

1. **New cases, hidden.** Rows of debtors without an open case are read a chunk of debtors
   at a time; each chunk opens its cases in bulk (``webapp.cases.bulk_start``: one engine
   start per kind of start, every row written by one statement per table) and commits them
   with the rows' placing and the batch's progress. The batch's ``hides_cases`` keeps them
   out of every inbox, list, search and public page meanwhile (``webapp.cases.visibility``).
2. **Visible at once.** One short transaction lowers the flag: every new case appears.
3. **Loans joining open cases**, chunk by chunk, each report an ordinary step on a case
   users already see (its history records it, so these are not discarded later).

A chunk is one transaction: a failure rolls back that chunk alone, and the batch is failed
with the row that failed; queued again (by the bank, or by the worker when the job was cut
off), it resumes after its last committed chunk (placed rows are marked so and never read
again). A batch discarded while it runs stops at its next chunk (the chunk's update of
the batch finds it no longer importing). Rows of one debtor become one report per behaviour
and evidence, so a debtor with five loans in the file gets one case with five loans; a row
whose contract was reported in the meantime (another batch, the API) is skipped as already
imported, and a debtor that got an open case in the meantime joins it in phase 3.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any, cast

from flask_babel import gettext as _
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp import bulkwrite
from webapp.cases import bulk_start, history, intake
from webapp.cases.versions import deploy
from webapp.clock import now
from webapp.errors import Conflict, DomainError, Invalid
from webapp.ledger.rows import debtor_fields
from webapp.ledger.settings import LedgerSettings
from webapp.models import Case, Debtor, ImportBatch, ImportRow, Loan, User
from webapp.models.imports import DONE, IMPORTING, ROW_EXISTING, ROW_INVALID, ROW_JOIN, ROW_NEW

# debtors a chunk of loans joining open cases (each one an ordinary step); new cases' chunks
# are ``LEDGER_IMPORT_CHUNK`` debtors
JOINS_PER_CHUNK = 50
# a chunk whose planned ids or debtors another writer took meanwhile is planned again
CHUNK_ATTEMPTS = 3
# SQLite: how often the import copies the write-ahead log into the database itself (keeping
# it under the size at which a caseworker's commit would have to); each copy costs a sync
CHECKPOINT_SECONDS = 0.1
_checkpointed = 0.0

_ROWS = cast(Table, ImportRow.__table__)
_PLACE_ROWS = (
    update(_ROWS)
    .where(_ROWS.c.batch_id == bindparam("batch"), _ROWS.c.row_no == bindparam("row"))
    .values(kind=bindparam("new_kind"), case_id=bindparam("new_case"), placed=bindparam("now_placed"))
)

_LEAVE_OUT = (
    update(_ROWS)
    .where(_ROWS.c.batch_id == bindparam("batch"), _ROWS.c.row_no == bindparam("row"))
    .values(kind=ROW_INVALID, errors=bindparam("reasons"), placed=True)
)


class ImportFailed(Exception):
    """A row could not be imported; its chunk is rolled back, earlier chunks stay."""


class ImportStopped(Exception):
    """The batch left ``importing`` meanwhile (discarded): the chunk is rolled back."""


@dataclass(frozen=True)
class _Row:
    row_no: int
    identifier: str
    contract_no: str
    data: dict[str, Any]


class ImportPaused(Exception):
    """The worker is stopping (SIGTERM): the import stopped after a committed chunk."""


# set by the worker's signal handler while an import runs (``pause``): it stops at the end of
# its chunk instead of being cut off, and is queued again at once
_pause = threading.Event()
_running = threading.Event()


def pause() -> bool:
    """Ask a running import to stop after its chunk; False when none runs."""
    if not _running.is_set():
        return False
    _pause.set()
    return True


def _checkpoint_pause() -> None:
    if _pause.is_set():
        raise ImportPaused


def import_rows(session: Session, batch_id: int, cfg: LedgerSettings) -> None:
    """Run (or resume) the import of a claimed batch to its end; commits chunk by chunk.
    ``ImportPaused`` after a chunk when the worker is asked to stop (``pause``)."""
    _running.set()
    try:
        _import_rows(session, batch_id, cfg)
    finally:
        _running.clear()
        _pause.clear()


def _import_rows(session: Session, batch_id: int, cfg: LedgerSettings) -> None:
    batch = session.get_one(ImportBatch, batch_id, populate_existing=True)
    user = batch.user
    version = deploy(session, cfg.processes_dir)
    source = {"import_batch": batch.id}
    if _pending(session, batch.id, ROW_NEW):
        _hide(session, batch)
        templates = bulk_start.Templates()
        share = cpu_share(session, cfg)
        for rows in _chunks(session, batch.id, ROW_NEW, chunk_size(session, cfg)):
            began = time.monotonic()
            _new_cases(session, batch, user, version, rows, source, templates)
            _checkpoint_pause()
            # leave the rest of the time to caseworkers' requests (see cpu_share); a stop
            # asked meanwhile ends the wait
            _pause.wait((time.monotonic() - began) * (1 / share - 1))
            _checkpoint_pause()
    _show(session, batch)
    for rows in _chunks(session, batch.id, ROW_JOIN, JOINS_PER_CHUNK):
        _joins(session, batch, user, version, rows, source)
        _checkpoint_pause()
    while_importing(session, batch, status=DONE, finished_at=now())
    history.batch_event(session, batch, "import_finished", user, rows=batch.rows_done)
    session.commit()


def chunk_size(session: Session, cfg: LedgerSettings) -> int:
    """Debtors a chunk: ``LEDGER_IMPORT_CHUNK``, or by default 25 on SQLite, where every
    caseworker's step waits for a chunk's write to end, and 500 on PostgreSQL, which only
    locks the rows a chunk writes."""
    return cfg.import_chunk or (500 if bulkwrite.is_postgresql(session) else 25)


def cpu_share(session: Session, cfg: LedgerSettings) -> float:
    """The share of its time an import works, pausing after each chunk for the rest:
    ``LEDGER_IMPORT_SHARE``, or by default 0.7 on PostgreSQL, whose server does most of an
    import's work at the same priority as caseworkers' queries (the ledger lane's own lower
    priority does not reach it), and 1 on SQLite, whose small chunks leave gaps already."""
    share = cfg.import_share or (0.7 if bulkwrite.is_postgresql(session) else 1.0)
    return min(1.0, max(0.05, share))


def _pending(session: Session, batch_id: int, kind: str) -> bool:
    return (
        session.scalar(
            select(ImportRow.row_no)
            .where(ImportRow.batch_id == batch_id, ImportRow.kind == kind, ImportRow.placed.is_(False))
            .limit(1)
        )
        is not None
    )


def _hide(session: Session, batch: ImportBatch) -> None:
    if not batch.hides_cases:
        while_importing(session, batch, hides_cases=True)
        history.batch_event(session, batch, "import_started", batch.user, resumed_rows=batch.rows_done)
        session.commit()


def _show(session: Session, batch: ImportBatch) -> None:
    """Every new case of the batch appears at once."""
    if batch.hides_cases:
        while_importing(session, batch, hides_cases=False)
        history.batch_event(session, batch, "cases_shown", batch.user, cases=batch.cases_created)
        session.commit()


def while_importing(session: Session, batch: ImportBatch, **values: Any) -> None:
    """Change the batch if it is still importing (the bank may have discarded it: then the
    transaction is rolled back and the import stops)."""
    moved = cast(
        "CursorResult[Any]",
        session.execute(
            update(ImportBatch)
            .where(ImportBatch.id == batch.id, ImportBatch.status == IMPORTING)
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if moved != 1:
        session.rollback()
        raise ImportStopped(batch.id)
    session.refresh(batch)


def _new_cases(
    session: Session,
    batch: ImportBatch,
    user: User,
    version: Any,
    rows: list[_Row],
    source: dict[str, Any],
    templates: bulk_start.Templates,
) -> None:
    """One chunk of new debtors: planned by reads alone, then written and committed in a
    short transaction (on SQLite the first write takes the one write lock, which caseworkers'
    steps wait for). A writer that took a planned id or debtor meanwhile fails the insert; the
    chunk is planned again, seeing what that writer committed."""
    for attempt in range(1, CHUNK_ATTEMPTS + 1):
        placed, reports, plan = _plan_chunk(session, batch, user, version, rows, source, templates)
        session.rollback()  # the reads' transaction ends: the writes start a fresh one
        try:
            started = plan.write(session)
        except IntegrityError:
            session.rollback()
            if attempt == CHUNK_ATTEMPTS:
                raise
            continue
        except DomainError as err:
            raise ImportFailed(_("row %(row)s: %(error)s", row=rows[0].row_no, error=err.message)) from err
        for report, fresh in reports:
            placed += [_placing(r, ROW_NEW, started.cases[report.identifier]) for r in fresh]
        _commit_chunk(session, batch, placed, created=len(reports), loans=started.loans)
        return


def _plan_chunk(
    session: Session,
    batch: ImportBatch,
    user: User,
    version: Any,
    rows: list[_Row],
    source: dict[str, Any],
    templates: bulk_start.Templates,
) -> tuple[list[dict[str, Any]], list[tuple[bulk_start.Report, list[_Row]]], bulk_start.Plan]:
    reported = _reported(session, batch.unit_code, rows)
    has_open_case = set(
        session.scalars(
            select(Debtor.identifier)
            .join(Case, Case.open_debtor_id == Debtor.id)
            .where(Debtor.identifier.in_({r.identifier for r in rows}))
        )
    )
    placed: list[dict[str, Any]] = []
    reports: list[tuple[bulk_start.Report, list[_Row]]] = []
    for identifier, debtor_rows in groupby(rows, key=lambda r: r.identifier):
        members = list(debtor_rows)
        fresh = [r for r in members if r.contract_no not in reported]
        placed += [_placing(r, ROW_EXISTING, None) for r in members if r.contract_no in reported]
        if identifier in has_open_case:
            # reported since the preview: the rows join that case in phase 3
            placed += [_placing(r, ROW_JOIN, None, placed=False) for r in fresh]
        elif fresh:
            reports.append((_report(identifier, fresh), fresh))
    plan = bulk_start.plan_cases(
        session,
        user,
        version,
        [r for r, _ in reports],
        source=source,
        import_batch_id=batch.id,
        templates=templates,
    )
    return placed, reports, plan


def _joins(
    session: Session,
    batch: ImportBatch,
    user: User,
    version: Any,
    rows: list[_Row],
    source: dict[str, Any],
) -> None:
    """Loans of debtors with an open case, one report per behaviour and evidence."""
    reported = _reported(session, batch.unit_code, rows)
    # a first write opens the chunk's transaction: pysqlite begins one only before a write,
    # and a SAVEPOINT outside a transaction would commit each report on its own
    while_importing(session, batch, progress_at=now())
    placed = [_placing(r, ROW_EXISTING, None) for r in rows if r.contract_no in reported]
    created = loans = 0
    left_out: list[dict[str, Any]] = []
    fresh = [r for r in rows if r.contract_no not in reported]
    for identifier, debtor_rows in groupby(fresh, key=lambda r: r.identifier):
        report = _report(identifier, list(debtor_rows))
        for group in report.groups:
            data = {**report.fields, "behaviour": group.behaviour, "loans": group.loans}
            if group.evidence is not None:
                data["evidence"] = group.evidence
            contracts = {loan["contract_no"] for loan in group.loans}
            members = [r for r in fresh if r.contract_no in contracts]
            try:
                with session.begin_nested():
                    result = intake.record_report(
                        session, user, data, processes_dir="", source=source, version=version
                    )
            except (Conflict, Invalid) as err:
                # the case changed since the preview (e.g. it is being delisted): these rows are
                # left out with the reason, as the preview leaves out rows it cannot import
                left_out += [{"row": r.row_no, "reasons": {"identifier": [err.message]}} for r in members]
                continue
            except DomainError as err:
                first = members[0].row_no
                raise ImportFailed(_("row %(row)s: %(error)s", row=first, error=err.message)) from err
            if result.created:  # the open case closed meanwhile: a new case, visible at once
                result.case.import_batch_id = batch.id
            created += result.created
            loans += len(group.loans)
            placed += [_placing(r, ROW_JOIN, result.case.id) for r in members]
    if left_out:
        session.execute(_LEAVE_OUT, [{"batch": batch.id, **r} for r in left_out])
        counts = dict(batch.counts)
        counts[ROW_JOIN] = counts.get(ROW_JOIN, 0) - len(left_out)
        counts[ROW_INVALID] = counts.get(ROW_INVALID, 0) + len(left_out)
        batch.counts = counts
    _commit_chunk(session, batch, placed, created=created, loans=loans)


def _commit_chunk(
    session: Session,
    batch: ImportBatch,
    placed: list[dict[str, Any]],
    *,
    created: int,
    loans: int,
) -> None:
    """The chunk's rows placed and the batch's progress, committed together; rolled back
    when the batch was discarded meanwhile."""
    if placed:
        session.execute(_PLACE_ROWS, [{"batch": batch.id, **p} for p in placed])
    # rows put off to phase 3 (their debtor got an open case meanwhile) count when placed there;
    # rows left out leave the total (counts) instead of counting as done
    done = sum(1 for p in placed if p["now_placed"])
    while_importing(
        session,
        batch,
        rows_done=ImportBatch.rows_done + done,
        cases_created=ImportBatch.cases_created + created,
        loans_added=ImportBatch.loans_added + loans,
        progress_at=now(),
    )
    session.commit()
    global _checkpointed
    if time.monotonic() - _checkpointed > CHECKPOINT_SECONDS:
        bulkwrite.checkpoint(session)
        _checkpointed = time.monotonic()


def _reported(session: Session, bank: str, rows: list[_Row]) -> set[str]:
    """Contracts of the rows reported since the preview (another batch, the API)."""
    return set(
        session.scalars(
            select(Loan.contract_no).where(
                Loan.bank_unit_code == bank, Loan.contract_no.in_([r.contract_no for r in rows])
            )
        )
    )


def _placing(row: _Row, kind: str, case_id: int | None, *, placed: bool = True) -> dict[str, Any]:
    return {"row": row.row_no, "new_kind": kind, "new_case": case_id, "now_placed": placed}


def _report(identifier: str, rows: list[_Row]) -> bulk_start.Report:
    """A debtor's rows as one report per behaviour and evidence, in the file's order."""
    groups = [
        bulk_start.LoanGroup(behaviour, evidence, [r.data["loans"][0] for r in members])
        for (behaviour, evidence), members in _grouped(rows)
    ]
    return bulk_start.Report(identifier, debtor_fields(rows[0].data), groups)


def _grouped(rows: list[_Row]) -> list[tuple[tuple[str, str | None], list[_Row]]]:
    return [
        (key, list(members))
        for key, members in groupby(rows, key=lambda r: (r.data["behaviour"], r.data.get("evidence")))
    ]


def _chunks(session: Session, batch_id: int, kind: str, debtors: int) -> Iterator[list[_Row]]:
    """The batch's rows of ``kind`` not placed yet, ``debtors`` debtors at a time, each
    debtor's rows together in the file's order."""
    waiting = (ImportRow.batch_id == batch_id, ImportRow.kind == kind, ImportRow.placed.is_(False))
    after = ""
    while True:
        identifiers = list(
            session.scalars(
                select(ImportRow.identifier)
                .where(*waiting, ImportRow.identifier > after)
                .group_by(ImportRow.identifier)
                .order_by(ImportRow.identifier)
                .limit(debtors)
            )
        )
        if not identifiers:
            return
        found = session.execute(
            select(ImportRow.row_no, ImportRow.identifier, ImportRow.contract_no, ImportRow.data)
            .where(*waiting, ImportRow.identifier.in_(identifiers))
            .order_by(ImportRow.identifier, ImportRow.row_no)
        )
        yield [_Row(row_no, str(i), str(contract), data or {}) for row_no, i, contract, data in found]
        after = str(identifiers[-1])
