"""Campaign summary rounds (工作总结, seed 000 §四(三)): the office asks the member units for a
written summary of a period, each unit submits its own once, the office compiles them with the
period's figures into one numbered document.

A round is not a debtor's case and does not run in the engine: it is two tables
(``summary_rounds``, one ``summary_requests`` row per unit asked). Its history is kept in the
units' own hash chains (``history.unit_event``): the office's chain records the opening and the
compilation, each unit's chain its submission (with the SHA-256 of its text and file).

Who does what:

- the office's caseworkers and supervisors open and compile rounds (``may_open``);
- they and auditors read every round, every text and file (``may_read``);
- a unit's caseworkers and supervisors submit their own unit's summary, and read it back;
- anyone else is refused (403), and a unit never learns of a round it is not asked in (404).

A submitted summary is final: a second submission is refused (409), as is one after the
round was compiled (the compilation closes the round). Days are local (China) days; a summary
is late when it came after its due day, or has not come and the due day has passed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from flask_babel import gettext as _
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from webapp import catalog
from webapp.cases import attachments, history
from webapp.catalog import DATA
from webapp.clock import now
from webapp.deadlines.calendar import LOCAL, local_today
from webapp.errors import Conflict, Forbidden, Invalid, NotFound
from webapp.models import Attachment, Notification, SummaryRequest, SummaryRound, Unit, User

OFFICE = "office"
WRITERS = frozenset({"caseworker", "supervisor"})
NUMBER_KIND = "summary"
MAX_TITLE = 200
# the accepted files of a summary: documents, not pictures
FILE_SUFFIXES = (".pdf", ".doc", ".docx", ".xls", ".xlsx")


@dataclass(frozen=True)
class Settings:
    member_kinds: tuple[str, ...]
    min_text: int
    max_text: int
    default_due_days: int
    number_prefix: str


@cache
def _settings(path: str) -> Settings:
    with Path(path).open("rb") as fh:
        data = tomllib.load(fh)
    return Settings(
        member_kinds=tuple(data["member_kinds"]),
        min_text=int(data["min_text"]),
        max_text=int(data["max_text"]),
        default_due_days=int(data["default_due_days"]),
        number_prefix=str(data["number_prefix"]),
    )


def settings() -> Settings:
    """``webapp/data/summaries.toml``."""
    return _settings(str(DATA / "summaries.toml"))


def _run(session: Session, statement: Any) -> int:
    """Rows an UPDATE matched."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


# --- who may do what -------------------------------------------------------------------------


def may_open(user: User) -> bool:
    """The office's caseworkers and supervisors open and compile rounds."""
    return user.unit_code == OFFICE and bool(user.role_set & WRITERS)


def may_read(user: User) -> bool:
    """Every round, every text: the office's caseworkers and supervisors, and auditors."""
    return may_open(user) or user.has_role("auditor")


def may_submit(user: User) -> bool:
    """A unit's caseworkers and supervisors submit its summary (where the unit is asked)."""
    return bool(user.role_set & WRITERS)


def require_opener(user: User) -> None:
    if not may_open(user):
        raise Forbidden(_("Only the office's caseworkers and supervisors open and compile summary rounds."))


def require_reader(user: User) -> None:
    if not may_read(user):
        raise Forbidden(_("Only the office and auditors read summary rounds."))


def require_submitter(user: User) -> None:
    if not may_submit(user):
        raise Forbidden(_("Only a unit's caseworkers and supervisors submit its summary."))


# --- reading ---------------------------------------------------------------------------------


def is_late(row: SummaryRequest, due: dt.date, today: dt.date | None = None) -> bool:
    """Submitted after the due day, or not yet and the due day is past."""
    if row.submitted_at is not None:
        return row.submitted_at.astimezone(LOCAL).date() > due
    return (today or local_today()) > due


def days_left(due: dt.date, today: dt.date | None = None) -> int:
    """Days until the due day (0 on it, negative once it passed)."""
    return (due - (today or local_today())).days


