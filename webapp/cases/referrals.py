"""Referred cases (移送案件) and their chains, as the political-legal committee (政法委) follows
them (seed 000 §五5: it organises the police, procuratorate and court and coordinates the
cases they filed).

A case's *chain* is its task rows whose element has the property ``stage`` =
``referral_decision`` (the office decides whether and where to refer) or ``referral`` (the
referral unit answers in writing, and whatever the diagram adds after: the police's
outcome, the procuratorate's decision, the court's judgment, the tax inspection). The
element ids are read from the case's process version, never written here, so a new step
of the diagram joins the chain without code. A case is *referred* when it has a referral
step (open, answered or cancelled). The unit a referral went to (its *target*) is the unit
of a referral step that opens a chain: no referral step came before it since the last
referral decision.

Everything here reads the projected tables (cases, tasks), never the engine state: a list
page is three statements (versions, the page's cases, their chains).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from webapp.cases.identifiers import mask
from webapp.cases.versions import WITHOUT_FILES, definition_of
from webapp.cases.visibility import SHOWN
from webapp.clock import now
from webapp.errors import NotFound
from webapp.models import Case, Debtor, ProcessVersion, Task, User
from webapp.models.tasks import COMPLETED, OPEN
from webapp.taskforms.schemas import load_schema

# the unit that follows every referred case (县委政法委)
OVERSIGHT_UNIT = "political_legal"
# the units a case can be referred to (the list's filter)
TARGETS = ("court", "police", "discipline", "tax")
DECISION_STAGE, REFERRAL_STAGE = "referral_decision", "referral"


def may_view_referrals(user: User) -> bool:
    """The political-legal committee, the group office (its supervisors and administrators
    with it) and auditors."""
    return user.unit_code == OVERSIGHT_UNIT or user.sees_all_cases


# --- the chain's elements, per process version ---------------------------------------


@dataclass(frozen=True)
class ChainElements:
    decisions: frozenset[str]
    referrals: frozenset[str]


# (version id, content hash) -> its chain's elements. The hash is part of the key: a version
# id names different diagrams in different databases (or after a test empties its tables).
_ELEMENTS: dict[tuple[int, str], ChainElements] = {}
_VERSIONS = select(ProcessVersion.id, ProcessVersion.content_sha256)


def chain_elements(session: Session) -> dict[int, ChainElements]:
    """Every deployed version's chain elements, by version id (one small statement; a
    version's diagram is read only the first time it is met)."""
    result: dict[int, ChainElements] = {}
    for version_id, sha in session.execute(_VERSIONS):
        key = (version_id, sha)
        if key not in _ELEMENTS:
            # the files are read only when the engine's cache does not hold the definition
            version = session.get(ProcessVersion, version_id, options=WITHOUT_FILES)
            if version is None:  # pragma: no cover - deleted between the two reads
                continue
            props = definition_of(version).element_properties
            _ELEMENTS[key] = ChainElements(
                decisions=frozenset(e for e, p in props.items() if p.get("stage") == DECISION_STAGE),
                referrals=frozenset(e for e, p in props.items() if p.get("stage") == REFERRAL_STAGE),
            )
        result[version_id] = _ELEMENTS[key]
    return result


def _element_in(task: Any, elements: dict[int, frozenset[str]]) -> ColumnElement[bool]:
    """The task (a ``Task`` alias of a case joined or correlated as ``Case``) is one of the
    given elements of its case's version."""
    clauses = [
        and_(Case.process_version_id == version_id, task.element_id.in_(sorted(ids)))
        for version_id, ids in sorted(elements.items())
        if ids
    ]
    return or_(*clauses) if clauses else false()


