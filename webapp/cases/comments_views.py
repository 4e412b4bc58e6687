"""The comment thread on the case page (routes on the cases blueprint; the rules live in
``webapp.cases.comments``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.cases import attachments, comments, queries
from webapp.cases.views import _case_page, bp
from webapp.db import get_session
from webapp.errors import Invalid
from webapp.models import Case
from webapp.transactions import atomic


@dataclass(frozen=True)
class CommentPanel:
    comments: list[comments.Comment]
    may_post: bool


def comment_panel(case: Case) -> CommentPanel:
    session = get_session()
    return CommentPanel(comments.thread(session, case.id), comments.may_post(session, current_user, case))


@bp.context_processor
def comment_panels() -> dict[str, Any]:
    """Built only when the case page's comment section asks for it."""
    return {"comment_panel": comment_panel}


@bp.post("/cases/<int:case_id>/comments")
@login_required
def post_comment(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, current_user, case_id)
    file = request.files.get("comment_file")

    def work() -> int:
        upload = None
        if file is not None and file.filename:
            upload = attachments.Upload(file.stream, file.filename, field="comment_file")
        posted = comments.post_comment(
            session,
            current_user,
            case,
            request.form.get("text", ""),
            request.form.get("corrects") or None,
            upload,
            current_app.config["UPLOAD_DIR"],
        )
        return posted.id

    try:
        comment_id = atomic(session, work)
    except Invalid as err:
        page = _case_page(case_id, comment_errors=err.fields, comment_values=request.form, error=err)
        return page, 422
    flash(_("Comment posted."), "success")
    return redirect(url_for("cases.show", case_id=case_id, _anchor=f"comment-{comment_id}"))
