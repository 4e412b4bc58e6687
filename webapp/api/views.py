"""JSON API under /api/v1 for banks' systems and other clients (bearer tokens).

The endpoints call the same domain functions as the HTML pages.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from webapp.api.serialize import case_json, task_json
from webapp.auth import tokens
from webapp.auth.permissions import READ_METHODS, is_read_only
from webapp.cases import attachments, intake, queries, settlement
from webapp.db import get_session
from webapp.errors import DomainError, Forbidden, Invalid
from webapp.models import User
from webapp.paging import page_arg
from webapp.tasks import service
from webapp.transactions import atomic

bp = Blueprint("api", __name__, url_prefix="/api/v1")
F = TypeVar("F", bound=Callable[..., ResponseReturnValue])


class Unauthorized(DomainError):
    status = 401


def token_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = tokens.user_for(get_session(), token.strip()) if scheme.lower() == "bearer" and token else None
        if user is None:
            raise Unauthorized("missing or invalid bearer token")
        if request.method not in READ_METHODS and is_read_only(user):
            raise Forbidden("auditors have read-only access")
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _user() -> User:
    user: User = g.api_user
    return user


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("the request body must be a JSON object")
    return body


@bp.post("/cases")
@token_required
def report_case() -> ResponseReturnValue:
    session = get_session()
    payload = _json_body()
    result = atomic(
        session,
        lambda: intake.report_debtor(
            session,
            _user(),
            payload,
            forms_dir=current_app.config["FORMS_DIR"],
            processes_dir=current_app.config["PROCESSES_DIR"],
        ),
    )
    view = queries.case_view(session, _user(), result.case.id)
    return jsonify({"created": result.created, "case": case_json(view)}), 201 if result.created else 200


@bp.get("/cases/<int:case_id>")
@token_required
def show_case(case_id: int) -> ResponseReturnValue:
    return jsonify(case_json(queries.case_view(get_session(), _user(), case_id)))


@bp.post("/cases/<int:case_id>/settlement")
@token_required
def report_settlement(case_id: int) -> ResponseReturnValue:
    """JSON ``{"certificate_no", "contract_nos"}``, or multipart form fields of the same
    names with the certificate as ``certificate_file``."""
    session = get_session()
    file = None
    if request.mimetype == "multipart/form-data":
        certificate_no = request.form.get("certificate_no", "")
        numbers: object = request.form.getlist("contract_nos") or None
        file = request.files.get("certificate_file")
    else:
        body = _json_body()
        certificate_no, numbers = str(body.get("certificate_no") or ""), body.get("contract_nos")
    case = queries.get_case(session, _user(), case_id)
    if numbers is not None and not (isinstance(numbers, list) and all(isinstance(n, str) for n in numbers)):
        raise Invalid(
            "contract_nos must be a list of strings", {"contract_nos": ["must be a list of strings"]}
        )
    contract_nos = [str(n) for n in numbers] if isinstance(numbers, list) else None

    def work() -> settlement.SettlementResult:
        upload = None
        if file is not None and file.filename:
            upload = attachments.Upload(file.stream, file.filename, field="certificate_file")
        return settlement.report_settlement(
            session, _user(), case, certificate_no, contract_nos, upload, current_app.config["UPLOAD_DIR"]
        )

    result = atomic(session, work)
    view = queries.case_view(session, _user(), case_id)
    return jsonify(
        {
            "settled_loans": result.settled_loans,
            "all_settled": result.all_settled,
            "delivered": result.delivered,
            "case": case_json(view),
        }
    )


@bp.get("/tasks")
@token_required
def list_tasks() -> ResponseReturnValue:
    order = request.args.get("order", "oldest")
    _page, limit, offset = page_arg()
    due = request.args.get("due") if request.args.get("due") in service.DUE_FILTERS else None
    rows = service.inbox(get_session(), _user(), order=order, limit=limit, offset=offset, due=due)
    return jsonify({"tasks": [task_json(t, c) for t, c in rows]})


@bp.get("/tasks/<task_id>")
@token_required
def show_task(task_id: str) -> ResponseReturnValue:
    session = get_session()
    task = service.get_task(session, _user(), task_id)
    form = service.task_form(session, task, current_app.config["FORMS_DIR"])
    return jsonify({**task_json(task), "form_schema": form.schema if form else None})


@bp.post("/tasks/<task_id>/claim")
@token_required
def claim_task(task_id: str) -> ResponseReturnValue:
    session = get_session()
    task = atomic(session, lambda: service.claim(session, _user(), task_id))
    return jsonify(task_json(task))


@bp.post("/tasks/<task_id>/unclaim")
@token_required
def unclaim_task(task_id: str) -> ResponseReturnValue:
    session = get_session()
    task = atomic(session, lambda: service.unclaim(session, _user(), task_id))
    return jsonify(task_json(task))


@bp.post("/tasks/<task_id>/complete")
@token_required
def complete_task(task_id: str) -> ResponseReturnValue:
    session = get_session()
    body = _json_body()
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise Invalid("data must be a JSON object", {"data": ["must be a JSON object"]})
    task = atomic(
        session, lambda: service.complete(session, _user(), task_id, data, current_app.config["FORMS_DIR"])
    )
    view = queries.case_view(session, _user(), task.case_id)
    return jsonify({"task": task_json(task), "case": case_json(view)})