def get_round(session: Session, round_id: int) -> SummaryRound:
    found = session.get(SummaryRound, round_id)
    if found is None:
        raise NotFound(_("No such summary round."))
    return found


def rounds(session: Session, limit: int, offset: int) -> list[tuple[SummaryRound, int, int]]:
    """Rounds, newest first, each with how many units were asked and how many submitted."""
    asked = func.count(SummaryRequest.id)
    submitted = func.count(SummaryRequest.submitted_at)
    rows = session.execute(
        select(SummaryRound, asked, submitted)
        .join(SummaryRequest, SummaryRequest.round_id == SummaryRound.id)
        .group_by(SummaryRound.id)
        .order_by(SummaryRound.opened_at.desc(), SummaryRound.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [(r, int(a), int(s)) for r, a, s in rows]


def unit_order() -> dict[str, int]:
    """Each unit's place in the units' list (``units.toml``); units added by an administrator
    come after, by code."""
    return {spec.code: n for n, spec in enumerate(catalog.current().units)}


def _in_list_order(codes: dict[str, Any]) -> list[Any]:
    order = unit_order()
    return [codes[c] for c in sorted(codes, key=lambda c: (order.get(c, len(order)), c))]


def requests_of(session: Session, summary_round: SummaryRound) -> list[SummaryRequest]:
    """The round's units asked, in the order of the units' list."""
    rows = session.scalars(select(SummaryRequest).where(SummaryRequest.round_id == summary_round.id))
    return _in_list_order({r.unit_code: r for r in rows})


def unit_requests(
    session: Session, unit_code: str, *, open_only: bool
) -> list[tuple[SummaryRequest, SummaryRound]]:
    """A unit's requests with their rounds: the open ones (not submitted, round not compiled),
    soonest due first, for the inbox; or all of them, newest round first."""
    query = (
        select(SummaryRequest, SummaryRound)
        .join(SummaryRound, SummaryRound.id == SummaryRequest.round_id)
        .where(SummaryRequest.unit_code == unit_code)
    )
    if open_only:
        query = query.where(SummaryRequest.submitted_at.is_(None), SummaryRound.closed_at.is_(None)).order_by(
            SummaryRound.due_date, SummaryRound.id
        )
    else:
        query = query.order_by(SummaryRound.opened_at.desc(), SummaryRound.id.desc()).limit(200)
    return [(req, rnd) for req, rnd in session.execute(query)]


def open_requests_for(session: Session, user: User) -> list[tuple[SummaryRequest, SummaryRound]]:
    """What the user's inbox shows above its tasks: its unit's summaries still to submit."""
    if not may_submit(user):
        return []
    return unit_requests(session, user.unit_code, open_only=True)


def request_for(session: Session, user: User, round_id: int) -> tuple[SummaryRequest, SummaryRound]:
    """The user's unit's request in the round; a round the unit is not asked in is not found."""
    require_submitter(user)
    row = session.execute(
        select(SummaryRequest, SummaryRound)
        .join(SummaryRound, SummaryRound.id == SummaryRequest.round_id)
        .where(SummaryRequest.round_id == round_id, SummaryRequest.unit_code == user.unit_code)
    ).one_or_none()
    if row is None:
        raise NotFound(_("No such summary round."))
    return row[0], row[1]


def readable_file(session: Session, user: User, request_id: int) -> Attachment:
    """A submitted summary's file: for the office and auditors, and the unit that sent it
    (anyone else is told it does not exist)."""
    row = session.get(SummaryRequest, request_id)
    if row is None or row.attachment_id is None:
        raise NotFound(_("File not found."))
    if not (may_read(user) or (may_submit(user) and user.unit_code == row.unit_code)):
        raise NotFound(_("File not found."))
    attachment = session.get(Attachment, row.attachment_id)
    if attachment is None:
        raise NotFound(_("File not found."))
    return attachment


def compiled_file(session: Session, user: User, round_id: int, pdf: bool) -> Attachment:
    require_reader(user)
    summary_round = get_round(session, round_id)
    attachment_id = summary_round.pdf_attachment_id if pdf else summary_round.docx_attachment_id
    attachment = session.get(Attachment, attachment_id) if attachment_id else None
    if attachment is None:
        raise NotFound(_("The round has not been compiled into this format."))
    return attachment


def member_units(session: Session) -> list[Unit]:
    """Every unit a round asks by default (the kinds of ``summaries.toml``), in list order."""
    kinds = settings().member_kinds
    return [u for u in askable_units(session) if u.kind in kinds]


def askable_units(session: Session) -> list[Unit]:
    """Units the office may ask: every unit but itself, in list order."""
    return _in_list_order({u.code: u for u in session.scalars(select(Unit).where(Unit.code != OFFICE))})


# --- opening ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundForm:
    """What the office typed: strings, checked by ``parse``."""

    title: str
    start: str
    end: str
    due: str
    units: list[str]


@dataclass(frozen=True)
class ParsedRound:
    title: str
    start: dt.date
    end: dt.date
    due: dt.date
    units: list[str]


def _date(value: str, field: str, errors: dict[str, list[str]]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        errors[field] = [_("A date is required.")]
        return None


def parse(session: Session, form: RoundForm) -> ParsedRound:
    """The round's title, period, due day and units, or ``Invalid`` naming each wrong field."""
    errors: dict[str, list[str]] = {}
    title = " ".join(form.title.split())
    if not title:
        errors["title"] = [_("Give the round a title.")]
    elif len(title) > MAX_TITLE:
        errors["title"] = [_("At most %(n)s characters.", n=MAX_TITLE)]
    start = _date(form.start, "start", errors)
    end = _date(form.end, "end", errors)
    due = _date(form.due, "due", errors)
    if start and end and end < start:
        errors["end"] = [_("The period ends before it starts.")]
    if due and due < local_today():
        errors["due"] = [_("The due date is in the past.")]
    known = {u.code for u in askable_units(session)}
    units = list(dict.fromkeys(form.units))
    if not units:
        errors["units"] = [_("Choose at least one unit.")]
    elif set(units) - known:
        errors["units"] = [_("Unknown unit: %(codes)s", codes=", ".join(sorted(set(units) - known)))]
    if errors or start is None or end is None or due is None:  # a None date is an error too
        raise Invalid(_("The round was not opened: correct the fields marked below."), errors)
    return ParsedRound(title, start, end, due, units)


def open_round(session: Session, user: User, parsed: ParsedRound) -> SummaryRound:
    """Open the round, ask each unit (a request row and a notification) and record it in the
    office's chain."""
    require_opener(user)
    summary_round = SummaryRound(
        title=parsed.title,
        period_start=parsed.start,
        period_end=parsed.end,
        due_date=parsed.due,
        opened_by_id=user.id,
        opened_at=now(),
    )
    session.add(summary_round)
    session.flush()
    for unit in parsed.units:
        session.add(SummaryRequest(round_id=summary_round.id, unit_code=unit))
        session.add(
            Notification(
                unit_code=unit,
                kind="summary_requested",
                dedupe_key=f"summary:{summary_round.id}:{unit}",
                params={"round_id": summary_round.id, "title": parsed.title, "due": parsed.due.isoformat()},
            )
        )
    history.unit_event(
        session,
        OFFICE,
        "summary_round_opened",
        user,
        round=summary_round.id,
        title=parsed.title,
        start=parsed.start.isoformat(),
        end=parsed.end.isoformat(),
        due=parsed.due.isoformat(),
        units=parsed.units,
    )
    session.flush()
    return summary_round


# --- submitting ------------------------------------------------------------------------------


def check_text(text: str) -> str:
    text = text.replace("\r\n", "\n").strip()
    limits = settings()
    if len(text) < limits.min_text:
        message = _("Write at least %(n)s characters.", n=limits.min_text)
        raise Invalid(message, {"text": [message]})
    if len(text) > limits.max_text:
        message = _("At most %(n)s characters.", n=limits.max_text)
        raise Invalid(message, {"text": [message]})
    return text


def check_file(upload: attachments.Upload) -> None:
    """A summary's file is a document: PDF, Word or Excel (its content is checked on storing)."""
    if Path(upload.filename).suffix.lower() not in FILE_SUFFIXES:
        message = _("Only PDF, Word and Excel files are accepted.")
        raise Invalid(message, {upload.field: [message]})


def submit(
    session: Session,
    user: User,
    round_id: int,
    text: str,
    upload: attachments.Upload | None,
    upload_dir: str,
) -> SummaryRequest:
    """The unit's summary, once: text (checked), an optional file (type by name and content),
    an event in the unit's chain; the office is told when the last unit asked has submitted."""
    row, summary_round = request_for(session, user, round_id)
    if summary_round.closed_at is not None or not _hold_open(session, summary_round):
        raise Conflict(_("The round was compiled: summaries are no longer taken."))
    if row.submitted_at is not None:
        raise Conflict(_("Your unit's summary was submitted already; it cannot be changed."))
    text = check_text(text)
    if upload is not None:
        check_file(upload)
    stored = attachments.store(session, upload_dir, upload, user, None) if upload is not None else None
    at = now()
    # conditional: of two submissions at once, one lands and the other is refused
    done = _run(
        session,
        update(SummaryRequest)
        .where(SummaryRequest.id == row.id, SummaryRequest.submitted_at.is_(None))
        .values(
            text=text,
            attachment_id=stored.id if stored else None,
            submitted_by_id=user.id,
            submitted_at=at,
        )
        .execution_options(synchronize_session=False),
    )
    if done != 1:
        raise Conflict(_("Your unit's summary was submitted already; it cannot be changed."))
    session.refresh(row)
    file_data: dict[str, Any] = (
        {
            "attachment_id": stored.id,
            "name": stored.original_name,
            "sha256": stored.sha256,
            "size": stored.size,
        }
        if stored
        else {}
    )
    history.unit_event(
        session,
        row.unit_code,
        "summary_submitted",
        user,
        round=summary_round.id,
        title=summary_round.title,
        text_sha256=hashlib.sha256(text.encode()).hexdigest(),
        length=len(text),
        late=is_late(row, summary_round.due_date),
        **file_data,
    )
    waiting = session.scalar(
        select(func.count(SummaryRequest.id)).where(
            SummaryRequest.round_id == summary_round.id, SummaryRequest.submitted_at.is_(None)
        )
    )
    if not waiting:
        session.add(
            Notification(
                unit_code=OFFICE,
                kind="summary_all_submitted",
                dedupe_key=f"summary:{summary_round.id}:all",
                params={"round_id": summary_round.id, "title": summary_round.title},
            )
        )
    session.flush()
    return row


# --- compiling -------------------------------------------------------------------------------


def _hold_open(session: Session, summary_round: SummaryRound) -> bool:
    """Whether the round is still open, holding its row until the transaction ends: a
    compilation (``close``) waits for the submission to commit and then reads it, or the
    submission waits for the compilation and finds the round closed. (An UPDATE that changes
    nothing: it locks the row on PostgreSQL and takes SQLite's write lock.)"""
    held = _run(
        session,
        update(SummaryRound)
        .where(SummaryRound.id == summary_round.id, SummaryRound.closed_at.is_(None))
        .values(closed_at=None)
        .execution_options(synchronize_session=False),
    )
    return held == 1


def close(session: Session, summary_round: SummaryRound, user: User) -> None:
    """Close the round for the compilation (conditional: it is compiled once)."""
    done = _run(
        session,
        update(SummaryRound)
        .where(SummaryRound.id == summary_round.id, SummaryRound.closed_at.is_(None))
        .values(closed_at=now(), compiled_by_id=user.id)
        .execution_options(synchronize_session=False),
    )
    if done != 1:
        raise Conflict(_("The round was compiled already."))
    session.refresh(summary_round)
