"""The pages of an import of any kind of file (``webapp.ledger.kinds``), added to the
blueprint of the capability that owns the kind: the list and upload, the template, the
preview, progress, confirm, discard, resume and the error file. The ledger's are under
/ledger (``webapp.ledger.views``), the court's listings' under /defaulters/files
(``webapp.defaulters.file_views``); what differs is the kind's entry and its ``BatchPages``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from webapp.errors import Invalid, NotFound
from webapp.ledger import batches, files, kinds, progress
from webapp.ledger.settings import LedgerSettings
from webapp.models import ImportBatch, User
from webapp.models.imports import DISCARDED, ROW_INVALID
from webapp.paging import page_arg
from webapp.transactions import atomic

FORMATS = {"csv": files.CSV_TYPE, "xlsx": files.XLSX_TYPE}


def nobody_refused(_user: User) -> None:
    """Any signed-in user may look: a batch is found for its own unit's users only."""


@dataclass(frozen=True)
class BatchPages:
    """What the pages of one kind of file show besides the kind's entry."""

    index_template: str  # the list of the unit's batches and the upload form
    show_template: str  # one batch: progress, preview, rows
    file_name: str  # downloads are <file_name>-template-<language>.<format>, <file_name>-<id>-errors.<format>
    # the upload form sent without a file (a lazy text, translated when shown)
    no_file: Any
    # the flash after a queued, running or failed import was sent to be discarded (lazy text)
    discarding: Any
    # raises Forbidden for a user who may not see the template or a batch's pages
    check_viewer: Callable[[User], None] = nobody_refused


def _settings() -> LedgerSettings:
    return LedgerSettings.from_config(current_app.config)


