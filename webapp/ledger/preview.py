"""Checking a batch's rows (run by the worker): each row is sorted into new case, added to an
open case (the same debtor, whichever bank reported it), duplicate within the file, already
imported, or invalid with the reasons per cell."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from webapp.cases import intake
from webapp.cases.visibility import SHOWN
from webapp.clock import now
from webapp.ledger import limits, rows
from webapp.ledger.columns import columns
from webapp.ledger.reader import open_ledger
from webapp.ledger.settings import LedgerSettings
from webapp.models import Case, Debtor, ImportBatch, ImportRow, Loan
from webapp.models.imports import (
    PREVIEWED,
    ROW_DUPLICATE,
    ROW_EXISTING,
    ROW_INVALID,
    ROW_JOIN,
    ROW_KINDS,
    ROW_NEW,
)

CHUNK = 1000
CHINA = ZoneInfo("Asia/Shanghai")
T = TypeVar("T")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class _Seen:
    """What earlier rows of the file said: contracts and debtors."""

    def __init__(self) -> None:
        self.contracts: dict[str, int] = {}
        self.debtors: dict[str, tuple[int, str, str]] = {}  # identifier -> row, name, kind
        self.new_debtors: set[str] = set()


def check_rows(session: Session, batch: ImportBatch, cfg: LedgerSettings) -> None:
    """Read the stored file, check and sort every row, store them, mark the batch previewed.

    Rows are committed a chunk at a time (they are not shown before the batch is previewed),
    so a large file does not hold SQLite's write lock for the whole check."""
    # a check cut off midway left some rows; this one starts over
    session.execute(delete(ImportRow).where(ImportRow.batch_id == batch.id))
    path = cfg.upload_dir / (batch.stored_name or "")
    content = path.read_bytes()
    sheet = open_ledger(content, max_bytes=cfg.max_bytes, max_unpacked_bytes=cfg.max_unpacked_bytes)
    report = intake.report_form(session, cfg.forms_dir)
    layout = rows.layout(sheet.header, columns(report), sheet.encoding)
    checker = rows.RowChecker(report, layout, now().astimezone(CHINA).date())
    seen = _Seen()
    counts = dict.fromkeys(ROW_KINDS, 0)
    done = 0
    for chunk in chunked(sheet.rows, CHUNK):
        if done + len(chunk) > cfg.max_rows:  # refused at upload; a file stored under a higher limit
            raise limits.too_many_rows(cfg.max_rows)
        checks = [checker.check(row_no, cells) for row_no, cells in chunk]
        records = _sort(session, batch.unit_code, checks, seen)
        for record in records:
            counts[record["kind"]] += 1
        session.execute(insert(ImportRow), [{"batch_id": batch.id, **r} for r in records])
        done += len(chunk)
        batch.rows_done, batch.progress_at = done, now()  # the bank's progress, and a sign of life
        session.commit()
    mark_previewed(batch, done, counts, path)


def mark_previewed(batch: ImportBatch, total_rows: int, counts: dict[str, int], path: Path) -> None:
    """The end of a batch's check, whatever its kind: its rows are stored and counted; the
    batch waits in its preview."""
    batch.rows_done = 0  # from now on: rows imported
    batch.total_rows = total_rows
    batch.counts = counts
    batch.status = PREVIEWED
    batch.stored_name = None
    path.unlink(missing_ok=True)  # the rows are stored; no second copy of the file is kept


def _sort(session: Session, unit_code: str, checks: list[rows.RowCheck], seen: _Seen) -> list[dict[str, Any]]:
    valid = [c for c in checks if c.data is not None]
    contracts = {c.data["loans"][0]["contract_no"] for c in valid if c.data}
    identifiers = {c.data["identifier"] for c in valid if c.data}
    reported = set(
        session.scalars(
            select(Loan.contract_no).where(Loan.bank_unit_code == unit_code, Loan.contract_no.in_(contracts))
        )
    )
    open_cases = {
        identifier: (case_id, stage)
        for identifier, case_id, stage in session.execute(
            select(Debtor.identifier, Case.id, Case.stage)
            .join(Case, Case.open_debtor_id == Debtor.id)
            # a case another import still hides is seen by nobody: its debtor's rows are
            # classified as new here, and left out with the reason when imported
            .where(Debtor.identifier.in_(identifiers), SHOWN)
        )
    }
    records = []
    for check in checks:
        record: dict[str, Any] = {
            "row_no": check.row_no,
            "cells": check.cells,
            "identifier": None,
            "name": None,
            "contract_no": None,
            "case_id": None,
            "duplicate_of": None,
            "errors": None,
            "data": None,
        }
        data = check.data
        if data is not None:
            record |= {
                "identifier": data["identifier"],
                "name": data["name"],
                "contract_no": data["loans"][0]["contract_no"],
            }
            _compare_debtor(check, data, seen)
        if check.errors or data is None:
            record |= {"kind": ROW_INVALID, "errors": check.errors}
            records.append(record)
            continue
        identifier, contract = data["identifier"], data["loans"][0]["contract_no"]
        if contract in seen.contracts:
            record |= {"kind": ROW_DUPLICATE, "duplicate_of": seen.contracts[contract]}
        elif contract in reported:
            record |= {"kind": ROW_EXISTING}
        elif identifier in open_cases and identifier not in seen.new_debtors:
            case_id, stage = open_cases[identifier]
            if stage == "delisting":
                message = _(
                    "The debtor's case #%(id)s is being delisted after settlement; report this loan "
                    "once it is closed.",
                    id=case_id,
                )
                record |= {"kind": ROW_INVALID, "errors": {"identifier": [message]}}
            else:
                record |= {"kind": ROW_JOIN, "case_id": case_id, "data": data}
        else:
            seen.new_debtors.add(identifier)
            record |= {"kind": ROW_NEW, "data": data}
        seen.contracts.setdefault(contract, check.row_no)
        records.append(record)
    return records


def _compare_debtor(check: rows.RowCheck, data: dict[str, Any], seen: _Seen) -> None:
    """Rows of one debtor must agree on who it is."""
    first = seen.debtors.get(data["identifier"])
    if first is None:
        seen.debtors[data["identifier"]] = (check.row_no, data["name"], data["debtor_kind"])
        return
    row_no, name, kind = first
    if data["name"] != name:
        check.errors["name"] = [_("Row %(row)s gives this debtor the name %(name)s.", row=row_no, name=name)]
    if data["debtor_kind"] != kind:
        check.errors["debtor_kind"] = [_("Row %(row)s gives this debtor another kind.", row=row_no)]
    if check.errors:
        check.data = None
