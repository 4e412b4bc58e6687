"""Importing a confirmed batch (run by the worker), all or nothing: every row's case is
opened or joined in one transaction, committed with the batch marked done; any failure
rolls all of it back and marks the batch failed with the row that failed.

Rows of one debtor become one report (per behaviour and evidence), so a debtor with five
loans in the file gets one case with five loans. A row whose contract was reported in the
meantime (another batch, the API) is skipped as already imported.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import groupby
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from webapp.cases import intake
from webapp.cases.versions import deploy
from webapp.errors import DomainError
from webapp.ledger import progress
from webapp.ledger.rows import debtor_fields
from webapp.ledger.settings import LedgerSettings
from webapp.models import ImportBatch, ImportRow, Loan
from webapp.models.imports import DONE, ROW_EXISTING, ROW_JOIN, ROW_NEW

DEBTORS_PER_CHUNK = 500
PROGRESS_EVERY = 0.5  # seconds between progress reports


class ImportFailed(Exception):
    """A row could not be imported; the whole batch is rolled back."""


def import_rows(session: Session, batch: ImportBatch, cfg: LedgerSettings) -> None:
    """Open or join the cases of a batch's rows; the caller commits or rolls back."""
    user = batch.user
    total = batch.counts.get(ROW_NEW, 0) + batch.counts.get(ROW_JOIN, 0)
    done = created = added = 0
    progress.write(cfg.upload_dir, batch.id, "importing", 0, total)
    reported_at = time.monotonic()
    version = deploy(session, cfg.processes_dir)
    for debtors in _chunks(session, batch.id):
        # contracts reported since the preview (another batch, the API) are skipped
        reported = set(
            session.scalars(
                select(Loan.contract_no).where(
                    Loan.bank_unit_code == batch.unit_code,
                    Loan.contract_no.in_([r.contract_no for rows in debtors for r in rows]),
                )
            )
        )
        placed: list[dict[str, Any]] = []
        for debtor_rows in debtors:
            for (_behaviour, _evidence), group in groupby(
                debtor_rows, key=lambda r: (_data(r)["behaviour"], _data(r).get("evidence"))
            ):
                members = list(group)
                fresh = [r for r in members if r.contract_no not in reported]
                skipped = [r for r in members if r.contract_no in reported]
                placed += [{"row": r.row_no, "new_kind": ROW_EXISTING, "new_case": None} for r in skipped]
                if not fresh:
                    continue
                report = {**debtor_fields(_data(fresh[0])), "loans": [_data(r)["loans"][0] for r in fresh]}
                if "evidence" in _data(fresh[0]):
                    report["evidence"] = _data(fresh[0])["evidence"]
                try:
                    result = intake.record_report(
                        session,
                        user,
                        report,
                        processes_dir=cfg.processes_dir,
                        source={"import_batch": batch.id},
                        version=version,
                    )
                except DomainError as err:
                    raise ImportFailed(f"row {fresh[0].row_no}: {err.message}") from err
                created += result.created
                added += len(fresh)
                placed += [{"row": r.row_no, "new_kind": r.kind, "new_case": result.case.id} for r in fresh]
            done += len(debtor_rows)
            if time.monotonic() - reported_at > PROGRESS_EVERY:
                progress.write(cfg.upload_dir, batch.id, "importing", done, total)
                reported_at = time.monotonic()
        rows_table = cast("Table", ImportRow.__table__)
        session.execute(
            update(rows_table)
            .where(rows_table.c.batch_id == batch.id, rows_table.c.row_no == bindparam("row"))
            .values(kind=bindparam("new_kind"), case_id=bindparam("new_case")),
            placed,
        )
    batch.cases_created = created
    batch.loans_added = added
    batch.status = DONE


def _data(row: ImportRow) -> dict[str, Any]:
    return row.data or {}  # importable rows always carry their checked report


def _chunks(session: Session, batch_id: int) -> Iterator[list[list[ImportRow]]]:
    """The rows to import, a few hundred debtors at a time, each debtor's rows together."""
    importable = (ImportRow.batch_id == batch_id, ImportRow.kind.in_((ROW_NEW, ROW_JOIN)))
    after = ""
    while True:
        identifiers = list(
            session.scalars(
                select(ImportRow.identifier)
                .where(*importable, ImportRow.identifier > after)
                .group_by(ImportRow.identifier)
                .order_by(ImportRow.identifier)
                .limit(DEBTORS_PER_CHUNK)
            )
        )
        if not identifiers:
            return
        chunk = session.scalars(
            select(ImportRow)
            .where(*importable, ImportRow.identifier.in_(identifiers))
            .order_by(ImportRow.identifier, ImportRow.row_no)
        ).all()
        yield [list(rows) for _identifier, rows in groupby(chunk, key=lambda r: r.identifier)]
        after = str(identifiers[-1])
