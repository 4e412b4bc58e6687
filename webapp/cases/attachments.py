"""Evidence files: stored outside the web root under generated names.

A file is written inside the step's transaction; ``transactions.atomic`` deletes the files
a failed transaction wrote, so no orphan is left on disk.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from flask import current_app, has_app_context
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from webapp.cases import history
from webapp.errors import Invalid
from webapp.models import Attachment, Case, User

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP = b"PK\x03\x04"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# the first bytes each accepted type must start with: a renamed program is refused
MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    # Office Open XML files are zip archives; the older binary formats OLE compound files
    DOCX: (ZIP,),
    XLSX: (ZIP,),
    "application/msword": (OLE,),
    "application/vnd.ms-excel": (OLE,),
}
ALLOWED_TYPES = {
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".docx": DOCX,
    ".xlsx": XLSX,
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
}
# shown in the page rather than downloaded
PREVIEWABLE = frozenset({"application/pdf", "image/jpeg", "image/png"})
_WRITTEN = "written_files"


@dataclass(frozen=True)
class Upload:
    stream: IO[bytes]
    filename: str
    field: str = "file"


def check(upload: Upload) -> str:
    """The content type of an acceptable file name (``Invalid`` otherwise)."""
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in ALLOWED_TYPES:
        message = _("Only PDF, JPEG, PNG and Office (Word, Excel) files are accepted.")
        raise Invalid(message, {upload.field: [message]})
    return ALLOWED_TYPES[suffix]


def store(
    session: Session,
    upload_dir: str,
    upload: Upload,
    user: User,
    case_id: int | None,
    max_bytes: int | None = None,
) -> Attachment:
    content_type = check(upload)
    if max_bytes is None and has_app_context():
        # every upload is held to the per-file limit, whichever form or route it came with
        max_bytes = current_app.config.get("ATTACHMENT_MAX_BYTES")
    content = upload.stream.read()
    if not content:
        message = _("The file is empty.")
        raise Invalid(message, {upload.field: [message]})
    if max_bytes is not None and len(content) > max_bytes:
        message = _(
            "%(name)s is larger than the limit of %(size)s.",
            name=Path(upload.filename).name,
            size=size_text(max_bytes),
        )
        raise Invalid(message, {upload.field: [message]})
    if not content.startswith(MAGIC[content_type]):
        message = _("The file's content is not what its name says.")
        raise Invalid(message, {upload.field: [message]})
    suffix = Path(upload.filename).suffix.lower()
    stored_name = secrets.token_hex(16) + suffix
    target = Path(upload_dir)
    target.mkdir(parents=True, exist_ok=True)
    path = target / stored_name
    path.write_bytes(content)
    track_written(session, path)
    attachment = Attachment(
        case_id=case_id,
        original_name=Path(upload.filename).name[:255],
        stored_name=stored_name,
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by_id=user.id,
    )
    session.add(attachment)
    session.flush()
    return attachment


def size_text(size: int) -> str:
    """A size in MB (KB below one MB), as limits are spoken of."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.3g} MB"
    return f"{size / 1024:.3g} KB"


def store_on_case(
    session: Session,
    upload_dir: str,
    upload: Upload | None,
    user: User,
    case: Case,
    max_bytes: int | None = None,
) -> Attachment | None:
    """Store a checked upload of the case (if any) and put its hash in the case's history."""
    if upload is None:
        return None
    attachment = store(session, upload_dir, upload, user, case.id, max_bytes)
    history.append(
        session,
        case,
        "attachment_added",
        user,
        attachment_id=attachment.id,
        name=attachment.original_name,
        sha256=attachment.sha256,
        size=attachment.size,
    )
    return attachment


def track_written(session: Session, path: Path) -> None:
    """A file written in this transaction, deleted again if the transaction rolls back."""
    session.info.setdefault(_WRITTEN, []).append(path)


def forget_written(session: Session, *, delete: bool) -> None:
    """After commit keep the files; after rollback delete them."""
    for path in session.info.pop(_WRITTEN, []):
        if delete:
            path.unlink(missing_ok=True)
