"""A case's comment thread (留言): the units taking part in a case and the group office write
to each other on the case itself.

A comment is an event of the case's history chain (``comment_added``), so it is hashed with
everything else and can never be edited or deleted: a correction is a new comment naming the
one it corrects (``corrects``, that comment's event id). A comment may carry one file, stored
by ``attachments.store_on_case`` (its hash goes into the chain too). ``@unit`` mentions, by
unit code (``@court``) or Chinese name (``@县人民法院``), notify that unit; only units that
can see the case may be mentioned, so a notification never tells an outsider about a case.

Who: caseworkers of the office and of the units taking part (``case_participants``) post;
everyone who sees the case (supervisors, auditors, the political-legal committee on a
referred case) reads.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from webapp.cases import attachments, history, steps
from webapp.cases.attachments import Upload
from webapp.errors import Forbidden, Invalid
from webapp.models import Case, CaseEvent, CaseParticipant, Notification, Unit, User

KIND = "comment_added"
NOTIFICATION = "mentioned"
OFFICE = "office"
MAX_TEXT = 4000
# how much of the comment a mention's notification quotes
EXCERPT = 80
# a unit code after "@" (codes are lower-case ASCII words: court, bank_icbc, ...)
_CODE = re.compile(r"@([a-z][a-z0-9_]*)")
# what precedes the "@" of an e-mail address (not a mention)
_ADDRESS_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")

_THREAD = (
    select(CaseEvent)
    .where(CaseEvent.case_id == bindparam("case_id"), CaseEvent.kind == KIND)
    .order_by(CaseEvent.seq)
)
_PARTICIPANTS = select(CaseParticipant.unit_code).where(CaseParticipant.case_id == bindparam("case_id"))


@dataclass(frozen=True)
class Comment:
    """One comment as the thread shows it; ``id`` is its event's id."""

    id: int
    seq: int
    author: str
    unit_code: str | None
    text: str
    mentions: list[str]
    corrects: int | None
    # the comments that correct this one, oldest first
    corrected_by: list[int]
    attachment_id: int | None
    file_name: str | None
    sha256: str | None
    created_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "author": self.author,
            "unit": self.unit_code,
            "text": self.text,
            "mentions": self.mentions,
            "corrects": self.corrects,
            "corrected_by": self.corrected_by,
            "attachment": (
                {"id": self.attachment_id, "name": self.file_name, "sha256": self.sha256}
                if self.attachment_id
                else None
            ),
            "created_at": self.created_at.isoformat(),
        }


def thread(session: Session, case_id: int) -> list[Comment]:
    """The case's comments, oldest first. A plain read: the caller has already checked that
    its user may see the case (``queries.get_case``)."""
    events = list(session.scalars(_THREAD, {"case_id": case_id}))
    ids = {e.actor_id for e in events if e.actor_id is not None}
    names: dict[int, str] = {}
    if ids:
        people = select(User.id, User.display_name).where(User.id.in_(ids))
        names = {user_id: name for user_id, name in session.execute(people)}
    corrected_by: dict[int, list[int]] = {}
    for e in events:
        target = (e.data or {}).get("corrects")
        if isinstance(target, int):
            corrected_by.setdefault(target, []).append(e.id)
    comments = []
    for e in events:
        data = e.data or {}
        comments.append(
            Comment(
                id=e.id,
                seq=e.seq,
                author=names.get(e.actor_id or 0, str(data.get("author", ""))),
                unit_code=e.unit_code,
                text=str(data.get("text", "")),
                mentions=list(data.get("mentions") or []),
                corrects=data.get("corrects"),
                corrected_by=corrected_by.get(e.id, []),
                attachment_id=data.get("attachment_id"),
                file_name=data.get("file_name"),
                sha256=data.get("sha256"),
                created_at=e.created_at,
            )
        )
    return comments


def taking_part(session: Session, case_id: int) -> set[str]:
    """The units that see the case because they take part in it, and the office."""
    return {*session.scalars(_PARTICIPANTS, {"case_id": case_id}), OFFICE}


def may_post(session: Session, user: User, case: Case) -> bool:
    """Caseworkers of the office or of a unit taking part in the case."""
    if not user.has_role("caseworker"):
        return False
    return user.unit_code in taking_part(session, case.id)


