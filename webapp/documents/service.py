"""Generating a letter on a case, and the case's letters as the page and the API list them.

A letter is generated in one transaction: the case locked, the kind checked against the
case as it stands (after the lock), the number taken, the DOCX (and PDF) rendered, stored
as attachments of the case (their SHA-256 in its history chain), the letter's row and a
``document_generated`` event written. Anything refused writes nothing.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.cases import attachments, history, steps
from webapp.cases.attachments import Upload
from webapp.clock import now
from webapp.documents import access, kinds, numbering, render
from webapp.errors import Forbidden, Invalid
from webapp.models import Attachment, Case, Document, Notification, Unit, User

EVENT = "document_generated"
NOTIFICATION = "document_received"
OFFICE = "office"


def may_generate(user: User) -> bool:
    """The office's caseworkers (and its supervisors, who send supervision letters)."""
    return user.unit_code == OFFICE and (user.has_role("caseworker") or user.has_role("supervisor"))


@dataclass(frozen=True)
class Letter:
    """A generated letter as the case page and the API show it."""

    id: int
    kind: str
    title: str
    title_en: str
    number: str
    unit_code: str
    created_at: dt.datetime
    docx: Attachment
    pdf: Attachment | None

    def as_json(self, links: dict[str, str | None]) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "number": self.number,
            "unit": self.unit_code,
            "created_at": self.created_at.isoformat(),
            "docx": {"url": links["docx"], "sha256": self.docx.sha256},
            "pdf": {"url": links["pdf"], "sha256": self.pdf.sha256} if self.pdf else None,
        }


def generate(
    session: Session, user: User, case: Case, kind_code: object, unit_code: object, upload_dir: str
) -> Letter:
    if not may_generate(user):
        raise Forbidden(_("Only the office's caseworkers generate official letters."))
    known = kinds.all_kinds()
    if not isinstance(kind_code, str) or kind_code not in known:
        message = _("Choose a kind of letter.")
        raise Invalid(message, {"kind": [message]})
    kind = known[kind_code]
    # checked on the case as it stands under the lock: a step completed meanwhile counts
    case = steps.lock_case(session, case.id)
    found = {a.unit_code: a for a in kinds.addressees(session, case, kind)}
    if not found:
        message = _("A %(kind)s does not apply to the case as it stands.", kind=kind.title)
        raise Invalid(message, {"kind": [message]})
    if not isinstance(unit_code, str) or unit_code not in found:
        names = {code: name for code, name in session.execute(select(Unit.code, Unit.name_zh))}
        message = _(
            "This letter can only be addressed to: %(units)s",
            units="、".join(names.get(code, code) for code in found),
        )
        raise Invalid(message, {"unit": [message]})
    day = kinds.local_date(now())
    seq = numbering.next_number(session, kind.code, day.year)
    number = kind.number(day.year, seq)
    content = render.docx(kind, render.context(session, case, kind, found[unit_code], number, day))
    printed = render.pdf(content)
    stem = f"{kind.title}-{number}-{unit_code}"
    outputs = [(content, "docx")] + ([(printed, "pdf")] if printed is not None else [])
    stored = [
        attachments.store_on_case(
            session, upload_dir, Upload(io.BytesIO(data), f"{stem}.{suffix}"), user, case
        )
        for data, suffix in outputs
    ]
    files = [a for a in stored if a is not None]
    document = Document(
        case_id=case.id,
        kind=kind.code,
        year=day.year,
        seq=seq,
        number=number,
        unit_code=unit_code,
        docx_attachment_id=files[0].id,
        pdf_attachment_id=files[1].id if len(files) > 1 else None,
        created_by_id=user.id,
    )
    session.add(document)
    session.flush()
    history.append(
        session,
        case,
        EVENT,
        user,
        document_id=document.id,
        document_kind=kind.code,
        number=number,
        unit=unit_code,
        attachment_ids=[a.id for a in files],
        sha256=[a.sha256 for a in files],
    )
    # the addressee hears of it (and by e-mail, as its users chose)
    session.add(
        Notification(
            unit_code=unit_code,
            case_id=case.id,
            kind=NOTIFICATION,
            params={
                "title": kind.title,
                "title_en": kind.title_en,
                "number": number,
                "document_id": document.id,
            },
        )
    )
    session.flush()
    return _letter(document, {a.id: a for a in files})


def letters(session: Session, user: User, case: Case) -> list[Letter]:
    """The case's letters the user may read, oldest first. A plain read: the caller has
    checked that the user sees the case."""
    stmt = select(Document).where(Document.case_id == case.id).order_by(Document.id)
    rows = [d for d in session.scalars(stmt) if access.may_read(user, d)]
    ids = {d.docx_attachment_id for d in rows} | {d.pdf_attachment_id for d in rows if d.pdf_attachment_id}
    files = (
        {a.id: a for a in session.scalars(select(Attachment).where(Attachment.id.in_(ids)))} if ids else {}
    )
    return [_letter(d, files) for d in rows]


def _letter(document: Document, files: dict[int, Attachment]) -> Letter:
    kind = kinds.all_kinds().get(document.kind)
    return Letter(
        id=document.id,
        kind=document.kind,
        title=kind.title if kind else document.kind,
        title_en=kind.title_en if kind else document.kind,
        number=document.number,
        unit_code=document.unit_code,
        created_at=document.created_at,
        docx=files[document.docx_attachment_id],
        pdf=files.get(document.pdf_attachment_id) if document.pdf_attachment_id else None,
    )
