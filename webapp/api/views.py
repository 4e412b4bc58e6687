"""JSON API under /api/v1 for banks' systems and other clients (bearer tokens).

The endpoints call the same domain functions as the HTML pages.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, current_app, g, jsonify, request, send_from_directory
from flask.typing import ResponseReturnValue

from webapp.api import idempotency
from webapp.api.idempotency import Answer
from webapp.api.openapi import document
from webapp.api.serialize import case_json, task_json
from webapp.auth import tokens
from webapp.auth.permissions import READ_METHODS, is_read_only
from webapp.cases import attachments, closing, intake, queries, settlement
from webapp.cases.identifiers import normalize
from webapp.db import get_session
from webapp.errors import DomainError, Forbidden, Invalid
from webapp.inputs import is_id
from webapp.models import Case, User
from webapp.paging import page_arg
from webapp.taskforms import validate
from webapp.taskforms.files import uploads_of
from webapp.tasks import service
from webapp.transactions import atomic

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.url_value_preprocessor
def _completion_upload_limit(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    if endpoint == "api.complete_task":
        request.max_content_length = service.completion_size_limit(current_app.config["ATTACHMENT_MAX_BYTES"])


API_BATCH_MAX = 500
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
        if idempotency.HEADER in request.headers:
            request.get_data(cache=True)  # kept for the key's fingerprint before a form is parsed
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


def fields_and_upload(file_field: str) -> tuple[dict[str, Any], attachments.Upload | None]:
    """A JSON object body, or multipart form fields of the same names with a file under
    ``file_field``."""
    if request.mimetype != "multipart/form-data":
        return _json_body(), None
    file = request.files.get(file_field)
    if file is None or not file.filename:
        return dict(request.form), None
    return dict(request.form), attachments.Upload(file.stream, file.filename, field=file_field)


@bp.get("/attachments/<int:attachment_id>")
@token_required
def attachment(attachment_id: int) -> ResponseReturnValue:
    """A file of a case the token's user may see (a letter, a task's file, a comment's), as
    the case page serves it to a logged-in user."""
    row = queries.readable_attachment(get_session(), _user(), attachment_id)
    return send_from_directory(
        os.path.abspath(current_app.config["UPLOAD_DIR"]),
        row.stored_name,
        mimetype=row.content_type,
        as_attachment=True,
        download_name=row.original_name,
    )


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """The API's OpenAPI 3.1 document (no token needed to read it)."""
    return jsonify(document(current_app.config["FORMS_DIR"]))


def _reply(answer: Answer) -> ResponseReturnValue:
    response = jsonify(answer.body)
    response.status_code = answer.status
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.post("/cases")
@token_required
def report_case() -> ResponseReturnValue:
    session = get_session()
    payload = _json_body()

    def work() -> Answer:
        result = intake.report_debtor(
            session,
            _user(),
            payload,
            forms_dir=current_app.config["FORMS_DIR"],
            processes_dir=current_app.config["PROCESSES_DIR"],
        )
        body = {
            "created": result.created,
            "case": case_json(queries.case_view(session, _user(), result.case.id)),
        }
        return Answer(body, 201 if result.created else 200)

    return _reply(idempotency.run(session, _user(), work))


def _items(name: str) -> list[dict[str, Any]]:
    """The list ``name`` of a batch body: 1 to API_BATCH_MAX objects."""
    items = _json_body().get(name)
    limit = int(current_app.config.get("API_BATCH_MAX", API_BATCH_MAX))
    if (
        not isinstance(items, list)
        or not 1 <= len(items) <= limit
        or not all(isinstance(i, dict) for i in items)
    ):
        message = f"{name} must be a list of 1 to {limit} objects"
        raise Invalid(message, {name: [message]})
    return items


def _invalid_item(name: str, index: int, err: Invalid) -> Invalid:
    """An item's validation error, its fields prefixed with the item's place in the batch."""
    fields = {f"{name}.{index}.{k}": v for k, v in err.fields.items()}
    return Invalid(f"{name}[{index}]: {err.message}", fields or {f"{name}.{index}": [err.message]})


def _in_item(name: str, index: int, err: DomainError) -> DomainError:
    if isinstance(err, Invalid):
        return _invalid_item(name, index, err)
    err.message = f"{name}[{index}]: {err.message}"
    return err