def mentioned_units(session: Session, text: str) -> list[str]:
    """The units a text mentions, by ``@code`` or ``@中文名称``, in the order they appear
    (each once). The "@" of an e-mail address, or before no unit, is plain text."""
    units = [(code, name) for code, name in session.execute(select(Unit.code, Unit.name_zh))]
    codes = {code for code, _name in units}
    # the longest name first: one unit's name may begin with another's
    names = sorted(((name, code) for code, name in units if name), key=lambda p: -len(p[0]))
    found: list[tuple[int, str]] = []
    for at in (m.start() for m in re.finditer("@", text)):
        if at > 0 and text[at - 1] in _ADDRESS_CHARS:
            continue  # the middle of an e-mail address
        rest = text[at + 1 :]
        match = _CODE.match(text, at)
        if match and match.group(1) in codes:
            found.append((at, match.group(1)))
            continue
        for name, code in names:
            if rest.startswith(name):
                found.append((at, code))
                break
    seen: list[str] = []
    for _at, code in sorted(found):
        if code not in seen:
            seen.append(code)
    return seen


def _parse_corrects(
    session: Session, user: User, case: Case, value: object, errors: dict[str, list[str]]
) -> int | None:
    """The id of an earlier comment of the same case, or None when none is named."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    earlier = None
    if number is not None and number < 2**63:
        earlier = session.get(CaseEvent, number)
    if earlier is None or earlier.case_id != case.id or earlier.kind != KIND:
        errors.setdefault("corrects", []).append(_("Not a comment of this case."))
        return None
    if earlier.unit_code != user.unit_code:
        # a correction says "we wrote this wrongly": another unit answers with a comment of its own
        errors.setdefault("corrects", []).append(_("Only your own unit's comments can be corrected."))
        return None
    return number


def post_comment(
    session: Session,
    user: User,
    case: Case,
    text: object,
    corrects: object = None,
    upload: Upload | None = None,
    upload_dir: str = "",
) -> CaseEvent:
    """Add a comment to the case's thread and notify the units it mentions. Every check comes
    before anything is written; the caller's transaction commits it all or nothing."""
    # who may post comes before what was posted
    if not may_post(session, user, case):
        raise Forbidden(
            _("Only caseworkers of the office and of the units taking part in the case comment on it.")
        )
    errors: dict[str, list[str]] = {}
    body = str(text or "").strip() if isinstance(text, str | None) else ""
    if not body:
        errors.setdefault("text", []).append(_("Write the comment's text."))
    elif len(body) > MAX_TEXT:
        errors.setdefault("text", []).append(_("At most %(n)s characters.", n=MAX_TEXT))
    target = _parse_corrects(session, user, case, corrects, errors)
    mentions = mentioned_units(session, body)
    visible = taking_part(session, case.id)
    outsiders = [code for code in mentions if code not in visible]
    if outsiders:
        named = select(Unit.code, Unit.name_zh).where(Unit.code.in_(outsiders))
        names = {code: name for code, name in session.execute(named)}
        errors.setdefault("text", []).append(
            _(
                "Only units taking part in the case can be mentioned; not: %(units)s",
                units="、".join(names.get(code, code) for code in outsiders),
            )
        )
    if upload is not None:
        try:
            attachments.check(upload)
        except Invalid as err:
            for field, messages in err.fields.items():
                errors.setdefault(field, []).extend(messages)
    if errors:
        first = next(iter(errors.values()))[0]
        raise Invalid(first, errors)
    # one writer per case chain at a time (PostgreSQL: the row lock; SQLite: its write lock)
    case = steps.lock_case(session, case.id)
    attachment = attachments.store_on_case(session, upload_dir, upload, user, case)
    event = history.append(
        session,
        case,
        KIND,
        user,
        author=user.display_name,
        unit=user.unit_code,
        text=body,
        mentions=mentions,
        corrects=target,
        attachment_id=attachment.id if attachment else None,
        file_name=attachment.original_name if attachment else None,
        sha256=attachment.sha256 if attachment else None,
    )
    session.flush()
    excerpt = body if len(body) <= EXCERPT else body[: EXCERPT - 1] + "…"
    for code in mentions:
        if code == user.unit_code:
            continue  # the author's own unit is not told of its own comment
        session.add(
            Notification(
                unit_code=code,
                case_id=case.id,
                kind=NOTIFICATION,
                params={
                    "by": user.display_name,
                    "by_unit": user.unit_code,
                    "excerpt": excerpt,
                    "comment_id": event.id,
                },
            )
        )
    session.flush()
    return event
