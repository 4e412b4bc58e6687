"""A unit's task inbox: claim, unclaim and complete user tasks.

Only caseworkers of the unit that owns a task may claim or complete it (403); a task
that is no longer open cannot be completed again (409).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, cast

from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, defer

from webapp import catalog as catalog_mod
from webapp.cases import history, steps, versions
from webapp.cases.attachments import Upload
from webapp.cases.queries import visible_to
from webapp.cases.visibility import SHOWN
from webapp.clock import now
from webapp.deadlines.calendar import LOCAL, end_of_local_day
from webapp.errors import Conflict, Forbidden, NotFound
from webapp.models import Case, Notification, ProcessVersion, Task, Unit, User
from webapp.models.tasks import OPEN
from webapp.taskforms import FormSchema, coerce_form, files, resolve_schema, validate
from webapp.taskforms.validation import MultiDictLike

ORDERS = {"newest": Task.created_at.desc(), "oldest": Task.created_at.asc()}


DUE_FILTERS = ("overdue", "today", "week", "none")


def inbox(
    session: Session,
    user: User,
    order: str = "oldest",
    limit: int = 50,
    offset: int = 0,
    due: str | None = None,
) -> list[tuple[Task, Case]]:
    """The unit's open tasks; ``order`` oldest / newest / due (soonest first, no date last);
    ``due`` filters overdue, due today, due this week (local), or without a due date."""
    current = now()
    local_today = current.astimezone(LOCAL).date()
    params = {
        "unit": user.unit_code,
        "now": current,
        "today_end": end_of_local_day(local_today),
        "week_end": end_of_local_day(local_today + dt.timedelta(days=6 - local_today.weekday())),
        "limit": limit,
        "offset": offset,
    }
    order = order if order in ("due", *ORDERS) else "oldest"
    due = due if due in DUE_FILTERS else None
    return [(t, c) for t, c in session.execute(_inbox_statement(order, due), params)]


@functools.cache
def _inbox_statement(order: str, due: str | None) -> Any:
    """The inbox's statement for an order and a filter, built once (the unit, the moments
    and the page are bound parameters)."""
    stmt: Any = (
        select(Task, Case)
        .join(Case, Task.case_id == Case.id)
        # tasks of cases a ledger import is still writing wait until it finishes
        .where(Task.unit_code == bindparam("unit"), Task.status == OPEN, SHOWN)
    )
    current: Any = bindparam("now")
    if due == "overdue":
        stmt = stmt.where(Task.due_at < current)
    elif due == "today":
        stmt = stmt.where(Task.due_at >= current, Task.due_at <= bindparam("today_end"))
    elif due == "week":
        stmt = stmt.where(Task.due_at >= current, Task.due_at <= bindparam("week_end"))
    elif due == "none":
        stmt = stmt.where(Task.due_at.is_(None))
    # NULLS LAST (not "due_at IS NULL" first) lets the (unit_code, status, due_at) index give the
    # order, so the LIMIT stops early; the inbox never shows the engine state (8-15 kB a case)
    ordering = [Task.due_at.asc().nulls_last()] if order == "due" else [ORDERS[order]]
    return (
        stmt.order_by(*ordering, Task.id)
        .options(defer(Case.state))
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


class NavCounts(NamedTuple):
    inbox: int
    overdue: int
    unread: int


# built once; every page's top bar runs it; the case is joined for SHOWN, so the counts
# agree with the inbox while an import is under way
_NAV_COUNTS = (
    select(
        func.count(Task.id),
        func.count(Task.id).filter(Task.due_at < bindparam("now")),
        select(func.count(Notification.id))
        .where(Notification.unit_code == bindparam("unit"), Notification.read_at.is_(None))
        .scalar_subquery(),
    )
    .join(Case, Task.case_id == Case.id)
    .where(Task.unit_code == bindparam("unit"), Task.status == OPEN, SHOWN)
)


def nav_counts(session: Session, unit_code: str) -> NavCounts:
    """The unit's open and overdue tasks and unread notifications, in one statement."""
    row = session.execute(_NAV_COUNTS, {"unit": unit_code, "now": now()}).one()
    return NavCounts(*(int(n or 0) for n in row))


def get_task(session: Session, user: User, task_id: str) -> Task:
    """A task of a case the user may see (404 otherwise, so nothing leaks)."""
    return _visible_task(session, user, task_id)[0]


