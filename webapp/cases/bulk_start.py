"""Opening many cases at once (a ledger import's chunk): the same rows, state and history a
report through the form gives each case, written in a few statements.

Cases of one kind of start (the same start data but the case id) get their engine state
from one ``engine.StartTemplate`` each. ``plan_cases`` makes every row of a chunk by reads
alone (ids reserved, the history events sealed on each case's new chain), and
``Plan.write`` writes them in one statement per table (``webapp.bulkwrite``: COPY on
PostgreSQL, executemany on SQLite): debtors, cases, loans, participants, tasks, events and
chain heads. A debtor whose start no template can share is reported one by one through
``intake.record_report`` when the plan is written.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session, aliased

from webapp import bulkwrite, engine
from webapp import catalog as catalog_mod
from webapp.audit import chain
from webapp.cases import guarantees, history, intake, links, steps
from webapp.cases.versions import definition_of
from webapp.clock import now
from webapp.deadlines import calendar as work_calendar
from webapp.deadlines import due
from webapp.models import Case, CaseParticipant, Debtor, Loan, ProcessVersion, Task, User
from webapp.models.cases import OPEN as CASE_OPEN
from webapp.models.cases import identifier_digest
from webapp.models.tasks import OPEN

_DEBTORS, _CASES, _LOANS, _PARTICIPANTS, _TASKS = (
    cast(Table, model.__table__) for model in (Debtor, Case, Loan, CaseParticipant, Task)
)
_UPDATE_DEBTOR = (
    update(_DEBTORS)
    .where(_DEBTORS.c.id == bindparam("debtor"))
    .values({name: bindparam(name) for name in intake.DEBTOR_FACTS})
)
_RENAME_CASES = (
    update(_CASES).where(_CASES.c.debtor_id == bindparam("debtor")).values(debtor_name=bindparam("new_name"))
)


@dataclass(frozen=True)
class LoanGroup:
    """Loans of one debtor reported with the same behaviour and evidence: one report."""

    behaviour: str
    evidence: str | None
    loans: list[dict[str, Any]]


@dataclass(frozen=True)
class Report:
    """A debtor without an open case, and its loans: one new case."""

    identifier: str
    fields: dict[str, Any]  # the validated report's fields of the debtor (kind, name, ...)
    groups: list[LoanGroup]

    @property
    def facts(self) -> dict[str, Any]:
        return intake.debtor_facts(self.fields)


@dataclass
class Started:
    cases: dict[str, int]  # identifier -> case id
    loans: int = 0


@dataclass
class Plan:
    """A chunk's new cases, every row made, nothing written yet (``plan_cases``)."""

    user: User
    version: ProcessVersion
    source: dict[str, Any]
    import_batch_id: int | None
    started: Started
    # debtors whose start no template shares: reported one by one when written
    alone: list[Report] = field(default_factory=list)
    known_debtors: list[dict[str, Any]] = field(default_factory=list)
    renamed: list[dict[str, Any]] = field(default_factory=list)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # table -> rows
    events: list[dict[str, Any]] = field(default_factory=list)
    chains: dict[str, tuple[int, str]] = field(default_factory=dict)

    def write(self, session: Session) -> Started:
        """Write the planned rows (the caller commits). Ids were reserved while planning: on
        SQLite a writer that opened a case meanwhile makes the insert fail (IntegrityError),
        and the caller plans the chunk again."""
        if self.known_debtors:
            session.execute(_UPDATE_DEBTOR, self.known_debtors)
        if self.renamed:  # a debtor's earlier cases are found by its name as it is now
            session.execute(_RENAME_CASES, self.renamed)
        for table in (_DEBTORS, _CASES, _LOANS, _PARTICIPANTS, _TASKS):
            bulkwrite.insert_rows(session, table, self.rows.get(table.name, []))
        if self.events:
            chain.insert_rows(session, self.events, self.chains)
        self._link(session)
        for report in self.alone:
            self.started.cases[report.identifier] = _one_by_one(
                session, self.user, self.version, report, self.source, self.import_batch_id
            )
            self.started.loans += sum(len(g.loans) for g in report.groups)
        return self.started

    def _link(self, session: Session) -> None:
        """New cases of debtors known before (only they can have another case) who stand on
        another open case (a court's listing): linked as ``intake.record_report`` links them.
        One query for the chunk; most chunks find none."""
        known = [row["debtor"] for row in self.known_debtors]
        new_ids = set(self.started.cases.values())
        if not known or not new_ids:
            return
        other = aliased(Case)
        linked = session.scalars(
            select(Case.id)
            .where(Case.debtor_id.in_(known), Case.id.in_(new_ids))
            .where(
                select(other.id)
                .where(other.debtor_id == Case.debtor_id, other.status == CASE_OPEN, other.id.not_in(new_ids))
                .exists()
            )
        ).all()
        for case_id in linked:
            links.link_open_cases(session, session.get_one(Case, case_id), self.user)