@dataclass(frozen=True)
class _Conditions:
    referral: dict[int, frozenset[str]]
    decision: dict[int, frozenset[str]]
    chain: dict[int, frozenset[str]]

    @classmethod
    def of(cls, elements: dict[int, ChainElements]) -> _Conditions:
        return cls(
            referral={v: e.referrals for v, e in elements.items()},
            decision={v: e.decisions for v, e in elements.items()},
            chain={v: e.referrals | e.decisions for v, e in elements.items()},
        )

    def referred(self) -> ColumnElement[bool]:
        """The case (``Case``) has a referral step."""
        step = aliased(Task)
        return (
            exists().where(step.case_id == Case.id, _element_in(step, self.referral)).correlate_except(step)
        )

    def referred_to(self, target: str) -> ColumnElement[bool]:
        """A chain of the case opened at ``target`` (see the module's docstring). Each
        subquery names what it correlates: SQLAlchemy's automatic correlation reaches one
        level up only."""
        head, earlier, decision = aliased(Task), aliased(Task), aliased(Task)
        decided_between = (
            exists()
            .where(
                decision.case_id == Case.id,
                _element_in(decision, self.decision),
                decision.created_at > earlier.created_at,
                decision.created_at < head.created_at,
            )
            .correlate_except(decision)
        )
        continues_a_chain = (
            exists()
            .where(
                earlier.case_id == Case.id,
                _element_in(earlier, self.referral),
                earlier.created_at < head.created_at,
                ~decided_between,
            )
            .correlate_except(earlier)
        )
        return (
            exists()
            .where(
                head.case_id == Case.id,
                _element_in(head, self.referral),
                head.unit_code == target,
                ~continues_a_chain,
            )
            .correlate_except(head)
        )

    def overdue(self, at: dt.datetime) -> ColumnElement[bool]:
        """An open step of the chain is past its due date."""
        step = aliased(Task)
        return (
            exists()
            .where(
                step.case_id == Case.id,
                _element_in(step, self.chain),
                step.status == OPEN,
                step.due_at < at,
            )
            .correlate_except(step)
        )


# --- what the pages show ------------------------------------------------------------


@dataclass(frozen=True)
class AnswerField:
    """One submitted value with its form's field (``node``: the JSON Schema property, for
    its title and its values' titles in the reader's language)."""

    key: str
    node: dict[str, Any]
    value: Any


@dataclass(frozen=True)
class ChainStep:
    task_id: str
    element_id: str
    title: str
    unit_code: str
    status: str
    decision: bool  # the office's referral decision, else a step of the referral itself
    opens_chain: bool  # the first referral step after a decision: the unit referred to
    created_at: dt.datetime
    due_at: dt.datetime | None
    completed_at: dt.datetime | None
    overdue: bool
    fields: list[AnswerField] = field(default_factory=list)

    @property
    def answer(self) -> AnswerField | None:
        """The step's conclusion: its first field with a fixed set of values (filed / not
        filed, prosecuted / not, ...)."""
        return next((f for f in self.fields if f.node.get("enum")), None)


@dataclass(frozen=True)
class ReferredCase:
    case_id: int
    debtor_name: str
    identifier: str  # masked
    status: str
    stage: str
    targets: list[str]
    referred_at: dt.datetime
    current: list[ChainStep]
    last_answer: ChainStep | None

    @property
    def due_at(self) -> dt.datetime | None:
        dues = [s.due_at for s in self.current if s.due_at is not None]
        return min(dues) if dues else None

    @property
    def overdue(self) -> bool:
        return any(s.overdue for s in self.current)


@dataclass(frozen=True)
class Chain:
    case: Case
    steps: list[ChainStep]

    @property
    def targets(self) -> list[str]:
        return _targets(self.steps)


