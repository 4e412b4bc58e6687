"""Composing, numbering and keeping bulletins, and telling the units they name.

A bulletin is a snapshot: its figures (``webapp.stats.figures``), the units with overdue tasks
ranked, the cases stalled longest and the typical cases the office chose are stored with it
as JSON when it is made, so it reads the same later however the cases move on. Periods are
local (Asia/Shanghai) weeks from Monday, months and quarters. Numbers are the office's yearly
running numbers (``webapp.documents.numbering``, kind "bulletin"), e.g. 联动通〔2026〕5号.

Who reads them: every logged-in user (a bulletin is circulated to all member units, as a
通报 on paper is); the office's caseworkers and supervisors make them (``may_generate``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from webapp.cases.visibility import SHOWN
from webapp.clock import now
from webapp.deadlines.calendar import LOCAL
from webapp.documents.numbering import next_number
from webapp.errors import Forbidden, Invalid, NotFound
from webapp.models import Bulletin, Case, Notification, Task, User
from webapp.models.bulletins import MONTHLY, QUARTERLY, WEEKLY
from webapp.models.cases import OPEN as CASE_OPEN
from webapp.models.tasks import OPEN
from webapp.stats.figures import figures, hidden_cases

OFFICE = "office"
PREFIX = "联动通"
NUMBER_KIND = "bulletin"
PERIODIC = (WEEKLY, MONTHLY, QUARTERLY)
LAGGING_LIMIT = 30  # units listed as lagging at most
STALLED_LIMIT = 10  # cases stalled longest listed
TYPICAL_LIMIT = 10  # typical cases the office may choose
# the scalar figures a bulletin shows, in this order
FIGURES = (
    "reported",
    "confirmed",
    "rejected",
    "interviews",
    "deadlines_expired",
    "sanctioned",
    "referrals",
    "referral_answers",
    "settled",
    "delisted",
    "amount_reported",
    "amount_recovered",
    "amount_outstanding",
)


def may_generate(user: User) -> bool:
    """The office's caseworkers and supervisors make bulletins (auditors and admins read)."""
    return user.unit_code == OFFICE and bool(user.role_set & {"caseworker", "supervisor"})


def require_generator(user: User) -> None:
    if not may_generate(user):
        raise Forbidden(_("Only the office's caseworkers and supervisors make bulletins."))