def add_batch_views(bp: Blueprint, kind: str, pages: BatchPages) -> None:
    """Add the pages of files of ``kind`` to ``bp``: endpoints ``index``, ``upload``,
    ``template``, ``show``, ``show_progress``, ``confirm``, ``discard``, ``resume`` and
    ``error_file``."""
    file_kind = kinds.of(kind)

    @bp.url_value_preprocessor
    def upload_limit(endpoint: str | None, _values: dict[str, Any] | None) -> None:
        """The upload takes files up to the ledger's limit, not the app-wide one. Set here,
        not in the view: this runs before every ``before_request`` hook, and the CSRF check
        and the input guard (webapp.inputs) read the form, with whatever limit is set by then."""
        if endpoint == f"{bp.name}.upload":
            request.max_content_length = _settings().max_bytes + 2**16  # the form's other fields

    def listing(error: Invalid | None = None) -> ResponseReturnValue:
        file_kind.check_user(current_user)
        page, limit, offset = page_arg()
        items = batches.of_unit(get_session(), current_user, limit, offset, kind)
        cfg = _settings()
        page_html = render_template(
            pages.index_template,
            batches=items,
            page=page,
            more=len(items) == limit,
            error=error,
            max_mb=cfg.max_bytes // 2**20,
            max_rows=cfg.max_rows,
        )
        return page_html, 422 if error else 200

    def batch_of(batch_id: int) -> ImportBatch:
        pages.check_viewer(current_user)
        return batches.get(get_session(), current_user, batch_id, kind)

    def columns() -> Any:
        return file_kind.columns(get_session(), current_app.config["FORMS_DIR"])

    @bp.get("/", endpoint="index")
    @login_required
    def index() -> ResponseReturnValue:
        return listing()

    @bp.post("/", endpoint="upload")
    @login_required
    def upload() -> ResponseReturnValue:
        file = request.files.get("file")
        if file is None or not file.filename:
            return listing(Invalid(str(pages.no_file)))
        session = get_session()
        content = file.stream.read()
        cfg = _settings()
        try:
            batch = atomic(
                session,
                lambda: batches.upload(session, current_user, content, file.filename or "", cfg, kind),
            )
        except Invalid as err:
            return listing(err)
        return redirect(url_for(".show", batch_id=batch.id), code=303)

    @bp.get("/template.<file_format>", endpoint="template")
    @login_required
    def template(file_format: str) -> ResponseReturnValue:
        pages.check_viewer(current_user)
        if file_format not in FORMATS:
            raise NotFound(_("No such template."))
        language = "en" if request.args.get("lang") == "en" else "zh"
        form, cols = columns()
        body = files.template(form, cols, language, file_format)
        return _download(body, file_format, f"{pages.file_name}-template-{language}.{file_format}")

    @bp.get("/<int:batch_id>", endpoint="show")
    @login_required
    def show(batch_id: int) -> ResponseReturnValue:
        batch = batch_of(batch_id)
        row_kind = request.args.get("kind")
        if row_kind not in file_kind.row_kinds:
            row_kind = ROW_INVALID if batch.counts.get(ROW_INVALID) else "new"
        page, limit, offset = page_arg()
        items = batches.rows_of(get_session(), batch, row_kind, limit, offset)
        cols = columns()[1]
        return render_template(
            pages.show_template,
            batch=batch,
            kind=row_kind,
            kinds=file_kind.row_kinds,
            rows=items,
            titles={c.key: c for c in cols},
            positions={c.key: i for i, c in enumerate(cols)},
            progress=progress.of(batch, now()),
            page=page,
            more=len(items) == limit,
        )

    @bp.get("/<int:batch_id>/progress", endpoint="show_progress")
    @login_required
    def show_progress(batch_id: int) -> ResponseReturnValue:
        return jsonify(progress.as_json(batch_of(batch_id), now()))

    def act(batch_id: int, action: Callable[..., ImportBatch], done: str) -> ResponseReturnValue:
        session = get_session()
        atomic(session, lambda: action(session, current_user, batch_id, kind))
        flash(done, "success")
        return redirect(url_for(".show", batch_id=batch_id), code=303)

    @bp.post("/<int:batch_id>/confirm", endpoint="confirm")
    @login_required
    def confirm(batch_id: int) -> ResponseReturnValue:
        return act(batch_id, batches.confirm, _("The import was queued; this page shows its progress."))

    @bp.post("/<int:batch_id>/resume", endpoint="resume")
    @login_required
    def resume(batch_id: int) -> ResponseReturnValue:
        text = _("The import was queued again; it goes on after the rows already imported.")
        return act(batch_id, batches.resume, text)

    @bp.post("/<int:batch_id>/discard", endpoint="discard")
    @login_required
    def discard(batch_id: int) -> ResponseReturnValue:
        session = get_session()
        batch = atomic(session, lambda: batches.discard(session, current_user, batch_id, kind))
        if batch.status == DISCARDED:
            flash(_("The import was discarded; nothing was imported."), "success")
            return redirect(url_for(".index"), code=303)
        flash(str(pages.discarding), "success")
        return redirect(url_for(".show", batch_id=batch_id), code=303)

    @bp.get("/<int:batch_id>/errors.<file_format>", endpoint="error_file")
    @login_required
    def error_file(batch_id: int, file_format: str) -> ResponseReturnValue:
        pages.check_viewer(current_user)
        if file_format not in FORMATS:
            raise NotFound(_("No such file."))
        batch = batches.get(get_session(), current_user, batch_id, kind)
        invalid = batches.rows_of(get_session(), batch, ROW_INVALID, limit=batch.total_rows or 1, offset=0)
        body = files.error_file(
            columns()[1], batch.header_language, ((r.cells, r.errors or {}) for r in invalid), file_format
        )
        return _download(body, file_format, f"{pages.file_name}-{batch.id}-errors.{file_format}")


def _download(body: bytes, file_format: str, name: str) -> Response:
    disposition = {"Content-Disposition": f"attachment; filename={name}"}
    return Response(body, content_type=FORMATS[file_format], headers=disposition)
