"""The kinds of file the import machinery takes (``ImportBatch.kind``): each says who may
upload it, its columns, the kinds of row its check sorts rows into and how the worker checks
and imports its rows. Upload, preview, confirmation, progress, the worker's lane and
discarding are shared (their pages: ``webapp.ledger.batch_views``).

The ledger is registered here; another capability registers its own kind when its module is
imported (the court's listings: ``webapp.defaulters.listing_file``), so this package never
imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from webapp.errors import NotFound
from webapp.ledger.settings import LedgerSettings
from webapp.models import ImportBatch, User
from webapp.models.imports import LEDGER, ROW_KINDS

if TYPE_CHECKING:
    from webapp.ledger.columns import Column
    from webapp.taskforms import FormSchema


@dataclass(frozen=True)
class FileKind:
    # raises Forbidden for a user who may not upload, confirm or discard such a file
    check_user: Callable[[User], None]
    # the worker's check of a claimed batch's rows: stores them sorted, marks it previewed
    check_rows: Callable[[Session, ImportBatch, LedgerSettings], None]
    # the worker's import of a claimed, confirmed batch, committed a chunk at a time
    import_rows: Callable[[Session, int, LedgerSettings], None]
    # the form a row fills and the file's columns (template, header, error file), from the
    # session and the forms directory
    columns: Callable[[Session, str], tuple[FormSchema, list[Column]]]
    # the kinds of row the check sorts rows into, in the preview's order
    row_kinds: tuple[str, ...] = ROW_KINDS


_KINDS: dict[str, FileKind] = {}


def register(key: str, kind: FileKind) -> None:
    _KINDS[key] = kind


def of(key: str) -> FileKind:
    if key == LEDGER and key not in _KINDS:
        register(LEDGER, _ledger())
    try:
        return _KINDS[key]
    except KeyError:
        raise NotFound(f"no import of kind {key!r}") from None


def _ledger() -> FileKind:
    from webapp.cases import intake
    from webapp.ledger import importer, preview
    from webapp.ledger.columns import columns

    def report_columns(session: Session, forms_dir: str) -> tuple[FormSchema, list[Column]]:
        report = intake.report_form(session, forms_dir)
        return report, columns(report)

    return FileKind(intake.check_reporter, preview.check_rows, importer.import_rows, report_columns)
