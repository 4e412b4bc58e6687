"""Ledger imports (台账导入): an uploaded file's batch, its rows, and API idempotency keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clock import now
from webapp.db import Base
from webapp.models.users import User

# a batch's life: uploaded -> validating -> previewed -> queued (confirmed) -> importing ->
# done | failed; a previewed batch may be discarded, and an importing or failed one
# (whose cases are still hidden) too: discarding -> discarded. A failed import may be
# queued again, and resumes after its last committed chunk.
UPLOADED, VALIDATING, PREVIEWED, QUEUED, IMPORTING, DONE, FAILED, DISCARDING, DISCARDED = (
    "uploaded",
    "validating",
    "previewed",
    "queued",
    "importing",
    "done",
    "failed",
    "discarding",
    "discarded",
)
# what the preview found for a row; new and join rows are the ones imported
ROW_NEW, ROW_JOIN, ROW_DUPLICATE, ROW_EXISTING = "new", "join", "duplicate", "existing"
ROW_INVALID = "invalid"
ROW_KINDS = (ROW_NEW, ROW_JOIN, ROW_DUPLICATE, ROW_EXISTING, ROW_INVALID)
# what a batch's file holds: a ledger of debtors (banks, guarantors) or the court's listings
# of judgment defaulters (webapp.defaulters.listing_file)
LEDGER, LISTINGS = "ledger", "listings"


class ImportBatch(Base):
    """One uploaded ledger file of a unit, from preview to import."""

    __tablename__ = "import_batches"
    __table_args__ = (Index("ix_import_batches_unit_created", "unit_code", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), default=LEDGER, server_default=LEDGER)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_format: Mapped[str] = mapped_column(String(10))
    encoding: Mapped[str | None] = mapped_column(String(20))
    header_language: Mapped[str] = mapped_column(String(5))
    # the uploaded file under a generated name, kept until its rows are read
    stored_name: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12), default=UPLOADED, index=True)
    total_rows: Mapped[int] = mapped_column(default=0)
    # rows per kind found by the preview (ROW_KINDS)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cases_created: Mapped[int] = mapped_column(default=0)
    loans_added: Mapped[int] = mapped_column(default=0)
    # set from the import's first chunk until its new cases are made visible, all at once
    hides_cases: Mapped[bool] = mapped_column(default=False, server_default=false())
    # importable rows placed by committed chunks; those already placed when this run began
    rows_done: Mapped[int] = mapped_column(default=0, server_default="0")
    resumed_rows: Mapped[int] = mapped_column(default=0, server_default="0")
    # when the last chunk committed: the rate, and the worker's sign of life
    progress_at: Mapped[dt.datetime | None]
    cases_removed: Mapped[int] = mapped_column(default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
    confirmed_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(viewonly=True)


class ImportRow(Base):
    """A data row of a batch: its original cells, what the preview found, and where it went.

    ``row_no`` is the row's number in the file as a spreadsheet shows it (the header is 1).
    """

    __tablename__ = "import_rows"
    __table_args__ = (
        Index("ix_import_rows_batch_kind", "batch_id", "kind", "row_no"),
        Index("ix_import_rows_batch_identifier", "batch_id", "identifier", "row_no"),
        # an import's next chunk: the batch's rows of a kind not placed yet, by debtor
        Index("ix_import_rows_batch_waiting", "batch_id", "kind", "placed", "identifier"),
    )

    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id"), primary_key=True)
    row_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(10))
    identifier: Mapped[str | None] = mapped_column(String(18))
    name: Mapped[str | None] = mapped_column(String(200))
    contract_no: Mapped[str | None] = mapped_column(String(80))
    # the open case a join row adds to, or the case an imported row went into
    case_id: Mapped[int | None]
    # row number of the earlier row a duplicate repeats
    duplicate_of: Mapped[int | None]
    # column key -> reasons, for invalid rows
    errors: Mapped[dict[str, Any] | None]
    cells: Mapped[list[Any]] = mapped_column(default=list)
    # the validated report of one loan, for rows to import
    data: Mapped[dict[str, Any] | None]
    # set when an import's committed chunk placed the row (a resumed import skips it)
    placed: Mapped[bool] = mapped_column(default=False, server_default=false())


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` and the answer it got, so a retry gets the same answer
    and changes nothing."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(120))
    # method, path and body digest: the same key with another request is refused
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