def plan_cases(
    session: Session,
    user: User,
    version: ProcessVersion,
    reports: Sequence[Report],
    *,
    source: dict[str, Any],
    import_batch_id: int | None = None,
    templates: Templates | None = None,
) -> Plan:
    """Make every row of one new case per report (none of their debtors has an open case),
    as ``intake.record_report`` would: the first group is the report, each further group
    joins it (``loan_added``). Only reads: on SQLite the first write takes the database's one
    write lock, so the work is done before ``Plan.write`` and the lock is held for the
    inserts alone."""
    cat = catalog_mod.current()
    definition = definition_of(version)
    templates = templates if templates is not None else Templates()
    plan = Plan(user, version, source, import_batch_id, Started({}))
    bulk: list[tuple[Report, engine.StartTemplate]] = []
    for report in reports:
        template = templates.get(definition, _start_data(user, report, cat), cat)
        if template is None:
            plan.alone.append(report)
        else:
            bulk.append((report, template))
    if not bulk:
        return plan
    debtor_ids = _debtors(session, plan, [report for report, _template in bulk])
    opened = now()
    rows = [
        _case_row(user, version, report, template, debtor_ids, opened, import_batch_id)
        for report, template in bulk
    ]
    case_ids = bulkwrite.reserve_ids(session, _CASES, len(rows))
    calendar = work_calendar.load()
    due_dates: dict[str, dt.datetime | None] = {}
    loans, participants, tasks, events = [], [], [], []
    for (report, template), case_id, row in zip(bulk, case_ids, rows, strict=True):
        derived = template.derive(case_id)
        row.update(id=case_id, state=derived.state)
        place = _Place(case_id, row["active_elements"], row["completed_elements"])
        name = row["debtor_name"]
        units = [user.unit_code]
        # in the order the form's path writes them: the report and the tasks it opens, then
        # each further group's loans joining the case
        joined: list[dict[str, Any]] = []
        for number, group in enumerate(report.groups):
            group_loans = _loans(user, group, case_id, opened)
            loans += group_loans
            numbers = [loan["contract_no"] for loan in group_loans]
            if number == 0:
                said = {"debtor": name, "behaviour": group.behaviour, "loans": numbers}
                events.append(history.make(place, "reported", user, **said, **source))
            else:
                joined.append({"loans": numbers, "behaviour": group.behaviour})
        for ready in derived.snapshot.ready:
            if ready.element_id not in due_dates:
                due_dates[ready.element_id] = due.due_at(ready.element_id, opened, calendar)
            task = {
                "id": ready.id,
                "case_id": case_id,
                "element_id": ready.element_id,
                "title": ready.title,
                "lane": ready.lane,
                "unit_code": ready.assignee,
                "form": ready.form,
                "status": OPEN,
                "created_at": opened,
                "due_at": due_dates[ready.element_id],
                "due_provisional": due.is_provisional(
                    ready.element_id, due_dates[ready.element_id], calendar
                ),
                "context": ready.item,
            }
            tasks.append(task)
            if ready.assignee and ready.assignee not in units:
                units.append(ready.assignee)
            opened_task = _Opened(ready.id, ready.element_id)
            events.append(
                history.make(place, "task_opened", user, task=opened_task, unit_code=ready.assignee)
            )
        events += [history.make(place, "loan_added", user, **said, **source) for said in joined]
        participants += [{"case_id": case_id, "unit_code": unit, "since": opened} for unit in units]
        plan.started.cases[report.identifier] = case_id
        plan.started.loans += sum(len(g.loans) for g in report.groups)
    plan.rows.update(
        {_CASES.name: rows, _LOANS.name: loans, _PARTICIPANTS.name: participants, _TASKS.name: tasks}
    )
    plan.events, plan.chains = chain.seal(events)
    return plan


@dataclass(frozen=True)
class _Place:
    """What an event reads of its new case (``history.Placed``)."""

    id: int
    active_elements: list[str]
    completed_elements: list[str]


@dataclass(frozen=True)
class _Opened:
    """What an event reads of its new task (``history.TaskLike``)."""

    id: str
    element_id: str


def _case_row(
    user: User,
    version: ProcessVersion,
    report: Report,
    template: engine.StartTemplate,
    debtor_ids: dict[str, int],
    opened: dt.datetime,
    import_batch_id: int | None,
) -> dict[str, Any]:
    """A new case's row (its id and state are set once known), every column given."""
    snapshot = template.snapshot
    return {
        "debtor_id": debtor_ids[report.identifier],
        "debtor_name": report.fields["name"],
        "open_debtor_id": debtor_ids[report.identifier],
        "process_version_id": version.id,
        "creditor_unit_code": user.unit_code,
        "status": "open",
        "stage": steps.stage_of(snapshot.stages) or "review",
        "blacklisted": False,
        "state": "",
        "active_elements": snapshot.active_elements,
        "completed_elements": sorted(set(snapshot.completed_elements)),
        "next_timer_at": snapshot.next_timer_at,
        "awaits_message": snapshot.awaits_message,
        "timer_failures": 0,
        "created_at": opened,
        "updated_at": opened,
        "import_batch_id": import_batch_id,
        "version": 1,
    }


