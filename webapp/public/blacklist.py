"""The published blacklist (公示): no login, masked identifiers only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.cases.identifiers import mask
from webapp.cases.queries import name_contains
from webapp.cases.visibility import SHOWN
from webapp.models import Case, Debtor, Loan


@dataclass(frozen=True)
class Listing:
    name: str
    identifier: str  # masked
    creditors: list[str]
    amount: Decimal
    listed_at: dt.datetime


def listings(session: Session, limit: int = 50, offset: int = 0, query: str | None = None) -> list[Listing]:
    """Debtors published now, newest first; ``query``: a part of the name. Publication is a
    sanction (seed 000 §四(二)2): a debtor is listed only while a measure exposing it is
    applied and not lifted (``cases.published_at``, projected by the step), and leaves at
    once when a settlement is reported, the exposure is lifted or it leaves the blacklist."""
    stmt = (
        select(Case.id, Debtor.name, Debtor.identifier, Case.published_at)
        .join(Debtor, Case.debtor_id == Debtor.id)
        # a reported settlement takes the debtor off the public list at once, before verification
        .where(Case.published_at.is_not(None), Case.blacklisted.is_(True), Case.stage != "delisting", SHOWN)
    )
    if query:
        stmt = stmt.where(name_contains(query))
    rows = session.execute(
        stmt.order_by(Case.published_at.desc(), Case.id.desc()).limit(limit).offset(offset)
    ).all()
    ids = [r.id for r in rows]
    amounts = (
        dict(
            session.execute(
                select(Loan.case_id, func.sum(Loan.principal + Loan.interest))
                .where(Loan.case_id.in_(ids), Loan.settled_at.is_(None))
                .group_by(Loan.case_id)
            ).all()
        )
        if ids
        else {}
    )
    creditors: dict[int, list[str]] = {}
    for case_id, bank in session.execute(
        select(Loan.case_id, Loan.bank_unit_code)
        .where(Loan.case_id.in_(ids), Loan.settled_at.is_(None))
        .order_by(Loan.id)
    ):
        if bank not in creditors.setdefault(case_id, []):
            creditors[case_id].append(bank)
    return [
        Listing(
            r.name,
            mask(r.identifier),
            creditors.get(r.id, []),
            Decimal(amounts.get(r.id) or 0),
            r.published_at,
        )
        for r in rows
    ]
