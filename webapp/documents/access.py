"""Who reads a generated letter: it names the debtor's identifier in full, so besides the
office and auditors (who see every case) only the unit it is addressed to."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from webapp.errors import NotFound
from webapp.models import Attachment, Document, User


def may_read(user: User, document: Document) -> bool:
    return user.sees_all_cases or user.unit_code == document.unit_code


def check_attachment(session: Session, user: User, attachment: Attachment) -> None:
    """``NotFound`` when the file is a letter the user may not read (as for a case out of
    sight: its existence is not confirmed)."""
    if user.sees_all_cases:
        return
    document = session.scalar(
        select(Document).where(
            or_(Document.docx_attachment_id == attachment.id, Document.pdf_attachment_id == attachment.id)
        )
    )
    if document is not None and not may_read(user, document):
        raise NotFound(_("File not found."))
