"""File fields of a form (``x-widget: files``): evidence uploaded with a task.

The field's value in the submitted data is the list of the files stored, each
``{"id", "name", "size", "sha256"}``, so the task page and the replay read them from the
history itself; each file's hash also goes into the case's history chain when it is stored
(``attachments.store_on_case``). Such values are only ever made here, from uploads: data that
names files itself is refused, so nobody points a task at another case's file.

Files are written inside the step's transaction: a refused step (a wrong file, a missing
field) leaves none on disk (``transactions.atomic``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from webapp.cases import attachments
from webapp.cases.attachments import Upload
from webapp.errors import Invalid
from webapp.models import Attachment, Case, User
from webapp.taskforms.keywords import FILES
from webapp.taskforms.schemas import FormSchema


def file_fields(form: FormSchema | None) -> list[str]:
    """The names of the form's file fields, in the form's order."""
    if form is None:
        return []
    return [name for name, prop in form.properties.items() if prop.get("x-widget") == FILES]


def entry(attachment: Attachment) -> dict[str, Any]:
    """A stored file as a file field's value holds it."""
    return {
        "id": attachment.id,
        "name": attachment.original_name,
        "size": attachment.size,
        "sha256": attachment.sha256,
    }


def attach(
    session: Session,
    form: FormSchema | None,
    data: Mapping[str, Any],
    uploads: Mapping[str, Sequence[Upload]],
    user: User,
    case: Case,
    upload_dir: str,
    max_bytes: int | None = None,
) -> dict[str, Any]:
    """``data`` with each file field set to the files uploaded for it, stored on ``case``.

    Every name and count is checked before the first file is written; a file's content and
    size are checked as it is stored (a refusal rolls the whole step back).
    """
    fields = file_fields(form)
    uploads = {name: list(files) for name, files in uploads.items() if files}
    errors: dict[str, list[str]] = {}
    for name in fields:
        if name in data:
            errors[name] = [_("Files are uploaded with the form, not named in its data.")]
    for name in uploads:
        if name not in fields:
            errors[name] = [_("This form takes no files here.")]
    if form is not None:
        for name in fields:
            limit = form.properties[name].get("maxItems")
            if isinstance(limit, int) and len(uploads.get(name, ())) > limit:
                errors[name] = [_("Attach at most %(n)s files.", n=limit)]
    for name in fields:
        for upload in uploads.get(name, ()):
            try:
                attachments.check(upload)
            except Invalid as err:
                errors.setdefault(name, []).extend(err.fields.get(upload.field, [err.message]))
    if errors:
        raise Invalid(_("Please correct the highlighted fields."), errors)
    result = dict(data)
    for name in fields:
        stored = [
            attachments.store_on_case(session, upload_dir, upload, user, case, max_bytes)
            for upload in uploads.get(name, ())
        ]
        if stored:
            result[name] = [entry(a) for a in stored if a is not None]
    return result


def uploads_of(files: Any, skip: Sequence[str] = ()) -> dict[str, list[Upload]]:
    """The uploads of a request's ``files`` (werkzeug's ``MultiDict`` of ``FileStorage``) by
    field name, but those named in ``skip``; a file input left empty posts a part without a
    file name, left out."""
    result: dict[str, list[Upload]] = {}
    for name in files:
        if name in skip:
            continue
        posted = [f for f in files.getlist(name) if f is not None and f.filename]
        if posted:
            result[name] = [Upload(f.stream, f.filename, field=name) for f in posted]
    return result
