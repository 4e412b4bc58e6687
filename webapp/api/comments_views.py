"""API of a case's comment thread (routes on the API blueprint; the same domain functions as
the case page, ``webapp.cases.comments``)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue

from webapp.api import idempotency
from webapp.api.idempotency import Answer
from webapp.api.views import _json_body, _reply, _user, bp, token_required
from webapp.cases import attachments, comments, queries
from webapp.db import get_session


@bp.get("/cases/<int:case_id>/comments")
@token_required
def list_comments(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, _user(), case_id)
    return jsonify({"case_id": case.id, "comments": [c.as_json() for c in comments.thread(session, case.id)]})


@bp.post("/cases/<int:case_id>/comments")
@token_required
def post_comment(case_id: int) -> ResponseReturnValue:
    """JSON ``{"text", "corrects"}``, or multipart form fields of the same names with the file
    as ``file``."""
    session = get_session()
    file = None
    if request.mimetype == "multipart/form-data":
        fields: dict[str, Any] = dict(request.form)
        file = request.files.get("file")
    else:
        fields = _json_body()
    case = queries.get_case(session, _user(), case_id)

    def answer() -> Answer:
        upload = None
        if file is not None and file.filename:
            upload = attachments.Upload(file.stream, file.filename, field="file")
        event = comments.post_comment(
            session,
            _user(),
            case,
            fields.get("text"),
            fields.get("corrects"),
            upload,
            current_app.config["UPLOAD_DIR"],
        )
        posted = next(c for c in comments.thread(session, case.id) if c.id == event.id)
        return Answer({"comment": posted.as_json()}, 201)

    return _reply(idempotency.run(session, _user(), answer))
