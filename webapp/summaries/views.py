"""Summary round pages under /summaries: the office opens and compiles rounds, units submit
their summary, auditors read (rules in ``webapp.summaries.service``)."""

from __future__ import annotations

import datetime as dt
import os

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.bulletins.export import pdf_available
from webapp.cases import attachments
from webapp.db import get_session
from webapp.deadlines.calendar import local_today
from webapp.errors import Forbidden, Invalid
from webapp.models import Attachment, SummaryRound
from webapp.paging import page_arg
from webapp.summaries import compilation, service
from webapp.transactions import atomic

bp = Blueprint("summaries", __name__, url_prefix="/summaries")


@bp.before_request
@login_required
def _logged_in() -> None:
    """Every page needs a login; each view checks its own rule."""


def _index(error: Invalid | None = None, status: int = 200) -> ResponseReturnValue:
    session = get_session()
    user = current_user
    if service.may_read(user):
        page, limit, offset = page_arg()
        rows = service.rounds(session, limit, offset)
        today = local_today()
        members = {u.code for u in service.member_units(session)}
        return (
            render_template(
                "summaries/index.html",
                rows=rows,
                page=page,
                more=len(rows) == limit,
                may_open=service.may_open(user),
                units=service.askable_units(session) if service.may_open(user) else [],
                chosen=set(request.form.getlist("units")) if error else members,
                values=request.form
                if error
                else {
                    "start": today.replace(day=1).isoformat(),
                    "end": today.isoformat(),
                    "due": (today + dt.timedelta(days=service.settings().default_due_days)).isoformat(),
                },
                error=error,
            ),
            status,
        )
    if not service.may_submit(user):
        raise Forbidden(_("Only the office, auditors and the units asked see summary rounds."))
    return render_template(
        "summaries/unit.html",
        rows=service.unit_requests(session, user.unit_code, open_only=False),
        today=local_today(),
        is_late=service.is_late,
    )


@bp.get("/")
def index() -> ResponseReturnValue:
    return _index()


@bp.post("/")
def open_round() -> ResponseReturnValue:
    service.require_opener(current_user)
    session = get_session()
    form = service.RoundForm(
        title=request.form.get("title", ""),
        start=request.form.get("start", ""),
        end=request.form.get("end", ""),
        due=request.form.get("due", ""),
        units=request.form.getlist("units"),
    )
    try:
        opened = atomic(
            session, lambda: service.open_round(session, current_user, service.parse(session, form))
        )
    except Invalid as err:
        return _index(err, 422)
    flash(_("The summary round was opened; the units asked were notified."), "success")
    return redirect(url_for("summaries.show", round_id=opened.id))


@bp.get("/<int:round_id>")
def show(round_id: int) -> ResponseReturnValue:
    service.require_reader(current_user)
    session = get_session()
    summary_round = service.get_round(session, round_id)
    requests = service.requests_of(session, summary_round)
    today = local_today()
    return render_template(
        "summaries/show.html",
        round=summary_round,
        requests=requests,
        late_units={r.id: service.is_late(r, summary_round.due_date, today) for r in requests},
        submitted=sum(1 for r in requests if r.submitted_at is not None),
        days_left=service.days_left(summary_round.due_date, today),
        may_compile=service.may_open(current_user) and summary_round.closed_at is None,
        period=compilation.period_text(summary_round),
        pdf_available=pdf_available(),
    )


def _submit_page(
    summary_round: SummaryRound, row: object, error: Invalid | None = None, status: int = 200
) -> ResponseReturnValue:
    limits = service.settings()
    return (
        render_template(
            "summaries/submit.html",
            round=summary_round,
            row=row,
            days_left=service.days_left(summary_round.due_date),
            min_text=limits.min_text,
            max_text=limits.max_text,
            values=request.form if error else {},
            error=error,
        ),
        status,
    )


@bp.get("/<int:round_id>/submit")
def submit_form(round_id: int) -> ResponseReturnValue:
    row, summary_round = service.request_for(get_session(), current_user, round_id)
    return _submit_page(summary_round, row)


@bp.post("/<int:round_id>/submit")
def submit(round_id: int) -> ResponseReturnValue:
    session = get_session()
    row, summary_round = service.request_for(session, current_user, round_id)
    file = request.files.get("file")
    upload = (
        attachments.Upload(file.stream, file.filename, field="file")
        if file is not None and file.filename
        else None
    )
    try:
        atomic(
            session,
            lambda: service.submit(
                session,
                current_user,
                round_id,
                request.form.get("text", ""),
                upload,
                current_app.config["UPLOAD_DIR"],
            ),
        )
    except Invalid as err:
        row, summary_round = service.request_for(session, current_user, round_id)
        return _submit_page(summary_round, row, err, 422)
    flash(_("Your unit's summary was submitted."), "success")
    return redirect(url_for("summaries.submit_form", round_id=round_id))


@bp.post("/<int:round_id>/compile")
def compile_round(round_id: int) -> ResponseReturnValue:
    session = get_session()
    compiled = atomic(
        session,
        lambda: compilation.compile_round(session, current_user, round_id, current_app.config["UPLOAD_DIR"]),
    )
    flash(_("The round was compiled into %(number)s.", number=compiled.number or ""), "success")
    return redirect(url_for("summaries.show", round_id=round_id))


def _send(attachment: Attachment) -> ResponseReturnValue:
    return send_from_directory(
        os.path.abspath(current_app.config["UPLOAD_DIR"]),
        attachment.stored_name,
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.original_name,
    )


@bp.get("/<int:round_id>/document.docx")
def document_docx(round_id: int) -> ResponseReturnValue:
    return _send(service.compiled_file(get_session(), current_user, round_id, pdf=False))


@bp.get("/<int:round_id>/document.pdf")
def document_pdf(round_id: int) -> ResponseReturnValue:
    return _send(service.compiled_file(get_session(), current_user, round_id, pdf=True))


@bp.get("/requests/<int:request_id>/file")
def request_file(request_id: int) -> ResponseReturnValue:
    return _send(service.readable_file(get_session(), current_user, request_id))
