"""API of a case's comment thread (routes on the API blueprint; the same domain functions as
the case page, ``webapp.cases.comments``)."""

from __future__ import annotations

from flask import current_app, jsonify
from flask.typing import ResponseReturnValue

from webapp.api import idempotency
from webapp.api.idempotency import Answer
from webapp.api.views import _reply, _user, bp, fields_and_upload, token_required
from webapp.cases import comments, queries
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
    fields, upload = fields_and_upload("file")
    case = queries.get_case(session, _user(), case_id)

    def answer() -> Answer:
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
