"""A step is one transaction: lock the case, load its state, run the engine, save the
state, refresh the projected rows (tasks, stage, blacklist, sanctions, next timer) and
append the history events. The caller commits; on any error it rolls back and nothing
of the step remains.

Element properties in the diagram (``stage``, ``effect``) say what a step means to the
case, so the rules stay in data: ``effect`` is a space-separated list of
``blacklist_enter``, ``blacklist_leave``, ``sanction_applied``, ``sanction_lifted``,
``referral_answered[:<field>]``, ``loans_settled``, ``listing_ended``, ``closing_reason:<field>``,
``settlement_rejected``, ``outcome:<name>``,
``notify:creditor_bank`` and ``milestone:<kind>[:<field>...]``; a user task whose
``milestone`` property names a kind is that milestone when it opens. The creditor banks hear
of each milestone, and of the case closing, at the step's end (``_tell_banks``). A sanction
with a measure exposing the debtor in public publishes it (``cases.published_at``) until
that measure is lifted or it leaves the blacklist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from webapp import catalog as catalog_mod
from webapp import engine
from webapp.audit import chain
from webapp.cases import guarantees, history
from webapp.cases.versions import WITHOUT_FILES, definition_of
from webapp.clock import now
from webapp.deadlines import calendar as work_calendar
from webapp.deadlines import due
from webapp.errors import Conflict, NotFound, StepFailed
from webapp.models import (
    Case,
    CaseParticipant,
    Loan,
    Notification,
    ProcessVersion,
    Sanction,
    Task,
    User,
)
from webapp.models.cases import CLOSED
from webapp.models.tasks import CANCELLED, COMPLETED, OPEN

# later stages win when several are active at once
STAGE_ORDER = (
    # a judgment defaulter on the court's list, no other step open (the court's own tasks)
    "listed",
    "review",
    "negotiation",
    "market_exit",
    "interview",
    "official_talk",
    "rectification",
    "assessment",
    "repayment_plan",
    "sanction",
    "referral_decision",
    "referral",
    "monitoring",
    "delisting",
)


def stage_of(stages: list[str]) -> str | None:
    """The case's stage when the engine stands in ``stages`` (the latest wins)."""
    ranked = [s for s in STAGE_ORDER if s in stages]
    return ranked[-1] if ranked else None


@dataclass
class StepContext:
    """What one step did, collected while it runs and written at its end."""

    case: Case
    actor: User | None
    events: list[chain.NewEvent] = field(default_factory=list)
    completed_task: Task | None = None
    # the case's open task rows, when the caller read them under the step's lock already
    open_rows: dict[str, Task] | None = None
    # the case's process version, when the caller read it with the case
    version: ProcessVersion | None = None
    # the units taking part in the case, when the caller knows them (a case it just created)
    participants: set[str] | None = None
    # the case was created in this transaction: it has no stored tasks nor history chain yet
    new_case: bool = False
    # task rows the step opens and units it brings in, added to the session at its end
    new_tasks: list[Task] = field(default_factory=list)
    new_participants: list[CaseParticipant] = field(default_factory=list)
    # milestones the creditor banks hear of at the step's end, by kind, with their parameters
    milestones: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the banks were told of this step's outcome already (a rejection, an order to close)
    banks_told: bool = False

    def event(
        self,
        kind: str,
        *,
        task: Task | None = None,
        element_id: str | None = None,
        unit_code: str | None = None,
        **data: Any,
    ) -> None:
        """Collected now, placed on the diagram when the step ends (see ``_finish``)."""
        self.events.append(
            history.make(
                self.case, kind, self.actor, task=task, element_id=element_id, unit_code=unit_code, **data
            )
        )


def lock_case(session: Session, case_id: int) -> Case:
    """The case row, locked for the step (``SELECT … FOR UPDATE`` on PostgreSQL; the
    version column catches concurrent writers on SQLite)."""
    case = session.scalar(_lock(case_id, skip_locked=False))
    if case is None:
        raise NotFound("case not found")
    return case


