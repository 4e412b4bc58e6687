"""The court's file of listings (seed 004): a CSV or XLSX with one judgment defaulter a row,
its columns those of the listing form (forms/court_listing.json: Chinese headers, English
ones accepted too). It goes through the ledger's machinery (``webapp.ledger``): the same
reading of CSV and XLSX, limits, template and error files, per-row checking, preview, worker
lane and progress.

A row is new, a repeat of an earlier row's enforcement number (skipped), already listed
(skipped) or invalid with its reasons per cell. Court files are small (hundreds of rows):
the import opens each listing through ``intake.record_listing``, each in its own savepoint,
and commits ``CHUNK`` rows at a time with the batch's progress. A row listed meanwhile (the
page, the API) is counted as already listed; any other failure fails the batch after its last
committed chunk, and it may be resumed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from webapp.cases import history
from webapp.cases.versions import deploy
from webapp.clock import now
from webapp.defaulters import PROCESS, intake
from webapp.errors import Conflict, DomainError
from webapp.ledger import importer, kinds, limits, preview, rows
from webapp.ledger.columns import Column, form_columns
from webapp.ledger.importer import ImportFailed
from webapp.ledger.reader import open_ledger
from webapp.ledger.settings import LedgerSettings
from webapp.models import CourtListing, ImportBatch, ImportRow
from webapp.models.imports import (
    DONE,
    LISTINGS,
    ROW_DUPLICATE,
    ROW_EXISTING,
    ROW_INVALID,
    ROW_KINDS,
    ROW_NEW,
)
from webapp.taskforms import FormSchema

# listings a committed chunk of the import opens (each one a case start)
CHUNK = 20
CHINA = ZoneInfo("Asia/Shanghai")


def columns(forms_dir: str) -> tuple[FormSchema, list[Column]]:
    form = intake.form(forms_dir)
    return form, form_columns(form)


class ListingChecker(rows.RowChecker):
    """A row is a listing form's document as it is (no nested loans)."""

    def document(self, values: dict[str, Any]) -> dict[str, Any]:
        return dict(values)

    def column_of(self, path: str) -> str | None:
        return path


def check_rows(session: Session, batch: ImportBatch, cfg: LedgerSettings) -> None:
    """Read the stored file, check and sort every row, store them, mark the batch previewed."""
    session.execute(delete(ImportRow).where(ImportRow.batch_id == batch.id))
    path = cfg.upload_dir / (batch.stored_name or "")
    sheet = open_ledger(path.read_bytes(), max_bytes=cfg.max_bytes, max_unpacked_bytes=cfg.max_unpacked_bytes)
    form, cols = columns(cfg.forms_dir)
    checker = ListingChecker(form, rows.layout(sheet.header, cols, sheet.encoding), _today())
    seen: dict[str, int] = {}  # enforcement number -> its first row
    counts = dict.fromkeys(ROW_KINDS, 0)
    done = 0
    for chunk in preview.chunked(sheet.rows, preview.CHUNK):
        if done + len(chunk) > cfg.max_rows:
            raise limits.too_many_rows(cfg.max_rows)
        checks = [checker.check(row_no, cells) for row_no, cells in chunk]
        numbers = {c.data["enforcement_no"] for c in checks if c.data}
        listed = set(
            session.scalars(
                select(CourtListing.enforcement_no).where(CourtListing.enforcement_no.in_(numbers))
            )
        )
        records = [_record(check, seen, listed) for check in checks]
        for record in records:
            counts[record["kind"]] += 1
        session.execute(insert(ImportRow), [{"batch_id": batch.id, **r} for r in records])
        done += len(chunk)
        batch.rows_done, batch.progress_at = done, now()
        session.commit()
    preview.mark_previewed(batch, done, counts, path)


def _today() -> dt.date:
    return now().astimezone(CHINA).date()


def _record(check: rows.RowCheck, seen: dict[str, int], listed: set[str]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "row_no": check.row_no,
        "cells": check.cells,
        "identifier": None,
        "name": None,
        "contract_no": None,  # the enforcement case's number
        "case_id": None,
        "duplicate_of": None,
        "errors": None,
        "data": None,
    }
    data = check.data
    if data is None or check.errors:
        return record | {"kind": ROW_INVALID, "errors": check.errors}
    number = data["enforcement_no"]
    record |= {"identifier": data["identifier"], "name": data["name"], "contract_no": number}
    if number in seen:
        return record | {"kind": ROW_DUPLICATE, "duplicate_of": seen[number]}
    seen[number] = check.row_no
    if number in listed:
        return record | {"kind": ROW_EXISTING}
    return record | {"kind": ROW_NEW, "data": data}


def import_rows(session: Session, batch_id: int, cfg: LedgerSettings) -> None:
    """Open a case for every new row not placed yet, ``CHUNK`` rows a transaction."""
    batch = session.get_one(ImportBatch, batch_id, populate_existing=True)
    version = deploy(session, cfg.processes_dir, PROCESS)
    waiting = select(ImportRow).where(
        ImportRow.batch_id == batch.id, ImportRow.kind == ROW_NEW, ImportRow.placed.is_(False)
    )
    while chunk := list(session.scalars(waiting.order_by(ImportRow.row_no).limit(CHUNK))):
        _import_chunk(session, batch, chunk, version, cfg)
    importer.while_importing(session, batch, status=DONE, finished_at=now())
    history.batch_event(session, batch, "import_finished", batch.user, rows=batch.rows_done)
    session.commit()


def _import_chunk(
    session: Session, batch: ImportBatch, chunk: list[ImportRow], version: Any, cfg: LedgerSettings
) -> None:
    # a first write opens the chunk's transaction (pysqlite begins one only before a write,
    # and a SAVEPOINT outside a transaction would commit each listing on its own)
    importer.while_importing(session, batch, progress_at=now())
    user = batch.user
    created = existing = 0
    for row in chunk:
        try:
            with session.begin_nested():
                case = intake.record_listing(
                    session,
                    user,
                    dict(row.data or {}),
                    processes_dir=cfg.processes_dir,
                    source={"import_batch": batch.id, "row": row.row_no},
                    version=version,
                )
        except Conflict:  # listed meanwhile (the page, the API, another file)
            row.kind, row.placed = ROW_EXISTING, True
            existing += 1
            continue
        except DomainError as err:
            raise ImportFailed(_("row %(row)s: %(error)s", row=row.row_no, error=err.message)) from err
        row.case_id, row.placed = case.id, True
        created += 1
    if existing:
        counts = dict(batch.counts)
        counts[ROW_NEW] = counts.get(ROW_NEW, 0) - existing
        counts[ROW_EXISTING] = counts.get(ROW_EXISTING, 0) + existing
        batch.counts = counts
    importer.while_importing(
        session,
        batch,
        rows_done=ImportBatch.rows_done + created,
        cases_created=ImportBatch.cases_created + created,
        progress_at=now(),
    )
    session.commit()


# a file of listings has no rows joining an open case: each listing is its own case
ROW_KINDS_SHOWN = (ROW_NEW, ROW_DUPLICATE, ROW_EXISTING, ROW_INVALID)

kinds.register(
    LISTINGS,
    kinds.FileKind(
        intake.check_lister,
        check_rows,
        import_rows,
        lambda _session, forms_dir: columns(forms_dir),
        ROW_KINDS_SHOWN,
    ),
)
