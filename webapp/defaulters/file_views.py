"""The court's file of listings under /defaulters/files: upload, preview, confirm, progress and
error files, through the ledger's machinery (``webapp.ledger``; the rows:
``webapp.defaulters.listing_file``)."""

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

from webapp.clock import now
from webapp.db import get_session
from webapp.defaulters import intake, listing_file
from webapp.errors import Invalid, NotFound
from webapp.ledger import batches, progress
from webapp.ledger import files as ledger_files
from webapp.ledger.settings import LedgerSettings
from webapp.models import ImportBatch
from webapp.models.imports import DISCARDED, LISTINGS, ROW_DUPLICATE, ROW_EXISTING, ROW_INVALID, ROW_NEW
from webapp.paging import page_arg
from webapp.transactions import atomic

bp = Blueprint("defaulter_files", __name__, url_prefix="/defaulters/files")
FORMATS = {"csv": ledger_files.CSV_TYPE, "xlsx": ledger_files.XLSX_TYPE}
# a file of listings has no rows joining an open case: each listing is its own case
ROW_KINDS = (ROW_NEW, ROW_DUPLICATE, ROW_EXISTING, ROW_INVALID)


def _settings() -> LedgerSettings:
    return LedgerSettings.from_config(current_app.config)


@bp.url_value_preprocessor
def _file_upload_limit(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """The upload takes files up to the ledger's limit (see webapp.ledger.views)."""
    if endpoint == "defaulter_files.upload":
        request.max_content_length = _settings().max_bytes + 2**16


def _files(error: Invalid | None = None) -> ResponseReturnValue:
    intake.check_lister(current_user)
    page, limit, offset = page_arg()
    items = batches.of_unit(get_session(), current_user, limit, offset, LISTINGS)
    cfg = _settings()
    page_html = render_template(
        "defaulters/files.html",
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
    return _files()


@bp.post("/")
@login_required
def upload() -> ResponseReturnValue:
    intake.check_lister(current_user)
    file = request.files.get("file")
    if file is None or not file.filename:
        return _files(Invalid(_("Choose a file of listings to upload.")))
    session = get_session()
    content = file.stream.read()
    try:
        batch = atomic(
            session,
            lambda: listing_file.upload(session, current_user, content, file.filename or "", _settings()),
        )
    except Invalid as err:
        return _files(err)
    return redirect(url_for("defaulter_files.show", batch_id=batch.id), code=303)


@bp.get("/template.<file_format>")
@login_required
def template(file_format: str) -> ResponseReturnValue:
    intake.check_lister(current_user)
    if file_format not in FORMATS:
        raise NotFound(_("No such template."))
    language = "en" if request.args.get("lang") == "en" else "zh"
    form, cols = listing_file.columns(current_app.config["FORMS_DIR"])
    name = f"listings-template-{language}.{file_format}"
    return _download(ledger_files.template(form, cols, language, file_format), file_format, name)


def _batch(batch_id: int) -> ImportBatch:
    intake.check_lister(current_user)
    return batches.get(get_session(), current_user, batch_id, LISTINGS)


@bp.get("/<int:batch_id>")
@login_required
def show(batch_id: int) -> ResponseReturnValue:
    batch = _batch(batch_id)
    kind = request.args.get("kind")
    if kind not in ROW_KINDS:
        kind = ROW_INVALID if batch.counts.get(ROW_INVALID) else "new"
    page, limit, offset = page_arg()
    items = batches.rows_of(get_session(), batch, kind, limit, offset)
    cols = listing_file.columns(current_app.config["FORMS_DIR"])[1]
    return render_template(
        "defaulters/file.html",
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
    return jsonify(progress.as_json(_batch(batch_id), now()))


@bp.post("/<int:batch_id>/confirm")
@login_required
def confirm(batch_id: int) -> ResponseReturnValue:
    session = get_session()
    atomic(session, lambda: batches.confirm(session, current_user, batch_id, LISTINGS))
    flash(_("The import was queued; this page shows its progress."), "success")
    return redirect(url_for("defaulter_files.show", batch_id=batch_id), code=303)


@bp.post("/<int:batch_id>/discard")
@login_required
def discard(batch_id: int) -> ResponseReturnValue:
    session = get_session()
    batch = atomic(session, lambda: batches.discard(session, current_user, batch_id, LISTINGS))
    if batch.status == DISCARDED:
        flash(_("The import was discarded; nothing was imported."), "success")
        return redirect(url_for("defaulter_files.index"), code=303)
    flash(_("The import is being discarded."), "success")
    return redirect(url_for("defaulter_files.show", batch_id=batch_id), code=303)


@bp.post("/<int:batch_id>/resume")
@login_required
def resume(batch_id: int) -> ResponseReturnValue:
    session = get_session()
    atomic(session, lambda: batches.resume(session, current_user, batch_id, LISTINGS))
    flash(_("The import was queued again; it goes on after the rows already imported."), "success")
    return redirect(url_for("defaulter_files.show", batch_id=batch_id), code=303)


@bp.get("/<int:batch_id>/errors.<file_format>")
@login_required
def error_file(batch_id: int, file_format: str) -> ResponseReturnValue:
    batch = _batch(batch_id)
    if file_format not in FORMATS:
        raise NotFound(_("No such file."))
    cols = listing_file.columns(current_app.config["FORMS_DIR"])[1]
    invalid = batches.rows_of(get_session(), batch, ROW_INVALID, limit=batch.total_rows or 1, offset=0)
    body = ledger_files.error_file(
        cols, batch.header_language, ((r.cells, r.errors or {}) for r in invalid), file_format
    )
    return _download(body, file_format, f"listings-{batch.id}-errors.{file_format}")


def _download(body: bytes, file_format: str, name: str) -> Response:
    disposition = {"Content-Disposition": f"attachment; filename={name}"}
    return Response(body, content_type=FORMATS[file_format], headers=disposition)