class Templates:
    """The start templates of an import, one per kind of start, built again after
    ``TEMPLATE_SECONDS`` so that what a start takes from the clock (a timer's due time, the
    engine's own timestamps) stays current."""

    def __init__(self) -> None:
        self.built: dict[str, engine.StartTemplate | None] = {}
        self.since = time.monotonic()

    def get(
        self, definition: engine.Definition, data: dict[str, Any], cat: catalog_mod.Catalog
    ) -> engine.StartTemplate | None:
        if time.monotonic() - self.since > TEMPLATE_SECONDS:
            self.built, self.since = {}, time.monotonic()
        key = json.dumps([definition.sha256, data], sort_keys=True)
        if key not in self.built:
            template = engine.StartTemplate.build(definition, data, cat.dynamic_lanes)
            self.built[key] = template if template and _shareable(template, cat.unit_codes()) else None
        return self.built[key]


TEMPLATE_SECONDS = 10.0


def _start_data(user: User, report: Report, cat: catalog_mod.Catalog) -> dict[str, Any]:
    """The start data of ``intake.record_report`` but the case id."""
    return {
        "debtor_kind": report.facts["kind"],
        "creditor_bank": user.unit_code,
        "creditor_banks": [user.unit_code],
        "employer_unit": report.facts["employer_unit_code"],
        "sanction_units": cat.sanctioning_units(),
        "monitoring_period": cat.monitoring_period,
    }


def _shareable(template: engine.StartTemplate, units: set[str]) -> bool:
    """A template whose first tasks a step would open without complaint: known units, and no
    sanction (rule 1 reads the case's history, which a new case has not); and a start that
    waits for something (one that ends at once is a step's to close)."""
    snapshot = template.snapshot
    waits = bool(snapshot.ready or snapshot.next_timer_at or snapshot.awaits_message)
    return (
        waits
        and not snapshot.finished
        and all(r.assignee in units and not guarantees.opens_sanction(r) for r in snapshot.ready)
    )


def _debtors(session: Session, plan: Plan, reports: Sequence[Report]) -> dict[str, int]:
    """Each report's debtor id: known debtors (closed cases only) are to get the report's
    facts, the others are to be inserted (ids reserved)."""
    by_identifier = {r.identifier: r for r in reports}
    known = {
        identifier: (debtor_id, name)
        for debtor_id, identifier, name in session.execute(
            select(Debtor.id, Debtor.identifier, Debtor.name).where(
                Debtor.identifier.in_(list(by_identifier))
            )
        )
    }
    plan.known_debtors = [{"debtor": known[i][0], **by_identifier[i].facts} for i in known]
    plan.renamed = [
        {"debtor": debtor_id, "new_name": by_identifier[i].fields["name"]}
        for i, (debtor_id, name) in known.items()
        if name != by_identifier[i].fields["name"]
    ]
    ids = {i: debtor_id for i, (debtor_id, _name) in known.items()}
    fresh = [r for r in reports if r.identifier not in known]
    if fresh:
        created_at = now()
        new_ids = bulkwrite.reserve_ids(session, _DEBTORS, len(fresh))
        plan.rows[_DEBTORS.name] = [
            # COPY applies no column default: the identifier's digest is given here
            {
                "id": debtor_id,
                "identifier": r.identifier,
                "identifier_hash": identifier_digest(r.identifier),
                "created_at": created_at,
                **r.facts,
            }
            for debtor_id, r in zip(new_ids, fresh, strict=True)
        ]
        ids.update(zip((r.identifier for r in fresh), new_ids, strict=True))
    return ids


def _loans(user: User, group: LoanGroup, case_id: int, reported_at: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "case_id": case_id,
            "bank_unit_code": user.unit_code,
            "contract_no": item["contract_no"],
            "principal": Decimal(str(item["principal"])),
            "interest": Decimal(str(item["interest"])),
            "overdue_since": dt.date.fromisoformat(item["overdue_since"]),
            "guarantee": item.get("guarantee"),
            "behaviour": group.behaviour,
            "evidence": group.evidence,
            "reported_by_id": user.id,
            "reported_at": reported_at,
        }
        for item in group.loans
    ]


def _one_by_one(
    session: Session,
    user: User,
    version: ProcessVersion,
    report: Report,
    source: dict[str, Any],
    import_batch_id: int | None,
) -> int:
    """A report whose start no template shares, through the form's own path."""
    case_ids = []
    for group in report.groups:
        data = {**report.fields, "behaviour": group.behaviour, "loans": group.loans}
        if group.evidence is not None:
            data["evidence"] = group.evidence
        result = intake.record_report(session, user, data, processes_dir="", source=source, version=version)
        result.case.import_batch_id = import_batch_id
        case_ids.append(result.case.id)
    return case_ids[0]