def lock_case_if_free(session: Session, case_id: int) -> Case | None:
    """The case row locked for the step, or None at once if another transaction holds it
    (``FOR UPDATE SKIP LOCKED``: timer workers share the due cases instead of queueing on
    each other's locks) or it is gone. SQLite has no row locks: there it is ``lock_case``'s
    read, and the version column catches concurrent writers."""
    return session.scalar(_lock(case_id, skip_locked=True))


def _lock(case_id: int, *, skip_locked: bool) -> Select[Case]:
    # populate_existing: the row is read again under the lock, even if the session holds it
    # already (a writer that committed before we got the lock must not be overwritten)
    return (
        select(Case)
        .where(Case.id == case_id)
        .with_for_update(of=Case, skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    )


# populate_existing: as for the case row, a row the session holds is read again
_OPEN_TASKS = (
    select(Task)
    .where(Task.case_id == bindparam("case_id"), Task.status == OPEN)
    .execution_options(populate_existing=True)
)


def open_tasks(session: Session, case_id: int) -> dict[str, Task]:
    """The case's open task rows by id, read again (call it under the case's lock)."""
    # no autoflush, so that a step's changes still go out in one flush at its end
    with session.no_autoflush:
        return {t.id: t for t in session.scalars(_OPEN_TASKS, {"case_id": case_id})}


def start(
    session: Session,
    case: Case,
    version: ProcessVersion,
    data: dict[str, Any],
    actor: User | None,
    report: dict[str, Any],
    participants: set[str],
) -> None:
    """Start the case's workflow (the case row is flushed in this transaction, state not yet
    set); ``participants``: the units taking part from the start, recorded with the step."""
    ctx = StepContext(case, actor, open_rows={}, participants=set(participants), new_case=True)
    ctx.new_participants = [CaseParticipant(case_id=case.id, unit_code=unit) for unit in sorted(participants)]
    ctx.event("reported", **report)
    try:
        run = engine.CaseRun.start(definition_of(version), data)
    except engine.EngineError as err:
        raise StepFailed(str(err), case.id, actor.id if actor else None) from err
    _finish(session, ctx, run)


def complete_task(
    session: Session,
    case: Case,
    task: Task,
    data: dict[str, Any],
    actor: User,
    open_rows: dict[str, Task] | None = None,
    version: ProcessVersion | None = None,
) -> None:
    """Complete ``task``; ``open_rows``: the case's open tasks (``open_tasks``) if the caller
    read them after locking the case, ``version``: the case's process version if at hand, so
    the step does not read them again."""
    ctx = StepContext(case, actor, completed_task=task, open_rows=open_rows, version=version)
    task.status = COMPLETED
    task.completed_at = now()
    task.completed_by_id = actor.id
    task.submitted = data
    ctx.event("task_completed", task=task, form=task.form, submitted=data)

    def action(run: engine.CaseRun) -> None:
        run.complete(task.id, _engine_data(session, case, task, data, run.definition))

    _run(session, ctx, action)


def _engine_data(
    session: Session, case: Case, task: Task, data: dict[str, Any], definition: engine.Definition
) -> dict[str, Any]:
    """What the engine receives with a completed task: the submitted data, and for a step
    that settles the loans (effect ``loans_settled``, e.g. a plan's last instalment) or ends
    the listing (``listing_ended``, the court's record of a defaulter's exit) the units whose
    sanctions are in force, so the delisting that follows asks each of them to lift (rule 2)
    as a reported settlement does."""
    effects = definition.element_properties.get(task.element_id, {}).get("effect", "").split()
    if ("loans_settled" in effects and data.get("settlement_certificate_no")) or "listing_ended" in effects:
        return {**data, "units_in_force": guarantees.units_to_lift(session, case.id)}
    return data


def deliver_settlement(session: Session, case: Case, payload: dict[str, Any], actor: User) -> bool:
    """Deliver ``loan_settled``; False when the case is not waiting for it (already delisting)."""
    return deliver_message(session, case, "loan_settled", payload, actor)


def deliver_message(
    session: Session,
    case: Case,
    message: str,
    payload: dict[str, Any],
    actor: User,
    *,
    banks_told: bool = False,
) -> bool:
    """Deliver ``message`` to the case; False when nothing in it waits for that message.
    ``banks_told``: the caller told the creditor banks what the message means (a closing)."""
    ctx = StepContext(case, actor, banks_told=banks_told)
    delivered = False

    def action(run: engine.CaseRun) -> None:
        nonlocal delivered
        delivered = run.deliver_message(message, payload)
        if delivered:
            ctx.event("message_received", message=message, **payload)

    _run(session, ctx, action)
    return delivered


def merge_case_data(session: Session, case: Case, data: dict[str, Any], actor: User | None) -> None:
    """Tell the running workflow about changed case facts (e.g. a second creditor bank)."""
    _run(session, StepContext(case, actor), lambda run: run.merge_data(data))


def fire_timers(session: Session, case: Case, *, expire: bool = False, reason: str = "") -> None:
    """Fire the case's due timers; ``expire`` makes waiting timers due first (demo data)."""
    ctx = StepContext(case, None)
    due = case.next_timer_at
    ctx.event(
        "timer_fired", due_at=due.isoformat() if due else None, expired_early=reason if expire else None
    )

    def action(run: engine.CaseRun) -> None:
        if expire:
            run.expire_timers()
        else:
            run.fire_due_timers()

    _run(session, ctx, action)


def retry(session: Session, case: Case, actor: User | None) -> list[str]:
    """Run a stuck case on from its stored state: join multi-instance items that finished
    unmerged (``CaseRun.repair``), fire due timers and re-project its tasks; the elements
    repaired. Recorded in the history as ``case_repaired`` or ``case_retried``."""
    ctx = StepContext(case, actor)
    repaired: list[str] = []

    def action(run: engine.CaseRun) -> None:
        repaired.extend(run.repair())
        run.fire_due_timers()
        kind = "case_repaired" if repaired else "case_retried"
        ctx.event(kind, repaired=sorted(set(repaired)), incident=case.incident)

    _run(session, ctx, action)
    return repaired


def upgrade_state(session: Session, case: Case) -> list[str]:
    """Rewrite the case's stored engine state through the engine's serializer (call it under
    the case's lock); an open case whose multi-instance items finished unmerged is repaired
    as a step, recorded as ``case_repaired``. The elements repaired."""
    version = session.get(ProcessVersion, case.process_version_id, options=WITHOUT_FILES)
    if version is None:
        raise StepFailed("the case's process version is missing", case.id, None)
    try:
        run = engine.CaseRun.load(definition_of(version), case.state)
        repaired = run.repair() if case.status != CLOSED else []
    except engine.EngineError as err:
        raise StepFailed(str(err), case.id, None) from err
    if repaired:
        ctx = StepContext(case, None, version=version)
        ctx.event("case_repaired", repaired=sorted(set(repaired)), by="upgrade-state")
        _finish(session, ctx, run)
        return repaired
    rewritten = run.dump()
    if rewritten != case.state:
        case.state = rewritten
        session.flush()
    return []


def _run(session: Session, ctx: StepContext, action: Callable[[engine.CaseRun], None]) -> None:
    case = ctx.case
    if case.status == CLOSED:
        raise Conflict("the case is closed")
    version = ctx.version
    if version is None or version.id != case.process_version_id:
        with session.no_autoflush:  # a version row never changes: nothing to flush before reading it
            version = session.get(ProcessVersion, case.process_version_id, options=WITHOUT_FILES)
    if version is None:  # cannot happen with the foreign key; say so if it does
        raise StepFailed(
            "the case's process version is missing", case.id, ctx.actor.id if ctx.actor else None
        )
    try:
        run = engine.CaseRun.load(definition_of(version), case.state)
        action(run)
    except engine.TaskNotReady as err:
        raise Conflict("the task is no longer open") from err
    except engine.EngineError as err:
        raise StepFailed(str(err), case.id, ctx.actor.id if ctx.actor else None) from err
    _finish(session, ctx, run)


def _finish(session: Session, ctx: StepContext, run: engine.CaseRun) -> None:
    case = ctx.case
    cat = catalog_mod.current()
    snapshot = run.snapshot(cat.dynamic_lanes)
    case.state = run.dump()
    if not any(event.kind == "timer_fired" for event in ctx.events):
        # the engine fires every due timer at the end of a step (a deadline passed before the
        # timer worker came round fires inside a unit's step): the history says so all the same
        for element in run.completed:
            if element.is_timer:
                ctx.event("timer_fired", element_id=element.element_id, during_step=True)
    _apply_effects(session, ctx, run.completed, cat.public_measures())
    _project_tasks(session, ctx, snapshot, cat.unit_codes(), run.definition)
    case.active_elements = snapshot.active_elements
    # the engine forgets finished history (engine.compact): what the case completed earlier
    # is kept here, so the diagram still shows it
    case.completed_elements = sorted(set(case.completed_elements or []) | set(snapshot.completed_elements))
    if snapshot.next_timer_at != case.next_timer_at:
        # a new deadline starts without the backoff a failing earlier one was under
        case.timer_failures, case.timer_retry_at = 0, None
    case.next_timer_at = snapshot.next_timer_at
    case.awaits_message = snapshot.awaits_message
    case.updated_at = now()
    case.incident = None  # the step ran: an earlier incident is resolved
    if snapshot.finished:
        actor_id = ctx.actor.id if ctx.actor else None
        if case.blacklisted:
            raise StepFailed(
                "rule 2: the case would close with the debtor on the blacklist", case.id, actor_id
            )
        if case.outcome in guarantees.LIFTING_OUTCOMES and guarantees.unlifted_sanctions(session, case):
            raise StepFailed(
                "rule 2: the case would close before every sanction is lifted", case.id, actor_id
            )
        case.status = CLOSED
        case.stage = "closed"
        case.closed_at = now()
        case.open_debtor_id = None
        ctx.event("case_closed", outcome=case.outcome)
    else:
        case.stage = stage_of(snapshot.stages) or case.stage
    _tell_banks(session, ctx, closed=snapshot.finished)
    for event in ctx.events:
        event.active_elements = snapshot.active_elements
        event.completed_elements = case.completed_elements
    # the step's rows are flushed (the case's version counter checked and moved on by the
    # mapper), then its events go out in one statement, sealed on the case's chain
    session.add_all(ctx.new_tasks)
    session.add_all(ctx.new_participants)
    chain.insert_events(session, ctx.events, new_chains={chain.chain_of(case.id)} if ctx.new_case else set())


def _project_tasks(
    session: Session,
    ctx: StepContext,
    snapshot: engine.Snapshot,
    units: set[str],
    definition: engine.Definition,
) -> None:
    case = ctx.case
    # no autoflush: the step's changes go out in one flush at its end (the open rows are
    # matched by identity, the completed task among them)
    open_rows = ctx.open_rows
    if open_rows is None:
        with session.no_autoflush:
            open_rows = ctx.open_rows = {
                t.id: t
                for t in session.scalars(select(Task).where(Task.case_id == case.id, Task.status == OPEN))
            }
    ready_ids = {r.id for r in snapshot.ready}
    opened, calendar = now(), work_calendar.load()
    for task_id, row in open_rows.items():
        if task_id not in ready_ids and row is not ctx.completed_task:
            row.status = CANCELLED
            ctx.event("task_cancelled", task=row, unit_code=row.unit_code)
    new = [r for r in snapshot.ready if r.id not in open_rows]
    # rule 1, checked once a step: the history is read only when sanction tasks open
    sanction = next((r for r in new if guarantees.opens_sanction(r)), None)
    if sanction is not None and not guarantees.sanction_may_open(session, case, ctx.events, definition):
        raise StepFailed(
            f"rule 1: {sanction.element_id} would open before the interview and a passed deadline",
            case.id,
            ctx.actor.id if ctx.actor else None,
        )
    # units with an open task take part already (a task row is only made here, with its
    # unit's participation): the participants are read only for a unit new to the case
    taking_part = {row.unit_code for row in open_rows.values()}
    participants = ctx.participants
    for ready in new:
        if ready.assignee is None or ready.assignee not in units:
            raise StepFailed(
                f"lane {ready.lane} of {ready.element_id} resolves to unknown unit {ready.assignee!r}",
                case.id,
                ctx.actor.id if ctx.actor else None,
            )
        row = Task(
            id=ready.id,
            case_id=case.id,
            element_id=ready.element_id,
            title=ready.title,
            lane=ready.lane,
            unit_code=ready.assignee,
            form=ready.form,
            status=OPEN,
            created_at=opened,
            due_at=_due_at(ready, opened, calendar),
            context=ready.item,
        )
        ctx.new_tasks.append(row)
        if ready.assignee not in taking_part:
            if participants is None:  # read once a step, whatever the number of new tasks
                participants = _participants(session, case.id)
            if ready.assignee not in participants:
                participants.add(ready.assignee)
                ctx.new_participants.append(CaseParticipant(case_id=case.id, unit_code=ready.assignee))
        ctx.event("task_opened", task=row, unit_code=ready.assignee)
        if milestone := ready.properties.get("milestone"):
            # a task whose opening is a milestone (sanctions asked, a referral made): one
            # notice for all the tasks of the kind the step opens
            params = ctx.milestones.setdefault(milestone, {"unit": ready.assignee, "units": 0})
            params["units"] += 1


def _due_at(
    ready: engine.ReadyTask, opened: dt.datetime, calendar: work_calendar.WorkCalendar
) -> dt.datetime | None:
    """The end of the day the element's data names (an instalment's date), else the period
    from deadlines.toml; a date that cannot be read falls back to the period."""
    if ready.due_on:
        try:
            return work_calendar.end_of_local_day(dt.date.fromisoformat(ready.due_on))
        except ValueError:
            pass
    return due.due_at(ready.element_id, opened, calendar)


def _participants(session: Session, case_id: int) -> set[str]:
    """Units taking part in the case, those added in this transaction included (read
    without autoflush, so that the step's changes still go out in one flush)."""
    with session.no_autoflush:
        stored = set(
            session.scalars(select(CaseParticipant.unit_code).where(CaseParticipant.case_id == case_id))
        )
    pending = {o.unit_code for o in session.new if isinstance(o, CaseParticipant) and o.case_id == case_id}
    return stored | pending


def _apply_effects(
    session: Session, ctx: StepContext, completed: list[engine.CompletedElement], public: frozenset[str]
) -> None:
    case = ctx.case
    task = ctx.completed_task
    for element in completed:
        own_task = task is not None and element.task_id == task.id
        for effect in element.properties.get("effect", "").split():
            name, _, arg = effect.partition(":")
            if name == "blacklist_enter" and not case.blacklisted:
                case.blacklisted = True
                case.blacklisted_at = now()
                ctx.event("blacklist_entered", element_id=element.element_id)
            elif name == "blacklist_leave" and case.blacklisted:
                case.blacklisted = False
                case.delisted_at = now()
                ctx.event("blacklist_left", element_id=element.element_id)
                if case.published_at is not None:
                    case.published_at = None
                    ctx.event("publicly_delisted", element_id=element.element_id, reason="blacklist_left")
            elif name == "outcome":
                case.outcome = arg
            elif name == "notify" and arg == "creditor_bank":
                ctx.banks_told = True
                for bank in creditor_banks(session, case.id):
                    session.add(
                        Notification(
                            unit_code=bank,
                            case_id=case.id,
                            kind=f"case_{case.outcome}",
                            params={
                                "reason": (task.submitted or {}).get("reject_reason", "") if task else ""
                            },
                        )
                    )
            elif name == "sanction_applied" and own_task and task is not None:
                measures = list((task.submitted or {}).get("measures", []))
                if not measures:  # the unit answered "no measure applicable": nothing to lift
                    reason = (task.submitted or {}).get("no_measure_reason", "")
                    ctx.event("no_measure_applicable", task=task, unit_code=task.unit_code, reason=reason)
                    continue
                session.add(
                    Sanction(
                        case_id=case.id,
                        unit_code=task.unit_code,
                        task_id=task.id,
                        measures=measures,
                        applied_at=now(),
                    )
                )
                ctx.event("sanction_applied", task=task, unit_code=task.unit_code, measures=measures)
                exposing = sorted(public & set(measures))
                if exposing and case.published_at is None:
                    # exposure is a sanction: the debtor is published from now (GUARANTEES rule 8)
                    case.published_at = now()
                    ctx.event("publicly_listed", task=task, unit_code=task.unit_code, measures=exposing)
            elif name == "sanction_lifted" and own_task and task is not None:
                for sanction in _unlifted(session, case.id, task.unit_code):
                    sanction.lifted_at = now()
                    sanction.lift_task_id = task.id
                ctx.event("sanction_lifted", task=task, unit_code=task.unit_code)
                if case.published_at is not None and not _exposed(session, case.id, public):
                    case.published_at = None
                    ctx.event(
                        "publicly_delisted", task=task, unit_code=task.unit_code, reason="exposure_lifted"
                    )
            elif name == "settlement_rejected":
                _reopen_loans(session, ctx)
            elif name == "referral_answered" and own_task and task is not None:
                # the argument names the form field holding the unit's answer
                ctx.event(
                    "referral_answered",
                    task=task,
                    unit_code=task.unit_code,
                    answer=(task.submitted or {}).get(arg or "referral_answer"),
                )
            elif name == "milestone":
                # milestone:<kind>[:<field>...]: the banks hear of it with those fields of the
                # step's submitted data
                kind, *fields = arg.split(":")
                submitted = (task.submitted or {}) if task is not None else {}
                params = ctx.milestones.setdefault(kind, {})
                params.update({f: submitted[f] for f in fields if f in submitted})
            elif name == "loans_settled" and own_task and task is not None:
                certificate = (task.submitted or {}).get("settlement_certificate_no")
                if certificate:  # the last instalment of a repayment plan was paid
                    _settle_loans(session, ctx, str(certificate))
            elif name == "closing_reason" and own_task and task is not None:
                # closing_reason:<field>: the step records why the case ends (a defaulter's exit)
                case.closing_reason = (task.submitted or {}).get(arg) or None


def _tell_banks(session: Session, ctx: StepContext, *, closed: bool) -> None:
    """The case's creditor banks hear of the step's milestones (``notify:creditor_bank``
    effects, the diagram's ``milestone`` effects and properties, the case closing), one
    notice each; a closing they were told of in this step already (a rejection, an order to
    close) is not told twice."""
    case, milestones = ctx.case, dict(ctx.milestones)
    if closed and not ctx.banks_told:
        milestones["closed"] = {"outcome": case.outcome}
    if not milestones:
        return
    if "deadline_set" in milestones and case.next_timer_at is not None:
        left = case.next_timer_at - now()
        milestones["deadline_set"].update(
            days=round(left.total_seconds() / 86400),
            due=case.next_timer_at.astimezone(work_calendar.LOCAL).date().isoformat(),
            step=ctx.completed_task.element_id if ctx.completed_task else None,
        )
    if "delisted" in milestones:
        milestones["delisted"]["outcome"] = case.outcome
    banks = creditor_banks(session, case.id)
    for kind, params in milestones.items():
        for bank in banks:
            session.add(Notification(unit_code=bank, case_id=case.id, kind=f"case_{kind}", params=params))


def _unlifted(session: Session, case_id: int, unit_code: str) -> list[Sanction]:
    """The unit's sanctions on the case not lifted yet, those added in this transaction
    included (read without autoflush: the step's changes go out in one flush at its end)."""
    with session.no_autoflush:
        stored = list(
            session.scalars(
                select(Sanction).where(
                    Sanction.case_id == case_id,
                    Sanction.unit_code == unit_code,
                    Sanction.lifted_at.is_(None),
                )
            )
        )
    pending = [
        o
        for o in session.new
        if isinstance(o, Sanction)
        and o.case_id == case_id
        and o.unit_code == unit_code
        and o.lifted_at is None
        and o not in stored
    ]
    return stored + pending


def _exposed(session: Session, case_id: int, public: frozenset[str]) -> bool:
    """A measure exposing the debtor is still applied on the case (those lifted in this
    transaction are not: read without autoflush, pending rows looked at as they are)."""
    with session.no_autoflush:
        stored = list(
            session.scalars(select(Sanction).where(Sanction.case_id == case_id, Sanction.lifted_at.is_(None)))
        )
    pending = [o for o in session.new if isinstance(o, Sanction) and o.case_id == case_id]
    return any(s.lifted_at is None and public & set(s.measures or []) for s in stored + pending)


def _settle_loans(session: Session, ctx: StepContext, certificate_no: str) -> None:
    """A repayment plan was kept: the case's unsettled loans are settled with the
    certificate the creditor bank gave; the office verifies it next, as for any settlement."""
    settled = []
    for loan in session.scalars(select(Loan).where(Loan.case_id == ctx.case.id, Loan.settled_at.is_(None))):
        loan.settled_at = now()
        loan.settlement_certificate_no = certificate_no
        settled.append(loan.contract_no)
    ctx.event("settlement_reported", certificate_no=certificate_no, loans=settled, by="repayment_plan")


def _reopen_loans(session: Session, ctx: StepContext) -> None:
    """The office found the settlement certificate invalid: the loans count as unpaid again."""
    case = ctx.case
    reopened = []
    for loan in session.scalars(select(Loan).where(Loan.case_id == case.id, Loan.settled_at.is_not(None))):
        # the rejected certificate stays on record in the event (its file is kept too)
        reopened.append(
            {
                "loan": loan.contract_no,
                "certificate_no": loan.settlement_certificate_no,
                "attachment_id": loan.settlement_attachment_id,
            }
        )
        loan.settled_at = None
        loan.settlement_certificate_no = None
        loan.settlement_attachment_id = None
    reason = (ctx.completed_task.submitted or {}).get("verification_notes", "") if ctx.completed_task else ""
    ctx.event("settlement_rejected", loans=reopened, reason=reason)
    for bank in creditor_banks(session, case.id):
        session.add(
            Notification(
                unit_code=bank, case_id=case.id, kind="settlement_rejected", params={"reason": reason}
            )
        )


def creditor_banks(session: Session, case_id: int) -> list[str]:
    """Units that reported a loan of the case, first reporter first."""
    codes = session.scalars(select(Loan.bank_unit_code).where(Loan.case_id == case_id).order_by(Loan.id))
    return list(dict.fromkeys(codes))


def record_incident(session: Session, failure: StepFailed) -> None:
    """Record a step the engine could not run (after the step was rolled back)."""
    case = session.get(Case, failure.case_id)
    if case is None:
        return
    case.incident = failure.message
    history.append(session, case, "incident", actor_id=failure.actor_id, message=failure.message)
    session.flush()


def move_to_version(
    session: Session,
    case: Case,
    version: ProcessVersion,
    state: str,
    actor: User | None,
    **event: Any,
) -> None:
    """Put the case (locked by the caller) on ``version`` with ``state``, its engine state
    migrated there (``engine.migration``), and re-project its rows as a step does; recorded
    as ``version_migrated`` with ``event``. The open task rows keep their ids; a title or
    form the new version gives a still open task is taken over."""
    if case.status == CLOSED:
        raise Conflict("the case is closed")
    try:
        run = engine.CaseRun.load(definition_of(version), state)
    except engine.EngineError as err:
        raise StepFailed(str(err), case.id, actor.id if actor else None) from err
    case.process_version_id = version.id
    ctx = StepContext(case, actor, version=version, open_rows=open_tasks(session, case.id))
    ctx.event("version_migrated", **event)
    ready = {r.id: r for r in run.snapshot(catalog_mod.current().dynamic_lanes).ready}
    for task_id, row in (ctx.open_rows or {}).items():
        if task_id in ready:
            row.title, row.form = ready[task_id].title, ready[task_id].form
    _finish(session, ctx, run)
