"""API of the court's listing of judgment defaulters (routes on the API blueprint; the same
domain function as the page, ``webapp.defaulters.intake.list_defaulter``)."""

from __future__ import annotations

from flask import current_app
from flask.typing import ResponseReturnValue

from webapp.api import idempotency
from webapp.api.idempotency import Answer
from webapp.api.serialize import case_json
from webapp.api.views import _json_body, _reply, _user, bp, token_required
from webapp.cases import queries
from webapp.db import get_session
from webapp.defaulters import intake


@bp.post("/defaulters")
@token_required
def list_defaulter() -> ResponseReturnValue:
    """The court lists a judgment defaulter (the listing form's fields as JSON): 201 with the
    case opened, 422 with field errors, 409 when the enforcement case is listed already, 403
    for a token of another unit than the court. ``Idempotency-Key`` makes a retry safe."""
    session = get_session()
    intake.check_lister(_user())
    payload = _json_body()

    def work() -> Answer:
        case = intake.list_defaulter(
            session,
            _user(),
            payload,
            forms_dir=current_app.config["FORMS_DIR"],
            processes_dir=current_app.config["PROCESSES_DIR"],
        )
        return Answer({"case": case_json(queries.case_view(session, _user(), case.id))}, 201)

    return _reply(idempotency.run(session, _user(), work))