def referred_cases(
    session: Session,
    *,
    forms_dir: str,
    target: str | None = None,
    overdue_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[ReferredCase]:
    """A page of referred cases, the most recently referred first (by their first referral;
    three statements)."""
    elements = chain_elements(session)
    cond = _Conditions.of(elements)
    at = now()
    referred_at = (
        select(Task.case_id, func.min(Task.created_at).label("referred_at"))
        .join(Case, Case.id == Task.case_id)
        .where(_element_in(Task, cond.referral))
        .group_by(Task.case_id)
        .subquery()
    )
    stmt: Select[Any] = (
        select(
            Case.id,
            Case.debtor_name,
            Debtor.identifier,
            Case.status,
            Case.stage,
            Case.process_version_id,
            referred_at.c.referred_at,
        )
        .join(referred_at, referred_at.c.case_id == Case.id)
        .join(Debtor, Debtor.id == Case.debtor_id)
        .where(SHOWN)
    )
    if target:
        stmt = stmt.where(cond.referred_to(target))
    if overdue_only:
        stmt = stmt.where(cond.overdue(at))
    stmt = stmt.order_by(referred_at.c.referred_at.desc(), Case.id.desc()).limit(limit).offset(offset)
    rows = list(session.execute(stmt))
    chains = _chains(session, cond, [r.id for r in rows], forms_dir, at)
    result = []
    for row in rows:
        steps = chains.get(row.id, [])
        answered = [s for s in steps if not s.decision and s.status == COMPLETED]
        result.append(
            ReferredCase(
                case_id=row.id,
                debtor_name=row.debtor_name,
                identifier=mask(row.identifier),
                status=row.status,
                stage=row.stage,
                targets=_targets(steps),
                referred_at=row.referred_at,
                current=[s for s in steps if s.status == OPEN],
                last_answer=max(answered, key=lambda s: (s.completed_at, s.created_at), default=None),
            )
        )
    return result


def chain(session: Session, case_id: int, *, forms_dir: str) -> Chain:
    """The referred case's chain, in order; ``NotFound`` when the case is hidden or was
    never referred."""
    case = referred_case(session, case_id)
    if case is None:
        raise NotFound(_("Case not found."))
    cond = _Conditions.of(chain_elements(session))
    steps = _chains(session, cond, [case.id], forms_dir, now()).get(case.id, [])
    return Chain(case=case, steps=steps)


def referred_case(session: Session, case_id: int) -> Case | None:
    """The case when it was referred (and no ledger import still hides it), else None."""
    cond = _Conditions.of(chain_elements(session))
    return session.scalar(select(Case).where(Case.id == case_id, SHOWN, cond.referred()))


def _chains(
    session: Session, cond: _Conditions, case_ids: list[int], forms_dir: str, at: dt.datetime
) -> dict[int, list[ChainStep]]:
    """The chains of the given cases, each in order (one statement)."""
    if not case_ids:
        return {}
    stmt = (
        select(Task, Case.process_version_id)
        .join(Case, Case.id == Task.case_id)
        .where(Task.case_id.in_(case_ids), _element_in(Task, cond.chain))
        .order_by(Task.case_id, Task.created_at, Task.id)
    )
    forms: dict[str, dict[str, dict[str, Any]] | None] = {}
    chains: dict[int, list[ChainStep]] = {}
    decided: dict[int, list[dt.datetime]] = {}
    referred: dict[int, list[dt.datetime]] = {}
    for task, version_id in session.execute(stmt):
        decision = task.element_id in cond.decision.get(version_id, frozenset())
        times = (decided if decision else referred).setdefault(task.case_id, [])
        # as ``referred_to``: no earlier referral step without a decision after it
        earlier = max((t for t in referred.get(task.case_id, []) if t < task.created_at), default=None)
        opens_chain = not decision and (
            earlier is None or any(earlier < t < task.created_at for t in decided.get(task.case_id, []))
        )
        times.append(task.created_at)
        chains.setdefault(task.case_id, []).append(
            ChainStep(
                task_id=task.id,
                element_id=task.element_id,
                title=task.title,
                unit_code=task.unit_code,
                status=task.status,
                decision=decision,
                opens_chain=opens_chain,
                created_at=task.created_at,
                due_at=task.due_at,
                completed_at=task.completed_at,
                overdue=task.status == OPEN and task.due_at is not None and task.due_at < at,
                fields=_fields(task, forms, forms_dir),
            )
        )
    return chains


def _fields(
    task: Task, forms: dict[str, dict[str, dict[str, Any]] | None], forms_dir: str
) -> list[AnswerField]:
    """The submitted values in the form's order, each with its field's schema (values the
    form does not know come last, under their key)."""
    submitted = task.submitted or {}
    if not submitted:
        return []
    props: dict[str, dict[str, Any]] | None = None
    if task.form:
        if task.form not in forms:
            try:
                forms[task.form] = load_schema(forms_dir, task.form).properties
            except (NotFound, ValueError):
                forms[task.form] = None
        props = forms[task.form]
    props = props or {}
    order = [k for k in props if k in submitted] + [k for k in submitted if k not in props]
    return [
        AnswerField(key, props.get(key, {}), submitted[key])
        for key in order
        if submitted[key] not in (None, "", [])
    ]


def _targets(steps: Iterable[ChainStep]) -> list[str]:
    """The units the case was referred to, in order, each once."""
    seen: list[str] = []
    for step in steps:
        if step.opens_chain and step.unit_code not in seen:
            seen.append(step.unit_code)
    return seen
