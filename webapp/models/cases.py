from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.clock import now
from webapp.db import Base
from webapp.models.units import Unit

DEBTOR_KINDS = ("enterprise", "organisation", "individual", "official")
OPEN, CLOSED = "open", "closed"
_IDENTIFIER_PREFIX = "liandong:debtor-identifier:"


def identifier_digest(identifier: str) -> str:
    """The digest the look-ups and the case search compare, so that the identifier need not
    travel in clear (migration 0018 fills it with the same formula)."""
    return hashlib.sha256((_IDENTIFIER_PREFIX + identifier.strip().upper()).encode()).hexdigest()


def _digest_default(context: Any) -> str:
    return identifier_digest(str(context.get_current_parameters()["identifier"]))


class Debtor(Base):
    """A debtor (惩治对象): an organisation (credit code) or a person (identity number)."""

    __tablename__ = "debtors"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    # unified social credit code (GB 32100) or resident identity number (GB 11643), compact form
    identifier: Mapped[str] = mapped_column(String(18), unique=True)
    identifier_hash: Mapped[str | None] = mapped_column(String(64), index=True, default=_digest_default)
    legal_representative: Mapped[str | None] = mapped_column(String(120))
    actual_controller: Mapped[str | None] = mapped_column(String(120))
    employer_unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    position: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())

    employer_unit: Mapped[Unit | None] = relationship(viewonly=True)


