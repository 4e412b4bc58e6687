"""Read-side queries over projected tables (never the engine state)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import cast

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, bindparam, select, update
from sqlalchemy.orm import Session, defer

from webapp.cases import links, referrals, versions
from webapp.cases.visibility import SHOWN
from webapp.catalog import ProcessSpec
from webapp.clock import now
from webapp.documents import access
from webapp.errors import NotFound
from webapp.models import (
    Attachment,
    Case,
    CaseEvent,
    CaseParticipant,
    CourtListing,
    Loan,
    Notification,
    Sanction,
    Task,
    User,
)


def visible_cases(user: User) -> Select[Case]:
    """Cases the user may see: all for the office, supervisors and auditors; otherwise
    those the user's unit takes part in. Never a case a ledger import is still writing
    (``visibility.SHOWN``), for anyone."""
    stmt = select(Case).where(SHOWN)
    if not user.sees_all_cases:
        stmt = stmt.where(
            Case.id.in_(select(CaseParticipant.case_id).where(CaseParticipant.unit_code == user.unit_code))
        )
    return stmt


@functools.cache
def visible_to(sees_all: bool) -> Select[Case]:
    """``visible_cases`` for a kind of user, built once: the unit is the bound parameter
    ``viewer_unit``. Building a statement took about as long as running it."""
    viewer = cast("User", SimpleNamespace(sees_all_cases=sees_all, unit_code=bindparam("viewer_unit")))
    return visible_cases(viewer)


@functools.cache
def _case_by_id(sees_all: bool) -> Select[Case]:
    return visible_to(sees_all).where(Case.id == bindparam("case_id"))


def get_case(session: Session, user: User, case_id: int) -> Case:
    params = {"case_id": case_id, "viewer_unit": user.unit_code}
    case = session.scalar(_case_by_id(user.sees_all_cases), params)
    if case is None and user.unit_code == referrals.OVERSIGHT_UNIT:
        # the political-legal committee reads every referred case (seed 000 §五5), nothing more
        case = referrals.referred_case(session, case_id)
    if case is None:
        raise NotFound(_("Case not found."))
    return case


def name_contains(query: str) -> ColumnElement[bool]:
    """The debtor's name contains ``query``: one bound pattern (not '%' || :q || '%'), so
    PostgreSQL sees the text and can use the name's trigram index; % and _ typed by the user
    are matched literally."""
    pattern = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Case.debtor_name.like(f"%{pattern}%", escape="\\")


def list_cases(
    session: Session,
    user: User,
    *,
    status: str | None = None,
    query: str | None = None,
    limit: int = 50,
    offset: int = 0,
    filters: Sequence[ColumnElement[bool]] = (),
) -> list[Case]:
    newest_first = (Case.created_at.desc(), Case.id.desc())
    page = visible_cases(user).with_only_columns(Case.id)
    if status:
        page = page.where(Case.status == status)
    if query:
        page = page.where(name_contains(query))
    # the other filters (webapp.cases.search_filters): identifier digest, bank, stage, amount, dates
    page = page.where(*filters)
    # the page's ids first: PostgreSQL finds them in the (created_at, id) index, whose entries
    # hold the name and status, without reading a row per case it passes over; then those
    # cases (a list never shows the engine state: not reading it saves 8-15 kB a row)
    ids = page.order_by(*newest_first).limit(limit).offset(offset)
    stmt = select(Case).where(Case.id.in_(ids)).options(defer(Case.state))
    return list(session.scalars(stmt.order_by(*newest_first)))


@dataclass(frozen=True)
class CaseView:
    case: Case
    loans: list[Loan]
    open_tasks: list[Task]
    done_tasks: list[Task]
    sanctions: list[Sanction]
    events: list[CaseEvent]
    # display names of the users who acted on the case, by id
    people: dict[int, str]
    # the process the case runs (processes/catalog.toml)
    process: ProcessSpec
    # the court's listing, for a process whose subject is one (``ProcessSpec.facts``)
    listing: CourtListing | None = None
    # the debtor's cases in other processes, linked to this one
    linked: list[links.LinkedCase] = field(default_factory=list)


# the case page's statements, built once
_TASKS = select(Task).where(Task.case_id == bindparam("case_id")).order_by(Task.created_at, Task.id)
_EVENTS = select(CaseEvent).where(CaseEvent.case_id == bindparam("case_id")).order_by(CaseEvent.id)
_LOANS = select(Loan).where(Loan.case_id == bindparam("case_id")).order_by(Loan.id)
_SANCTIONS = select(Sanction).where(Sanction.case_id == bindparam("case_id")).order_by(Sanction.id)


def case_view(session: Session, user: User, case_id: int) -> CaseView:
    case = get_case(session, user, case_id)
    by_case = {"case_id": case.id}
    tasks = list(session.scalars(_TASKS, by_case))
    events = list(session.scalars(_EVENTS, by_case))
    # the names in one statement: each event's and task's user object cost a lookup of its own
    ids = {e.actor_id for e in events} | {t.completed_by_id for t in tasks}
    ids.discard(None)
    people: dict[int, str] = {}
    if ids:
        for user_id, name in session.execute(select(User.id, User.display_name).where(User.id.in_(ids))):
            people[user_id] = name
    process = versions.process_spec(session, case)
    # a process's subject is its loans or the court's listing: one statement either way
    listing = session.get(CourtListing, case.id) if process.facts == "court_listing" else None
    return CaseView(
        case=case,
        loans=[] if process.facts == "court_listing" else list(session.scalars(_LOANS, by_case)),
        open_tasks=[t for t in tasks if t.status == "open"],
        done_tasks=[t for t in tasks if t.status != "open"],
        sanctions=list(session.scalars(_SANCTIONS, by_case)),
        events=events,
        people=people,
        process=process,
        listing=listing,
        linked=links.linked_cases(session, case.id),
    )


def notifications(session: Session, user: User, limit: int = 20) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.unit_code == user.unit_code)
            .order_by(Notification.created_at.desc())
            .limit(limit)
        )
    )


def mark_read(session: Session, user: User) -> None:
    session.execute(
        update(Notification)
        .where(Notification.unit_code == user.unit_code, Notification.read_at.is_(None))
        .values(read_at=now())
    )


def readable_attachment(session: Session, user: User, attachment_id: int) -> Attachment:
    """A file of a case ``user`` may see (``NotFound`` otherwise, as for the case itself); a
    letter only for its addressee, the office and auditors."""
    row = session.get(Attachment, attachment_id)
    if row is None or row.case_id is None:
        raise NotFound(_("File not found."))
    get_case(session, user, row.case_id)
    access.check_attachment(session, user, row)
    return row