@bp.post("/cases/batch")
@token_required
def report_cases() -> ResponseReturnValue:
    """Several reports at once, all or nothing: one invalid report and none is recorded."""
    session = get_session()
    intake.check_reporter(_user())
    items = _items("reports")
    form = intake.report_form(session, current_app.config["FORMS_DIR"])
    checked: list[dict[str, Any]] = []
    fields: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        try:
            data = validate(form, item)
            data["identifier"] = normalize(data["debtor_kind"], data["identifier"])
            checked.append(data)
        except Invalid as err:
            fields |= _invalid_item("reports", index, err).fields
    if fields:
        raise Invalid("some reports are invalid; none was recorded", fields)

    def work() -> Answer:
        results = []
        for index, data in enumerate(checked):
            try:
                result = intake.record_report(
                    session, _user(), data, processes_dir=current_app.config["PROCESSES_DIR"]
                )
            except DomainError as err:
                raise _in_item("reports", index, err) from err
            results.append(_case_summary(index, result.case, created=result.created))
        return Answer({"results": results}, 201 if any(r["created"] for r in results) else 200)

    return _reply(idempotency.run(session, _user(), work))


def _case_summary(index: int, case: Case, **extra: Any) -> dict[str, Any]:
    return {"index": index, "case_id": case.id, "stage": case.stage, "status": case.status, **extra}


@bp.post("/settlements/batch")
@token_required
def report_settlements() -> ResponseReturnValue:
    """Settlements of several cases (JSON, no certificate files), all or nothing."""
    session = get_session()
    items = _items("settlements")

    def work() -> Answer:
        results = []
        for index, item in enumerate(items):
            try:
                case_id, certificate_no, numbers = _settlement_fields(item)
                case = queries.get_case(session, _user(), case_id)
                result = settlement.report_settlement(session, _user(), case, certificate_no, numbers)
            except DomainError as err:
                raise _in_item("settlements", index, err) from err
            results.append(
                _case_summary(
                    index,
                    case,
                    settled_loans=result.settled_loans,
                    all_settled=result.all_settled,
                    delivered=result.delivered,
                )
            )
        return Answer({"results": results}, 200)

    return _reply(idempotency.run(session, _user(), work))


def _settlement_fields(item: dict[str, Any]) -> tuple[int, str, list[str] | None]:
    case_id, numbers = item.get("case_id"), item.get("contract_nos")
    if not isinstance(case_id, int) or isinstance(case_id, bool) or not is_id(case_id):
        raise Invalid("case_id must be a case number", {"case_id": ["must be a case number"]})
    if numbers is not None and not (isinstance(numbers, list) and all(isinstance(n, str) for n in numbers)):
        raise Invalid(
            "contract_nos must be a list of strings", {"contract_nos": ["must be a list of strings"]}
        )
    return case_id, str(item.get("certificate_no") or ""), numbers


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

    def answer() -> Answer:
        result = work()
        body = {
            "settled_loans": result.settled_loans,
            "all_settled": result.all_settled,
            "delivered": result.delivered,
            "case": case_json(queries.case_view(session, _user(), case_id)),
        }
        return Answer(body, 200)

    return _reply(idempotency.run(session, _user(), answer))


@bp.post("/cases/<int:case_id>/closing")
@token_required
def close_case(case_id: int) -> ResponseReturnValue:
    """The office closes a case without settlement: JSON with the fields of
    forms/close_case.json (``closing_reason``, ``closing_notes`` and the reason's document)."""
    session = get_session()
    body = _json_body()
    case = queries.get_case(session, _user(), case_id)

    def answer() -> Answer:
        lift_units = closing.close_case(session, _user(), case, body, current_app.config["FORMS_DIR"])
        view = queries.case_view(session, _user(), case_id)
        return Answer({"lift_units": lift_units, "case": case_json(view)}, 200)

    return _reply(idempotency.run(session, _user(), answer))


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
    task, form = service.task_with_form(session, _user(), task_id, current_app.config["FORMS_DIR"])
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
    """JSON ``{"data": {...}}``, or multipart with the same JSON object in a ``data`` part
    and the files of the form's file fields (``x-widget: files``) under their field names."""
    session = get_session()
    uploads = service.NO_UPLOADS
    if request.mimetype == "multipart/form-data":
        data = _multipart_data()
        uploads = service.Uploads(
            uploads_of(request.files, skip=("data",)),
            current_app.config["UPLOAD_DIR"],
            current_app.config.get("ATTACHMENT_MAX_BYTES"),
        )
    else:
        data = _json_body().get("data", {})
    if not isinstance(data, dict):
        raise Invalid("data must be a JSON object", {"data": ["must be a JSON object"]})
    task = atomic(
        session,
        lambda: service.complete(session, _user(), task_id, data, current_app.config["FORMS_DIR"], uploads),
    )
    view = queries.case_view(session, _user(), task.case_id)
    return jsonify({"task": task_json(task), "case": case_json(view)})


def _multipart_data() -> Any:
    """The ``data`` part of a multipart completion, a form field or a file part, as JSON
    (no part: no fields)."""
    raw: str | None = request.form.get("data")
    if raw is None and "data" in request.files:
        raw = request.files["data"].read().decode("utf-8", errors="replace")
    if raw is None or not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as err:
        raise Invalid("data must be a JSON object", {"data": ["must be a JSON object"]}) from err
