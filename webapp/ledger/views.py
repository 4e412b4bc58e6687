"""Ledger import pages under /ledger: upload, preview, confirm, progress, files."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.cases import intake
from webapp.clock import now
from webapp.db import get_session
from webapp.errors import Invalid, NotFound
from webapp.ledger import batches, files, progress
from webapp.ledger.columns import columns
from webapp.ledger.settings import LedgerSettings
from webapp.models.imports import DISCARDED, ROW_INVALID, ROW_KINDS
from webapp.paging import page_arg
from webapp.transactions import atomic

bp = Blueprint("ledger", __name__, url_prefix="/ledger")
FORMATS = {"csv": files.CSV_TYPE, "xlsx": files.XLSX_TYPE}


def _settings() -> LedgerSettings:
    return LedgerSettings.from_config(current_app.config)


@bp.url_value_preprocessor
def _ledger_upload_limit(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """The upload takes files up to the ledger's limit, not the app-wide one. Set here, not
    in the view: this runs before every ``before_request`` hook, and the CSRF check and the
    input guard (webapp.inputs) read the form, with whatever limit is set by then."""
    if endpoint == "ledger.upload":
        request.max_content_length = _settings().max_bytes + 2**16  # the form's other fields


def _index(error: Invalid | None = None) -> ResponseReturnValue:
    intake.check_reporter(current_user)
    page, limit, offset = page_arg()
    items = batches.of_unit(get_session(), current_user, limit, offset)
    cfg = _settings()
    page_html = render_template(
        "ledger/index.html",
        batches=items,
        page=page,
        more=len(items) == limit,
        error=error,
        max_mb=cfg.max_bytes // 2**20,
        max_rows=cfg.max_rows,
    )
    return page_html, 422 if error else 200


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    return _index()


@bp.post("/")
@login_required
def upload() -> ResponseReturnValue:
    cfg = _settings()
    file = request.files.get("file")
    if file is None or not file.filename:
        return _index(Invalid(_("Choose a ledger file to upload.")))
    session = get_session()
    content = file.stream.read()
    try:
        batch = atomic(
            session, lambda: batches.upload(session, current_user, content, file.filename or "", cfg)
        )
    except Invalid as err:
        return _index(err)
    return redirect(url_for("ledger.show", batch_id=batch.id), code=303)


@bp.get("/template.<file_format>")
@login_required
def template(file_format: str) -> ResponseReturnValue:
    if file_format not in FORMATS:
        raise NotFound(_("No such template."))
    language = "en" if request.args.get("lang") == "en" else "zh"
    report = intake.report_form(get_session(), current_app.config["FORMS_DIR"])
    body = files.template(report, columns(report), language, file_format)
    name = f"ledger-template-{language}.{file_format}"
    return Response(
        body,
        content_type=FORMATS[file_format],
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )


@bp.get("/<int:batch_id>")
@login_required
def show(batch_id: int) -> ResponseReturnValue:
    session = get_session()
    batch = batches.get(session, current_user, batch_id)
    kind = request.args.get("kind")
    if kind not in ROW_KINDS:
        kind = ROW_INVALID if batch.counts.get(ROW_INVALID) else "new"
    page, limit, offset = page_arg()
    items = batches.rows_of(session, batch, kind, limit, offset)
    cols = columns(intake.report_form(session, current_app.config["FORMS_DIR"]))
    return render_template(
        "ledger/show.html",
        batch=batch,
        kind=kind,
        kinds=ROW_KINDS,
        rows=items,
        titles={c.key: c for c in cols},
        positions={c.key: i for i, c in enumerate(cols)},
        progress=progress.of(batch, now()),
        page=page,
        more=len(items) == limit,
    )


@bp.get("/<int:batch_id>/progress")
@login_required
def show_progress(batch_id: int) -> ResponseReturnValue:
    batch = batches.get(get_session(), current_user, batch_id)
    return jsonify(progress.as_json(batch, now()))


@bp.post("/<int:batch_id>/confirm")
@login_required
def confirm(batch_id: int) -> ResponseReturnValue:
    session = get_session()
    atomic(session, lambda: batches.confirm(session, current_user, batch_id))
    flash(_("The import was queued; this page shows its progress."), "success")
    return redirect(url_for("ledger.show", batch_id=batch_id), code=303)


@bp.post("/<int:batch_id>/discard")
@login_required
def discard(batch_id: int) -> ResponseReturnValue:
    session = get_session()
    batch = atomic(session, lambda: batches.discard(session, current_user, batch_id))
    if batch.status == DISCARDED:
        flash(_("The import was discarded; nothing was imported."), "success")
        return redirect(url_for("ledger.index"), code=303)
    flash(
        _("The import is being discarded: every case it opened is removed; this page shows the progress."),
        "success",
    )
    return redirect(url_for("ledger.show", batch_id=batch_id), code=303)


@bp.post("/<int:batch_id>/resume")
@login_required
def resume(batch_id: int) -> ResponseReturnValue:
    session = get_session()
    atomic(session, lambda: batches.resume(session, current_user, batch_id))
    flash(_("The import was queued again; it goes on after the rows already imported."), "success")
    return redirect(url_for("ledger.show", batch_id=batch_id), code=303)


def _download(body: bytes, file_format: str, name: str) -> Response:
    disposition = {"Content-Disposition": f"attachment; filename={name}"}
    return Response(body, content_type=FORMATS[file_format], headers=disposition)


@bp.get("/<int:batch_id>/errors.<file_format>")
@login_required
def error_file(batch_id: int, file_format: str) -> ResponseReturnValue:
    if file_format not in FORMATS:
        raise NotFound(_("No such file."))
    session = get_session()
    batch = batches.get(session, current_user, batch_id)
    cols = columns(intake.report_form(session, current_app.config["FORMS_DIR"]))
    invalid = batches.rows_of(session, batch, ROW_INVALID, limit=batch.total_rows or 1, offset=0)
    body = files.error_file(
        cols, batch.header_language, ((r.cells, r.errors or {}) for r in invalid), file_format
    )
    name = f"ledger-{batch.id}-errors.{file_format}"
    return Response(
        body,
        content_type=FORMATS[file_format],
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )
