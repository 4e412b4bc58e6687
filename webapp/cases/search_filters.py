"""The case search's filters beyond the name and status: the debtor's identifier (exact, by
its digest, so the identifier never travels in clear), the bank that reported a loan, the
stage, the process, the amount reported (principal and interest of the case's loans) and the report date."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from webapp.cases.identifiers import normalize
from webapp.errors import Invalid
from webapp.models import Case, Debtor, Loan, ProcessVersion, Unit
from webapp.models.cases import identifier_digest

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class CaseFilters:
    identifier_hash: str | None = None
    bank: str | None = None
    stage: str | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    reported_from: dt.date | None = None
    reported_to: dt.date | None = None
    # the process the case runs (a key of processes/catalog.toml)
    process: str | None = None

    def args(self) -> dict[str, str]:
        """The filters as query arguments (for the form and the pager)."""
        values = {
            "idh": self.identifier_hash,
            "bank": self.bank,
            "stage": self.stage,
            "amount_min": self.amount_min,
            "amount_max": self.amount_max,
            "from": self.reported_from,
            "to": self.reported_to,
            "process": self.process,
        }
        return {k: str(v) for k, v in values.items() if v is not None}


def from_args(
    args: Mapping[str, str],
    *,
    banks: Collection[str],
    stages: Collection[str],
    processes: Collection[str] = (),
) -> tuple[CaseFilters, list[str]]:
    """The filters given in a request's arguments and the messages about those that are not
    valid (which are left out)."""
    errors: list[str] = []
    idh = (args.get("idh") or "").strip().lower() or None
    if idh and not _DIGEST.match(idh):
        errors.append(_("The identifier filter is not valid; search by identifier again."))
        idh = None
    bank = args.get("bank") or None
    if bank and bank not in banks:
        bank = None
    stage = args.get("stage") or None
    if stage and stage not in stages:
        stage = None
    process = args.get("process") or None
    if process and process not in processes:
        process = None
    amounts = []
    for key in ("amount_min", "amount_max"):
        text = (args.get(key) or "").replace(",", "").strip()
        try:
            value = Decimal(text) if text else None
        except InvalidOperation:
            value = None
        if value is not None and (not value.is_finite() or value < 0):
            value = None
        if text and value is None:
            errors.append(_("An amount is a number of yuan, 0 or more."))
        amounts.append(value)
    dates = []
    for key in ("from", "to"):
        text = (args.get(key) or "").strip()
        try:
            day = dt.date.fromisoformat(text) if text else None
        except ValueError:
            errors.append(_("A date is written as YYYY-MM-DD."))
            day = None
        dates.append(day)
    return CaseFilters(idh, bank, stage, amounts[0], amounts[1], dates[0], dates[1], process), errors


def where(filters: CaseFilters, timezone: str) -> list[ColumnElement[bool]]:
    """The filters as conditions on ``Case``."""
    conditions: list[ColumnElement[bool]] = []
    if filters.identifier_hash:
        debtor = select(Debtor.id).where(Debtor.identifier_hash == filters.identifier_hash)
        conditions.append(Case.debtor_id.in_(debtor))
    if filters.bank:
        conditions.append(Case.id.in_(select(Loan.case_id).where(Loan.bank_unit_code == filters.bank)))
    if filters.stage:
        conditions.append(Case.stage == filters.stage)
    if filters.process:
        versions = select(ProcessVersion.id).where(ProcessVersion.process_id == filters.process)
        conditions.append(Case.process_version_id.in_(versions))
    if filters.amount_min is not None or filters.amount_max is not None:
        total = func.sum(Loan.principal + Loan.interest)
        amounts = select(Loan.case_id).group_by(Loan.case_id)
        if filters.amount_min is not None:
            amounts = amounts.having(total >= filters.amount_min)
        if filters.amount_max is not None:
            amounts = amounts.having(total <= filters.amount_max)
        conditions.append(Case.id.in_(amounts))
    zone = ZoneInfo(timezone)
    if filters.reported_from:
        start = dt.datetime.combine(filters.reported_from, dt.time(), zone)
        conditions.append(Case.created_at >= start)
    if filters.reported_to:
        end = dt.datetime.combine(filters.reported_to + dt.timedelta(days=1), dt.time(), zone)
        conditions.append(Case.created_at < end)
    return conditions


def any_identifier(typed: str) -> str:
    """A typed identifier of either kind (an identity number or a credit code, spaces and case
    ignored) in its compact form; ``Invalid`` when it is neither."""
    text = typed.strip().replace(" ", "").upper()
    if len(text) == 18:
        for kind in ("individual", "enterprise"):
            try:
                return normalize(kind, text)
            except Invalid:
                continue
    message = _("Not a valid resident identity number or unified social credit code.")
    raise Invalid(message, {"identifier": [message]})


def digest_of(identifier: str) -> str:
    """The digest of a typed identifier; ``Invalid`` when it is not one."""
    return identifier_digest(any_identifier(identifier))


def bank_names(session: Session) -> dict[str, str]:
    """Banks and guarantors by code, with their names in the request's language."""
    english = str(get_locale() or "zh").startswith("en")
    rows = session.execute(
        select(Unit.code, Unit.name_zh, Unit.name_en)
        .where(Unit.kind.in_(("bank", "guarantor")))
        .order_by(Unit.code)
    )
    return {code: (en if english else zh) for code, zh, en in rows}
