"""API of a case's official letters (routes on the API blueprint; the same domain functions
as the case page, ``webapp.documents.service``)."""

from __future__ import annotations

from flask import current_app, jsonify, url_for
from flask.typing import ResponseReturnValue

from webapp.api import idempotency
from webapp.api.idempotency import Answer
from webapp.api.views import _json_body, _reply, _user, bp, token_required
from webapp.cases import queries
from webapp.db import get_session
from webapp.documents import service


def _links(letter: service.Letter) -> dict[str, str | None]:
    """The files' download addresses (the case page's, which the same rules guard)."""
    return {
        "docx": url_for("api.attachment", attachment_id=letter.docx.id),
        "pdf": url_for("api.attachment", attachment_id=letter.pdf.id) if letter.pdf else None,
    }


@bp.get("/cases/<int:case_id>/documents")
@token_required
def list_documents(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, _user(), case_id)
    letters = service.letters(session, _user(), case)
    return jsonify({"case_id": case.id, "documents": [d.as_json(_links(d)) for d in letters]})


@bp.post("/cases/<int:case_id>/documents")
@token_required
def generate_document(case_id: int) -> ResponseReturnValue:
    """``{"kind": "referral", "unit": "court"}``: 201 with the letter's number and links."""
    session = get_session()
    fields = _json_body()
    case = queries.get_case(session, _user(), case_id)

    def answer() -> Answer:
        letter = service.generate(
            session, _user(), case, fields.get("kind"), fields.get("unit"), current_app.config["UPLOAD_DIR"]
        )
        return Answer({"document": letter.as_json(_links(letter))}, 201)

    return _reply(idempotency.run(session, _user(), answer))