def task_with_form(
    session: Session, user: User, task_id: str, forms_dir: str
) -> tuple[Task, FormSchema | None]:
    """A task the user may see (404 otherwise) and its resolved form, for its page."""
    task, case = _visible_task(session, user, task_id)
    # the case is passed on: the session keeps no strong reference to it, so looking it up
    # again would read it again
    return task, task_form(session, task, forms_dir, case)


def task_page(
    session: Session, user: User, task_id: str, forms_dir: str
) -> tuple[Task, FormSchema | None, Case]:
    """``task_with_form`` and the task's case, read in the same statement."""
    task, case = _visible_task(session, user, task_id)
    return task, task_form(session, task, forms_dir, case), case


@functools.cache
def _task_statement(sees_all: bool) -> Select[Any]:
    """The task and its case if the user may see it, in one statement built once per kind
    of user (``queries.visible_to``)."""
    return (
        visible_to(sees_all)
        .join(Task, Task.case_id == Case.id)
        .where(Task.id == bindparam("task_id"))
        .add_columns(Task)
    )


def _visible_task(session: Session, user: User, task_id: str) -> tuple[Task, Case]:
    params = {"task_id": task_id, "viewer_unit": user.unit_code}
    row = session.execute(_task_statement(user.sees_all_cases), params).first()
    if row is None:
        raise NotFound(_("Task not found."))
    case, task = row
    return task, case


@functools.cache
def _lock_statement(sees_all: bool) -> Select[Any]:
    """The statement of ``_lock_visible_case``, built once per kind of user (``queries.visible_to``)."""
    return (
        visible_to(sees_all)
        .join(Task, Task.case_id == Case.id)
        .join(ProcessVersion, ProcessVersion.id == Case.process_version_id)
        .add_columns(ProcessVersion)
        .options(*versions.WITHOUT_FILES)
        .where(Task.id == bindparam("task_id"))
        .with_for_update(of=Case)
        .execution_options(populate_existing=True)
    )


def _lock_visible_case(session: Session, user: User, task_id: str) -> tuple[Case, ProcessVersion]:
    """The case of a task the user may see (404 otherwise), locked for a step and read
    again, in one statement (``steps.lock_case`` for a case the caller may see)."""
    # its process version comes along (a version row never changes), so the step need not
    # read it
    params = {"task_id": task_id, "viewer_unit": user.unit_code}
    row = session.execute(_lock_statement(user.sees_all_cases), params).first()
    if row is None:
        raise NotFound(_("Task not found."))
    return row[0], row[1]


def _check_owner(user: User, task: Task) -> None:
    if user.unit_code != task.unit_code or not user.has_role("caseworker"):
        raise Forbidden(_("Only caseworkers of the unit that owns this task can work on it."))


def _check_open(task: Task) -> None:
    if task.status == "completed":
        raise Conflict(_("This task is already completed."))
    if task.status != OPEN:
        raise Conflict(_("This task was cancelled: the case moved on."))


def task_form(session: Session, task: Task, forms_dir: str, case: Case | None = None) -> FormSchema | None:
    """The task's form resolved for its unit, debtor and the case data its element names
    (``task.context``, e.g. the measures the office allowed, an instalment being the last)."""
    if not task.form:
        return None
    cat = catalog_mod.current()
    unit = session.get(Unit, task.unit_code)
    kind = unit.kind if unit else ""
    if case is None or case.id != task.case_id:
        case = session.get(Case, task.case_id)
    context = dict(task.context or {})
    # the case's own facts: a debtor blacklisted before (a case reopened after an invalid
    # certificate) is not rejected on re-review; it leaves by settlement or by closing
    context["blacklisted"] = bool(case and case.blacklisted)
    measures = cat.measures_for(task.unit_code, kind, versions.process_key(session, case) if case else None)
    # a lighter sanction: only the measures the office chose for the unit, if it chose any of them
    allowed = set(context.get("allowed_measures") or [])
    if allowed & {m.code for m in measures}:
        measures = tuple(m for m in measures if m.code in allowed)
    options = {
        "sanction_measures": [(m.code, m.zh, m.en) for m in measures],
        **_choices(cat, session),
    }
    defaults = {"rectification_days": cat.rectification_default_days}
    debtor_kind = case.debtor.kind if case else None
    return resolve_schema(forms_dir, task.form, options, defaults, debtor_kind, context)


