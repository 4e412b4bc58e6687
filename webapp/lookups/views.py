"""Blacklist look-up pages under /lookups: one question on the page, a list by file."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.db import get_session
from webapp.errors import Invalid
from webapp.lookups import answers, files
from webapp.transactions import atomic

bp = Blueprint("lookups", __name__, url_prefix="/lookups")


def _page(
    answer: answers.Answer | None = None, error: Invalid | None = None, batch_error: Invalid | None = None
) -> ResponseReturnValue:
    html = render_template(
        "lookups/index.html",
        answer=answer,
        error=error,
        batch_error=batch_error,
        # what was typed comes back only to be corrected: an answer shows the identifier masked
        values=request.form if error else {},
        max_rows=answers.MAX_ROWS,
        status_label=files.status_label,
    )
    return html, 422 if error or batch_error else 200


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    answers.check_user(current_user)
    return _page()


@bp.post("/")
@login_required
def look_up() -> ResponseReturnValue:
    answers.check_user(current_user)
    session = get_session()
    try:
        query = answers.parse(request.form.get("identifier"), request.form.get("name"))
        (answer,) = atomic(session, lambda: answers.look_up(session, current_user, [query], source="page"))
    except Invalid as err:
        return _page(error=err)
    return _page(answer=answer)


@bp.post("/batch")
@login_required
def batch() -> ResponseReturnValue:
    answers.check_user(current_user)
    file = request.files.get("file")
    if file is None or not file.filename:
        return _page(batch_error=Invalid(_("Choose a file to look up.")))
    session = get_session()
    try:
        questions = files.read(file.stream.read())
        result = atomic(
            session, lambda: answers.look_up(session, current_user, questions, source="file", batch=True)
        )
    except Invalid as err:
        return _page(batch_error=err)
    return Response(
        files.result_file(result),
        content_type=files.XLSX_TYPE,
        headers={"Content-Disposition": "attachment; filename=lookup-result.xlsx"},
    )


@bp.get("/template.xlsx")
@login_required
def template() -> ResponseReturnValue:
    language = "en" if request.args.get("lang") == "en" else "zh"
    return Response(
        files.template(language),
        content_type=files.XLSX_TYPE,
        headers={"Content-Disposition": f"attachment; filename=lookup-template-{language}.xlsx"},
    )
