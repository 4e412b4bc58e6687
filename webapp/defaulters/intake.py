"""The court lists a judgment defaulter (seed 004 §三(六)): a case of the judgment-defaulter
process opens, the defaulter is on the list at once, and every cooperating unit of the
catalogue gets its task to apply the restrictions of its field.

One listing per enforcement case number. A debtor may be listed in several enforcement
cases, and may stand on an open debt-evasion case too: those cases are linked, not merged.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from webapp import catalog
from webapp.cases import links, steps
from webapp.cases.identifiers import normalize
from webapp.cases.versions import deploy
from webapp.clock import now
from webapp.defaulters import PROCESS
from webapp.errors import Conflict, Forbidden
from webapp.models import Case, CourtListing, Debtor, ProcessVersion, User
from webapp.taskforms import FormSchema, load_schema, validate

FORM = "court_listing.json"

_DEBTOR = select(Debtor).where(Debtor.identifier == bindparam("identifier"))
_LISTED = select(CourtListing.case_id).where(CourtListing.enforcement_no == bindparam("number"))


def form(forms_dir: str) -> FormSchema:
    return load_schema(forms_dir, FORM)


def check_lister(user: User) -> None:
    spec = catalog.current().process(PROCESS)
    if not (user.has_role("caseworker") and spec.started_by_unit(user.unit_code, user.unit.kind)):
        raise Forbidden(_("Only the court's caseworkers list judgment defaulters."))


def list_defaulter(
    session: Session,
    user: User,
    payload: dict[str, Any],
    *,
    forms_dir: str,
    processes_dir: str,
    source: dict[str, Any] | None = None,
    version: ProcessVersion | None = None,
) -> Case:
    """Validate a listing and open its case; ``source`` goes into the history event (e.g.
    an import batch), ``version`` is the deployed process when the caller has it."""
    check_lister(user)
    data = validate(form(forms_dir), payload)
    data["identifier"] = normalize(data["debtor_kind"], data["identifier"])
    return record_listing(session, user, data, processes_dir=processes_dir, source=source, version=version)


def record_listing(
    session: Session,
    user: User,
    data: dict[str, Any],
    *,
    processes_dir: str,
    source: dict[str, Any] | None = None,
    version: ProcessVersion | None = None,
) -> Case:
    """Open the case of a validated listing (identifier in compact form)."""
    known = session.scalar(_LISTED, {"number": data["enforcement_no"]})
    if known is not None:
        raise Conflict(
            _(
                "Enforcement case %(number)s is listed already (case #%(id)s).",
                number=data["enforcement_no"],
                id=known,
            )
        )
    version = version or deploy(session, processes_dir, PROCESS)
    debtor = session.scalar(_DEBTOR, {"identifier": data["identifier"]})
    if debtor is None:
        debtor = Debtor(
            identifier=data["identifier"],
            kind=data["debtor_kind"],
            name=data["name"],
            legal_representative=data.get("legal_representative"),
        )
        session.add(debtor)
        session.flush()  # the case needs the debtor's id
    case = Case(
        debtor_id=debtor.id,
        debtor_name=debtor.name,
        # one open case per debtor holds for a process's own cases; a listing is one of several
        # a debtor may have, so it never takes the debtor's open-case slot
        open_debtor_id=None,
        process_version_id=version.id,
        creditor_unit_code=user.unit_code,
        stage="listed",
        state="",
        created_at=now(),
    )
    session.add(case)
    session.flush()  # the listing and the engine's start data need the case's id
    amount = Decimal(str(data["amount_owed"])).quantize(Decimal("0.01"))
    session.add(
        CourtListing(
            case_id=case.id,
            enforcement_no=data["enforcement_no"],
            amount_owed=amount,
            duty=data["duty"],
            listed_on=dt.date.fromisoformat(data["listed_on"]),
            listed_by_id=user.id,
        )
    )
    spec = catalog.current().process(PROCESS)
    start_data = {
        "case_id": case.id,
        "debtor_kind": debtor.kind,
        "sanction_units": spec.sanctioning_units(),
    }
    steps.start(
        session,
        case,
        version,
        start_data,
        user,
        {
            "debtor": debtor.name,
            "enforcement_no": data["enforcement_no"],
            "amount_owed": str(amount),
            "listed_on": data["listed_on"],
            **(source or {}),
        },
        participants={user.unit_code},
    )
    links.link_open_cases(session, case, user)
    return case


def listing_of(session: Session, case_id: int) -> CourtListing | None:
    return session.get(CourtListing, case_id)