def _choices(cat: catalog_mod.Catalog, session: Session) -> dict[str, list[tuple[str, str, str]]]:
    """Server-filled choices any form may name (``x-options``)."""
    names = {u.code: u for u in cat.units}
    sanctioning = [(catalog_mod.CREDITOR_BANK, "债权银行", "Creditor banks")] + [
        (code, names[code].zh, names[code].en) for code in cat.sanctioning_units() if code in names
    ]
    measures = [
        (m.code, f"{zh}：{m.zh}", f"{en}: {m.en}")
        for unit, zh, en in sanctioning
        for m in cat.sanctions.get(unit, ())
    ]
    towns = [(u.code, u.zh, u.en) for u in cat.units if u.kind == "township"]
    return {"sanctioning_units": sanctioning, "all_measures": measures, "townships": towns}


def claim(session: Session, user: User, task_id: str) -> Task:
    task = get_task(session, user, task_id)
    _check_owner(user, task)
    _check_open(task)
    # a conditional update: of two users claiming at once, exactly one wins
    result = session.execute(
        update(Task)
        .where(Task.id == task.id, Task.status == OPEN, Task.claimed_by_id.is_(None))
        .values(claimed_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    won = cast("CursorResult[Any]", result).rowcount == 1
    session.refresh(task)
    if won:
        _event(session, task, user, "task_claimed")
    elif task.claimed_by_id != user.id:
        _check_open(task)
        raise Conflict(_("This task is claimed by another user."))
    session.flush()
    return task


def unclaim(session: Session, user: User, task_id: str) -> Task:
    task = get_task(session, user, task_id)
    _check_owner(user, task)
    _check_open(task)
    if task.claimed_by_id != user.id:
        raise Conflict(_("Only the user who claimed this task can return it to the unit."))
    task.claimed_by_id = None
    _event(session, task, user, "task_unclaimed")
    session.flush()
    return task


# the files one completion may carry (each task form has one file field of at most five)
FILES_PER_COMPLETION = 5


def completion_size_limit(max_file_bytes: int) -> int:
    """The request size a completion with files may reach: its files at the per-file limit
    and the form's other fields, so a file too big gets the form's 422, not a bare 413."""
    return FILES_PER_COMPLETION * max_file_bytes + 2**16


class Uploads(NamedTuple):
    """Files posted with a completion, by form field (``x-widget: files``), and where and up
    to what size they are stored."""

    files: Mapping[str, Sequence[Upload]]
    upload_dir: str
    max_bytes: int | None = None


NO_UPLOADS = Uploads({}, "")


def complete(
    session: Session,
    user: User,
    task_id: str,
    data: dict[str, Any],
    forms_dir: str,
    uploads: Uploads = NO_UPLOADS,
) -> Task:
    """Complete a task with JSON data (validated against its form) and the files posted
    for its file fields."""
    return _complete(session, user, task_id, forms_dir, lambda _form: data, uploads)


def complete_posted(
    session: Session,
    user: User,
    task_id: str,
    posted: MultiDictLike,
    forms_dir: str,
    uploads: Uploads = NO_UPLOADS,
) -> Task:
    """Complete a task with an HTML form's fields, converted to the form's types first."""
    return _complete(
        session, user, task_id, forms_dir, lambda form: coerce_form(form, posted) if form else {}, uploads
    )


def _complete(
    session: Session,
    user: User,
    task_id: str,
    forms_dir: str,
    submitted: Callable[[FormSchema | None], dict[str, Any]],
    uploads: Uploads = NO_UPLOADS,
) -> Task:
    case, version = _lock_visible_case(session, user, task_id)
    # the case's open tasks, read once under the lock: the task to complete among them, and
    # the step's projection starts from them
    open_rows = steps.open_tasks(session, case.id)
    task = open_rows.get(task_id) or session.get(Task, task_id, populate_existing=True)
    if task is None:  # cannot happen: the task's case was just found through it
        raise NotFound(_("Task not found."))
    _check_owner(user, task)
    _check_open(task)
    if task.claimed_by_id not in (None, user.id):
        raise Conflict(_("This task is claimed by another user."))
    form = task_form(session, task, forms_dir, case)
    data = submitted(form)
    if uploads.files or files.file_fields(form):
        # stored before validation (the field's value is the stored files); a refusal rolls
        # the files back with the step
        data = files.attach(
            session, form, data, uploads.files, user, case, uploads.upload_dir, uploads.max_bytes
        )
    clean = validate(form, data) if form else {}
    task.claimed_by_id = user.id
    steps.complete_task(session, case, task, clean, user, open_rows, version)
    return task


def _event(session: Session, task: Task, user: User, kind: str) -> None:
    case = session.get(Case, task.case_id)
    if case is not None:
        history.append(session, case, kind, user, task=task)