def period_of(kind: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The local dates (first, last) of the week, month or quarter holding ``day``."""
    if kind == WEEKLY:
        first = day - dt.timedelta(days=day.weekday())
        return first, first + dt.timedelta(days=6)
    if kind == MONTHLY:
        first = day.replace(day=1)
    elif kind == QUARTERLY:
        first = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    else:
        raise ValueError(f"not a periodic bulletin: {kind!r}")
    months = 1 if kind == MONTHLY else 3
    following = dt.date(first.year + (first.month - 1 + months) // 12, (first.month - 1 + months) % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)


def last_ended(kind: str, at: dt.datetime) -> tuple[dt.date, dt.date]:
    """The latest period of the kind that has ended at ``at`` (local time)."""
    current_first, _last = period_of(kind, at.astimezone(LOCAL).date())
    return period_of(kind, current_first - dt.timedelta(days=1))


def local_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=LOCAL).astimezone(dt.UTC)


def lagging_units(session: Session, end: dt.datetime, limit: int = LAGGING_LIMIT) -> list[dict[str, Any]]:
    """Units with open tasks due before ``end``, most overdue first, then the oldest due."""
    count = func.count()
    oldest = func.min(Task.due_at)
    # the cases in sight by id, not by a join of each task (a hundred thousand) to its case;
    # with none hidden (almost always) the index on (status, due_at, unit) answers alone
    hidden = hidden_cases(session)
    in_sight = Task.case_id.not_in(hidden) if not isinstance(hidden, list) or hidden else true()
    rows = session.execute(
        select(Task.unit_code, count, oldest)
        .where(Task.status == OPEN, Task.due_at < end, in_sight)
        .group_by(Task.unit_code)
        .order_by(count.desc(), oldest, Task.unit_code)
        .limit(limit)
    )
    return [
        {
            "unit": unit,
            "overdue": int(n),
            "oldest_due": due.astimezone(LOCAL).date().isoformat(),
            "days": (end.astimezone(LOCAL).date() - due.astimezone(LOCAL).date()).days,
        }
        for unit, n, due in rows
        if due is not None  # due_at < end holds only for a due date
    ]


def stalled_cases(session: Session, at: dt.datetime, limit: int = STALLED_LIMIT) -> list[dict[str, Any]]:
    """Open cases by the time since their last step (``cases.updated_at``), longest first."""
    rows = session.execute(
        select(Case.id, Case.debtor_name, Case.stage, Case.updated_at)
        .where(Case.status == CASE_OPEN, SHOWN)
        .order_by(Case.updated_at, Case.id)
        .limit(limit)
    )
    return [
        {
            "case_id": case_id,
            "debtor": name,
            "stage": stage,
            "last_step": updated.astimezone(LOCAL).date().isoformat(),
            "days": (at.astimezone(LOCAL).date() - updated.astimezone(LOCAL).date()).days,
        }
        for case_id, name, stage, updated in rows
    ]


def typical_cases(session: Session, case_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The chosen cases, in the order chosen; an unknown id is refused."""
    ids = list(dict.fromkeys(case_ids))
    if len(ids) > TYPICAL_LIMIT:
        raise Invalid(_("Choose at most %(n)s typical cases.", n=TYPICAL_LIMIT))
    rows = {
        row.id: row
        for row in session.execute(
            select(Case.id, Case.debtor_name, Case.stage, Case.status).where(Case.id.in_(ids), SHOWN)
        )
    }
    missing = [i for i in ids if i not in rows]
    if missing:
        raise Invalid(_("No such case: %(ids)s", ids=", ".join(f"#{i}" for i in missing)))
    return [
        {"case_id": i, "debtor": rows[i].debtor_name, "stage": rows[i].stage, "status": rows[i].status}
        for i in ids
    ]


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def figures_snapshot(session: Session, first: dt.date, last: dt.date, at: dt.datetime) -> dict[str, Any]:
    found = figures(session, first, last, today=at)
    snapshot: dict[str, Any] = {name: _plain(getattr(found, name)) for name in FIGURES}
    snapshot["measures"] = [
        {"unit": m.unit_code, "cases": m.cases, "measures": m.measures} for m in found.measures
    ]
    return snapshot


def compose(
    session: Session, first: dt.date, last: dt.date, at: dt.datetime, typical: Iterable[int] = ()
) -> dict[str, Any]:
    """What a bulletin of the local days ``first`` to ``last`` says, made at ``at``."""
    end = min(local_start(last + dt.timedelta(days=1)), at)
    return {
        "figures": figures_snapshot(session, first, last, at),
        "lagging": lagging_units(session, end),
        "stalled": stalled_cases(session, at),
        "typical": typical_cases(session, typical),
    }


def create(
    session: Session,
    kind: str,
    first: dt.date,
    last: dt.date,
    *,
    at: dt.datetime | None = None,
    user: User | None = None,
    typical: Iterable[int] = (),
) -> Bulletin:
    """Make, number and keep a bulletin, and tell the office and the lagging units (inside the
    caller's transaction: a bulletin that fails gives its number back)."""
    at = at or now()
    if last < first:
        raise Invalid(_("The period ends before it starts."))
    content = compose(session, first, last, at, typical)
    year = at.astimezone(LOCAL).year
    seq = next_number(session, NUMBER_KIND, year)
    bulletin = Bulletin(
        kind=kind,
        period_key=f"{kind}:{first.isoformat()}" if kind in PERIODIC else None,
        period_start=local_start(first),
        period_end=local_start(last + dt.timedelta(days=1)),
        year=year,
        seq=seq,
        number=f"{PREFIX}〔{year}〕{seq}号",
        created_at=at,
        created_by_id=user.id if user else None,
        typical_case_ids=[t["case_id"] for t in content["typical"]],
        content=content,
    )
    session.add(bulletin)
    session.flush()
    params = {
        "bulletin_id": bulletin.id,
        "number": bulletin.number,
        "kind": kind,
        "start": first.isoformat(),
        "end": last.isoformat(),
    }
    told = dict.fromkeys([OFFICE, *(row["unit"] for row in content["lagging"])])
    for unit in told:
        lagging = next((row for row in content["lagging"] if row["unit"] == unit), None)
        session.add(
            Notification(
                unit_code=unit,
                kind="bulletin",
                dedupe_key=f"bulletin:{bulletin.id}:{unit}",
                params={**params, "overdue": lagging["overdue"] if lagging else 0},
            )
        )
    session.flush()
    return bulletin


def due_periods(session: Session, at: dt.datetime) -> list[tuple[str, dt.date, dt.date]]:
    """The periodic bulletins due at ``at`` and not made yet: the latest ended week, month and
    quarter (after downtime the latest only: the office makes older ones on demand)."""
    wanted = {f"{kind}:{last_ended(kind, at)[0].isoformat()}": kind for kind in PERIODIC}
    made = set(session.scalars(select(Bulletin.period_key).where(Bulletin.period_key.in_(list(wanted)))))
    return [(kind, *last_ended(kind, at)) for key, kind in wanted.items() if key not in made]


def get(session: Session, bulletin_id: int) -> Bulletin:
    bulletin = session.get(Bulletin, bulletin_id)
    if bulletin is None:
        raise NotFound(_("No such bulletin."))
    return bulletin


def listing(session: Session, limit: int, offset: int) -> list[Bulletin]:
    return list(
        session.scalars(
            select(Bulletin)
            .order_by(Bulletin.created_at.desc(), Bulletin.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def last_day(bulletin: Bulletin) -> dt.date:
    return (bulletin.period_end.astimezone(LOCAL) - dt.timedelta(days=1)).date()


def first_day(bulletin: Bulletin) -> dt.date:
    return bulletin.period_start.astimezone(LOCAL).date()
