"""What a task page shows above its form, so that the unit decides from the page alone: the
debtor (identifier masked), the loans (or the court's listing of a judgment defaulter), the
case's stage, the due date and the time left, and the data of the earlier steps this task
acts on.

A form declares the earlier data it needs in its schema, ``x-context``, a list of
``<element>.<field>`` (that field of the latest completed task of that element before this
task opened) and of these names:

- ``repayments``: the rectification progress (partial repayments per loan);
- ``sanctions``: every sanction applied on the case, lifted or not;
- ``own_sanctions``: the measures the task's unit applied (what a lift task lifts);
- ``settlement``: the settlement certificates reported on the loans, with their files.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.cases import repayments as repayments_mod
from webapp.clock import now
from webapp.models import Case, CourtListing, Loan, Sanction, Task
from webapp.models.tasks import COMPLETED
from webapp.taskforms.schemas import FormSchema, load_schema

NAMED = frozenset({"repayments", "sanctions", "own_sanctions", "settlement"})


@dataclass(frozen=True)
class EarlierField:
    """One field of an earlier step, with its form's property (for its title and choices)."""

    node: dict[str, Any]
    key: str
    value: Any


@dataclass(frozen=True)
class EarlierStep:
    task: Task
    fields: list[EarlierField]


@dataclass(frozen=True)
class TaskContext:
    case: Case
    loans: list[Loan]
    earlier: list[EarlierStep] = field(default_factory=list)
    sanctions: list[Sanction] = field(default_factory=list)
    own_sanctions_only: bool = False
    repayments: repayments_mod.RepaymentSummary | None = None
    settlement: list[Loan] = field(default_factory=list)
    # whole days to the due date (negative: overdue), None without one
    days_left: int | None = None
    # the report form's property of the evasion behaviour, for its titles
    behaviour: dict[str, Any] = field(default_factory=dict)
    # the court's listing, for a case whose subject is one rather than loans (a judgment
    # defaulter's: enforcement number, amount owed, duty not performed, date listed)
    listing: CourtListing | None = None


def wanted(form: FormSchema | None) -> list[str]:
    """The form's ``x-context`` entries."""
    return list(form.schema.get("x-context", [])) if form else []


def days_left(due_at: dt.datetime | None, at: dt.datetime) -> int | None:
    """Whole days from ``at`` to the due time, rounded towards the due date: a task due in
    five hours has 0 days left (due today), one due five hours ago is 1 day overdue."""
    if due_at is None:
        return None
    return math.floor((due_at - at).total_seconds() / 86400)


def task_context(
    session: Session, case: Case, task: Task, form: FormSchema | None, form_of: Any, forms_dir: str
) -> TaskContext:
    """The context shown above ``task``'s form; ``form_of(task)`` resolves an earlier task's
    form (titles and choices of its fields)."""
    entries = wanted(form)
    loans = list(session.scalars(select(Loan).where(Loan.case_id == case.id).order_by(Loan.id)))
    # a case without loans is one whose subject is the court's listing: read only then, so a
    # debt case's task page reads nothing more
    listing = None if loans else session.get(CourtListing, case.id)
    sanctions: list[Sanction] = []
    if {"sanctions", "own_sanctions"} & set(entries):
        query = select(Sanction).where(Sanction.case_id == case.id).order_by(Sanction.id)
        if "sanctions" not in entries:
            query = query.where(Sanction.unit_code == task.unit_code)
        sanctions = list(session.scalars(query))
    return TaskContext(
        case=case,
        loans=loans,
        earlier=_earlier(session, case, task, [e for e in entries if e not in NAMED], form_of),
        sanctions=sanctions,
        own_sanctions_only="sanctions" not in entries,
        repayments=repayments_mod.summary(session, case.id) if "repayments" in entries else None,
        settlement=[ln for ln in loans if ln.settlement_certificate_no] if "settlement" in entries else [],
        days_left=days_left(task.due_at, now()) if task.status == "open" else None,
        behaviour=load_schema(forms_dir, "report.json").properties.get("behaviour", {}),
        listing=listing,
    )


def _earlier(session: Session, case: Case, task: Task, entries: list[str], form_of: Any) -> list[EarlierStep]:
    """The named fields of the latest completed task of each named element, before ``task``
    opened (a case that went round a loop shows the round that led to this task)."""
    fields_of: dict[str, list[str]] = {}
    for entry in entries:
        element, _, key = entry.partition(".")
        fields_of.setdefault(element, []).append(key)
    if not fields_of:
        return []
    rows = session.scalars(
        select(Task)
        .where(
            Task.case_id == case.id,
            Task.element_id.in_(fields_of),
            Task.status == COMPLETED,
            Task.completed_at <= task.created_at,
        )
        .order_by(Task.completed_at.desc(), Task.id)
    )
    latest: dict[str, Task] = {}
    for row in rows:
        latest.setdefault(row.element_id, row)
    steps = []
    for element, keys in fields_of.items():  # in the order the form lists them
        earlier = latest.get(element)
        if earlier is None or not earlier.submitted:
            continue
        earlier_form = form_of(earlier)
        props = earlier_form.properties if earlier_form else {}
        shown = [
            EarlierField(props.get(key, {}), key, earlier.submitted[key])
            for key in keys
            if earlier.submitted.get(key) not in (None, "", [])
        ]
        if shown:
            steps.append(EarlierStep(earlier, shown))
    return steps
