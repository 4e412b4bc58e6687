"""API of the blacklist look-up (routes on the API blueprint; the same domain functions as
the page, ``webapp.lookups.answers``)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from webapp.api.views import _json_body, _user, bp, token_required
from webapp.db import get_session
from webapp.errors import Invalid
from webapp.lookups import answers
from webapp.transactions import atomic


@bp.post("/lookups")
@token_required
def look_up() -> ResponseReturnValue:
    """JSON ``{"identifier"}`` or ``{"name"}``: one answer; ``{"lookups": [...]}`` (up to
    10,000 such objects): one answer per item, in order, an invalid item answered with its
    error, and one event for the whole list."""
    session = get_session()
    answers.check_user(_user())
    body = _json_body()
    if "lookups" not in body:
        query = answers.parse(body.get("identifier"), body.get("name"))
        (one,) = atomic(session, lambda: answers.look_up(session, _user(), [query], source="api"))
        return jsonify(one.as_json())
    items = body["lookups"]
    if not isinstance(items, list) or not 1 <= len(items) <= answers.MAX_ROWS:
        message = f"lookups must be a list of 1 to {answers.MAX_ROWS} objects"
        raise Invalid(message, {"lookups": [message]})
    questions = [_question(item) for item in items]
    result = atomic(session, lambda: answers.look_up(session, _user(), questions, source="api", batch=True))
    return jsonify({"results": [a.as_json() for a in result]})


def _question(item: Any) -> answers.Query | Invalid:
    if not isinstance(item, dict):
        return Invalid("each look-up is an object with identifier or name")
    try:
        return answers.parse(item.get("identifier"), item.get("name"))
    except Invalid as err:
        return err