class Case(Base):
    """One debtor's case (案件) and the projection of its engine state.

    ``state`` is the engine's instance state (without the definition, which lives in
    process_versions). Every other column is projected from it after each step so that
    queries never load engine state.
    """

    __tablename__ = "cases"
    __table_args__ = (
        # supervision: open cases by stage and age, cases without activity (migration 0005)
        Index("ix_cases_status_stage_created", "status", "stage", "created_at"),
        Index("ix_cases_status_updated", "status", "updated_at"),
        # the case search by a part of the debtor's name (migration 0007): newest first with
        # the name and status in the index (PostgreSQL walks it alone, no row read per case),
        # and for a long or rare part a trigram index (plain indexes on SQLite, kept so both
        # schemas match)
        Index("ix_cases_created_search", "created_at", "id", postgresql_include=["debtor_name", "status"]),
        Index(
            "ix_cases_debtor_name_trgm",
            "debtor_name",
            postgresql_using="gin",
            postgresql_ops={"debtor_name": "gin_trgm_ops"},
        ),
        # the blacklist look-up by whole names (migration 0027)
        Index("ix_cases_debtor_name", "debtor_name"),
        # stalled cases (webapp.cases.liveness, migration 0008): only open cases waiting on no
        # timer are candidates, a small part of the open ones, oldest change first
        Index(
            "ix_cases_open_untimed",
            "updated_at",
            "id",
            postgresql_where=text("status = 'open' AND next_timer_at IS NULL"),
            sqlite_where=text("status = 'open' AND next_timer_at IS NULL"),
        ),
        # the statistics count a period's confirmations, closings and delistings (migration 0021)
        Index("ix_cases_blacklisted_at", "blacklisted_at"),
        Index("ix_cases_closed_at", "closed_at"),
        Index("ix_cases_delisted_at", "delisted_at"),
        # the rejected cases, whose loans the statistics leave out of the amount outstanding
        Index(
            "ix_cases_rejected",
            "id",
            postgresql_where=text("outcome = 'rejected'"),
            sqlite_where=text("outcome = 'rejected'"),
        ),
        # open cases by stage and age: the statistics read this index alone
        Index(
            "ix_cases_open_stage_created",
            "stage",
            "created_at",
            postgresql_include=["import_batch_id", "id"],
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    # the debtor's name, copied for the case search (intake keeps every case of a debtor equal
    # to its name)
    debtor_name: Mapped[str] = mapped_column(String(200), server_default="")
    # equals debtor_id while the case is open and NULL after: one open case per debtor
    open_debtor_id: Mapped[int | None] = mapped_column(unique=True)
    # indexed: the versions page counts each version's cases, lists filter by process (0024)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"), index=True)
    creditor_unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    status: Mapped[str] = mapped_column(String(10), default=OPEN, index=True)
    stage: Mapped[str] = mapped_column(String(30), index=True)
    outcome: Mapped[str | None] = mapped_column(String(30))
    # why the office closed the case without settlement (closing.REASONS), if it did
    closing_reason: Mapped[str | None] = mapped_column(String(30))
    blacklisted: Mapped[bool] = mapped_column(default=False, index=True)
    blacklisted_at: Mapped[dt.datetime | None]
    delisted_at: Mapped[dt.datetime | None]
    # on the published list since (a measure exposing the debtor applied and not lifted)
    published_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(Text)
    active_elements: Mapped[list[str]] = mapped_column(default=list)
    completed_elements: Mapped[list[str]] = mapped_column(default=list)
    next_timer_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    incident: Mapped[str | None] = mapped_column(Text)
    # an intermediate message catch (not a boundary event) waits: the case is not stalled
    awaits_message: Mapped[bool] = mapped_column(default=False, server_default=false())
    # a failing timer is retried with backoff (webapp.cases.timers): failures in a row, next try
    timer_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    timer_retry_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now(), index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
    closed_at: Mapped[dt.datetime | None]
    # the ledger batch that opened the case; hidden while that batch hides its cases
    # (webapp.cases.visibility)
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads this

    debtor: Mapped[Debtor] = relationship(lazy="joined", foreign_keys=[debtor_id])
    # set when the case opens, so the debtor and the case are written in one flush
    open_debtor: Mapped[Debtor | None] = relationship(
        primaryjoin="foreign(Case.open_debtor_id) == Debtor.id", lazy="select"
    )
    creditor_unit: Mapped[Unit] = relationship(viewonly=True)
    loans: Mapped[list[Loan]] = relationship(back_populates="case", order_by="Loan.id")


class Loan(Base):
    """A loan (贷款) of the debtor reported by a creditor bank or guarantor."""

    __tablename__ = "loans"
    __table_args__ = (
        UniqueConstraint("bank_unit_code", "contract_no"),
        # the statistics' amounts reported and settled in a period (migration 0021)
        Index("ix_loans_reported_at", "reported_at"),
        Index("ix_loans_settled_at", "settled_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    bank_unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    contract_no: Mapped[str] = mapped_column(String(80))
    principal: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    interest: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    overdue_since: Mapped[dt.date] = mapped_column(Date)
    guarantee: Mapped[str | None] = mapped_column(String(200))
    behaviour: Mapped[str] = mapped_column(String(30))
    evidence: Mapped[str | None] = mapped_column(Text)
    reported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reported_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
    settled_at: Mapped[dt.datetime | None]
    settlement_certificate_no: Mapped[str | None] = mapped_column(String(80))
    settlement_attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachments.id"))

    case: Mapped[Case] = relationship(back_populates="loans")
    bank_unit: Mapped[Unit] = relationship(viewonly=True)


class CaseParticipant(Base):
    """A unit taking part in a case (reported it, owned a task, sanctioned): who may see it."""

    __tablename__ = "case_participants"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), primary_key=True, index=True)
    since: Mapped[dt.datetime] = mapped_column(default=lambda: now())


class Sanction(Base):
    """A sanction (惩戒措施) applied by one unit, and its lifting on delisting."""

    __tablename__ = "sanctions"

    # the statistics' sanctions of a period (migration 0021)
    __table_args__ = (
        Index("ix_sanctions_applied_at", "applied_at", postgresql_include=["case_id", "unit_code"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    task_id: Mapped[str] = mapped_column(String(36))
    measures: Mapped[list[str]] = mapped_column(default=list)
    applied_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
    lifted_at: Mapped[dt.datetime | None]
    lift_task_id: Mapped[str | None] = mapped_column(String(36))

    unit: Mapped[Unit] = relationship(viewonly=True)


class Attachment(Base):
    """An uploaded file, stored outside the web root under a generated name."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())


class Notification(Base):
    """An in-app message to a unit (e.g. the reporter told that its report was rejected)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_unit_read", "unit_code", "read_at"),
        # the assessment's reminders of a period (migration 0021)
        Index("ix_notifications_kind_created", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # set for messages that must be sent once (a task's reminder, a day's digest)
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=lambda: now())
    read_at: Mapped[dt.datetime | None]
