"""Evidence files: stored outside the web root under generated names."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import IO

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from webapp.errors import Invalid
from webapp.models import Attachment, User

ALLOWED_TYPES = {
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}


def store(
    session: Session,
    upload_dir: str,
    stream: IO[bytes],
    filename: str,
    user: User,
    case_id: int | None,
    field: str = "file",
) -> Attachment:
    suffix = Path(filename).suffix.lower()
    if suffix not in ALLOWED_TYPES:
        message = _("Only PDF, JPEG and PNG files are accepted.")
        raise Invalid(message, {field: [message]})
    content = stream.read()
    if not content:
        message = _("The file is empty.")
        raise Invalid(message, {field: [message]})
    stored_name = secrets.token_hex(16) + suffix
    target = Path(upload_dir)
    target.mkdir(parents=True, exist_ok=True)
    (target / stored_name).write_bytes(content)
    attachment = Attachment(
        case_id=case_id,
        original_name=Path(filename).name[:255],
        stored_name=stored_name,
        content_type=ALLOWED_TYPES[suffix],
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by_id=user.id,
    )
    session.add(attachment)
    session.flush()
    return attachment
