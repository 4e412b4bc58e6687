"""Ledger intake (台账): a bank or guarantor reports a debtor and its loans.

The same debtor (same identifier) on an open case is never opened twice: the new loans
join that case, even when another bank reports them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from webapp import catalog as catalog_mod
from webapp.cases import history, links, steps
from webapp.cases.identifiers import normalize
from webapp.cases.versions import deploy
from webapp.clock import now
from webapp.errors import Conflict, Forbidden, Invalid
from webapp.models import Case, CaseParticipant, Debtor, ImportBatch, Loan, ProcessVersion, Unit, User
from webapp.taskforms import FormSchema, resolve_schema, validate

REPORTING_KINDS = ("bank", "guarantor")


@dataclass(frozen=True)
class ReportResult:
    case: Case
    created: bool


# built once, and columns rather than Unit objects: every report reads it
_EMPLOYERS = (
    select(Unit.code, Unit.name_zh, Unit.name_en)
    .where(Unit.kind.in_(("employer", "department", "township")))
    .order_by(Unit.kind, Unit.code)
)


# a report's reads, built once
_DEBTOR = select(Debtor).where(Debtor.identifier == bindparam("identifier"))
_OPEN_CASE = select(Case).where(Case.open_debtor_id == bindparam("debtor_id"))
_BATCH_HIDES = select(ImportBatch.hides_cases).where(ImportBatch.id == bindparam("batch_id"))
_KNOWN_CONTRACTS = select(Loan.contract_no).where(
    Loan.bank_unit_code == bindparam("bank"), Loan.contract_no.in_(bindparam("numbers", expanding=True))
)


def report_form(session: Session, forms_dir: str) -> FormSchema:
    options = {"employer_units": [(code, zh, en) for code, zh, en in session.execute(_EMPLOYERS)]}
    return resolve_schema(forms_dir, "report.json", options, {})


def report_debtor(
    session: Session,
    user: User,
    payload: dict[str, Any],
    *,
    forms_dir: str,
    processes_dir: str,
    form: FormSchema | None = None,
) -> ReportResult:
    """Validate a report and open a case, or add its loans to the debtor's open case
    (``form``: ``report_form``'s answer, if the caller has it already)."""
    check_reporter(user)
    data = validate(form or report_form(session, forms_dir), payload)
    data["identifier"] = normalize(data["debtor_kind"], data["identifier"])
    return record_report(session, user, data, processes_dir=processes_dir)


def check_reporter(user: User) -> None:
    if not user.has_role("caseworker") or user.unit.kind not in REPORTING_KINDS:
        raise Forbidden(_("Only caseworkers of banks and guarantors report debtors."))


def record_report(
    session: Session,
    user: User,
    data: dict[str, Any],
    *,
    processes_dir: str,
    source: dict[str, Any] | None = None,
    version: ProcessVersion | None = None,
) -> ReportResult:
    """Record a validated report (identifier in compact form): open a case, or join the
    debtor's open case. ``source`` goes into the history event (e.g. the import batch);
    ``version`` is the deployed process, when the caller has it (an import of many rows)."""
    identifier = data["identifier"]
    _check_duplicate_contracts(session, user.unit_code, data["loans"])

    debtor = session.scalar(_DEBTOR, {"identifier": identifier})
    if debtor is not None:
        open_case = session.scalar(_OPEN_CASE, {"debtor_id": debtor.id})
        if open_case is not None:
            # a case a ledger import is still writing is seen by nobody (webapp.cases.visibility):
            # joining it would tell the reporter it exists; only that import's own rows join it
            batch_id = open_case.import_batch_id
            if (
                batch_id is not None
                and (source or {}).get("import_batch") != batch_id
                and session.scalar(_BATCH_HIDES, {"batch_id": batch_id})
            ):
                raise Conflict(
                    _(
                        "The debtor is being imported from a ledger file whose import is still in "
                        "progress; report again once that import has finished."
                    )
                )
            if open_case.stage == "delisting":
                raise Conflict(
                    _(
                        "The debtor's case #%(id)s is being delisted after settlement; report the new "
                        "loan once it is closed.",
                        id=open_case.id,
                    )
                )
            case = steps.lock_case(session, open_case.id)
            _add_loans(session, case, user, data, source=source)
            steps.merge_case_data(
                session, case, {"creditor_banks": steps.creditor_banks(session, case.id)}, user
            )
            return ReportResult(case, created=False)
        if debtor.name != data["name"]:
            # the debtor's earlier (closed) cases are found by its name as it is now
            session.execute(
                update(Case)
                .where(Case.debtor_id == debtor.id)
                .values(debtor_name=data["name"])
                .execution_options(synchronize_session=False)
            )
    # read before the debtor changes below, which its query would otherwise flush on their own
    version = version or deploy(session, processes_dir)
    facts = debtor_facts(data)
    # a debtor new to the system has no other case to link to (one statement less a report)
    known_debtor = debtor is not None
    if debtor is None:
        debtor = Debtor(identifier=identifier, **facts)
        session.add(debtor)
        session.flush()  # the case needs the debtor's id
    else:
        for name, value in facts.items():
            setattr(debtor, name, value)
    case = Case(
        debtor_id=debtor.id,
        debtor_name=debtor.name,
        open_debtor_id=debtor.id,
        process_version_id=version.id,
        creditor_unit_code=user.unit_code,
        stage="review",
        state="",
        created_at=now(),
    )
    session.add(case)
    session.flush()  # the engine's start data and the loans need the case's id
    loans = _new_loans(user, data, case_id=case.id)
    session.add_all(loans)
    cat = catalog_mod.current()
    start_data = {
        "case_id": case.id,
        "debtor_kind": debtor.kind,
        "creditor_bank": user.unit_code,
        "creditor_banks": [user.unit_code],
        "employer_unit": debtor.employer_unit_code,
        "sanction_units": cat.sanctioning_units(),
        "monitoring_period": cat.monitoring_period,
    }
    steps.start(
        session,
        case,
        version,
        start_data,
        user,
        {
            "debtor": debtor.name,
            "behaviour": data["behaviour"],
            "loans": [ln.contract_no for ln in loans],
            **(source or {}),
        },
        participants={user.unit_code},
    )
    # a debtor the court has listed (seed 004): the new case and the listing are linked
    if known_debtor:
        links.link_open_cases(session, case, user)
    return ReportResult(case, created=True)


def debtor_facts(data: dict[str, Any]) -> dict[str, Any]:
    """The debtor's columns (``DEBTOR_FACTS``) from a validated report."""
    return {
        "kind": data["debtor_kind"],
        "name": data["name"],
        "legal_representative": data.get("legal_representative"),
        "actual_controller": data.get("actual_controller"),
        "employer_unit_code": data.get("employer_unit") if data["debtor_kind"] == "official" else None,
        "position": data.get("position"),
    }


DEBTOR_FACTS = ("kind", "name", "legal_representative", "actual_controller", "employer_unit_code", "position")


def _check_duplicate_contracts(session: Session, bank: str, loans: list[dict[str, Any]]) -> None:
    numbers = [loan["contract_no"] for loan in loans]
    fields: dict[str, list[str]] = {}
    for index, number in enumerate(numbers):
        if numbers.index(number) != index:
            fields[f"loans.{index}.contract_no"] = [_("This contract number appears twice in the report.")]
    known = set(session.scalars(_KNOWN_CONTRACTS, {"bank": bank, "numbers": numbers}))
    for index, number in enumerate(numbers):
        if number in known:
            fields[f"loans.{index}.contract_no"] = [_("This loan was already reported by your unit.")]
    if fields:
        raise Invalid(_("Please correct the highlighted fields."), fields)


def _new_loans(user: User, data: dict[str, Any], **owner: Any) -> list[Loan]:
    """The report's loans, for ``case=`` a new case or ``case_id=`` an open one."""
    return [
        Loan(
            **owner,
            bank_unit_code=user.unit_code,
            contract_no=item["contract_no"],
            principal=Decimal(str(item["principal"])),
            interest=Decimal(str(item["interest"])),
            overdue_since=dt.date.fromisoformat(item["overdue_since"]),
            guarantee=item.get("guarantee"),
            behaviour=data["behaviour"],
            evidence=data.get("evidence"),
            reported_by_id=user.id,
            reported_at=now(),
        )
        for item in data["loans"]
    ]


def _add_loans(
    session: Session,
    case: Case,
    user: User,
    data: dict[str, Any],
    source: dict[str, Any] | None = None,
) -> list[Loan]:
    """The report's loans added to the debtor's open case, with a ``loan_added`` event."""
    if case.status != "open":
        raise Conflict(_("The case is closed."))
    loans = _new_loans(user, data, case_id=case.id)
    session.add_all(loans)
    if session.get(CaseParticipant, (case.id, user.unit_code)) is None:
        session.add(CaseParticipant(case_id=case.id, unit_code=user.unit_code))
    session.flush()
    history.append(
        session,
        case,
        "loan_added",
        user,
        loans=[ln.contract_no for ln in loans],
        behaviour=data["behaviour"],
        **(source or {}),
    )
    return loans
