from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.cases.queries import mark_read, notifications
from webapp.clock import now
from webapp.db import get_session
from webapp.deadlines.calendar import local_today
from webapp.errors import Invalid
from webapp.models import Case, Task
from webapp.paging import page_arg
from webapp.summaries.service import open_requests_for
from webapp.taskforms.files import uploads_of
from webapp.taskforms.schemas import FormSchema
from webapp.tasks import context, service
from webapp.transactions import atomic

bp = Blueprint("tasks", __name__)


@bp.url_value_preprocessor
def _completion_upload_limit(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    # before the CSRF check reads the form (see ledger.views._ledger_upload_limit)
    if endpoint == "tasks.complete":
        request.max_content_length = service.completion_size_limit(current_app.config["ATTACHMENT_MAX_BYTES"])


@bp.get("/inbox")
@login_required
def inbox() -> ResponseReturnValue:
    order = request.args.get("order", "oldest")
    due = request.args.get("due") if request.args.get("due") in service.DUE_FILTERS else None
    page, limit, offset = page_arg()
    session = get_session()
    rows = service.inbox(session, current_user, order=order, limit=limit, offset=offset, due=due)
    return render_template(
        "tasks/inbox.html",
        rows=rows,
        order=order,
        due=due,
        page=page,
        more=len(rows) == limit,
        now=now(),
        # the unit's work summaries still to submit (webapp.summaries), above its tasks
        summary_requests=open_requests_for(session, current_user),
        today=local_today(),
    )


@bp.get("/tasks/<task_id>")
@login_required
def show(task_id: str) -> ResponseReturnValue:
    session = get_session()
    task, form, case = service.task_page(session, current_user, task_id, current_app.config["FORMS_DIR"])
    return render_template(
        "tasks/task.html", task=task, form=form, values={}, errors={}, **_shown_with(task, form, case)
    )


def _shown_with(task: Task, form: FormSchema | None, case: Case | None = None) -> dict[str, Any]:
    """What the page shows above the form: the case at a glance and the earlier data the
    form names (``x-context``, see ``webapp.tasks.context``)."""
    session = get_session()
    case = case if case is not None else session.get(Case, task.case_id)
    if case is None:  # cannot happen: the task was found through its case
        return {}
    forms_dir = current_app.config["FORMS_DIR"]
    shown = context.task_context(
        session,
        case,
        task,
        form,
        lambda earlier: service.task_form(session, earlier, forms_dir, case),
        forms_dir,
    )
    return {"shown": shown}


@bp.post("/tasks/<task_id>")
@login_required
def complete(task_id: str) -> ResponseReturnValue:
    session = get_session()
    forms_dir = current_app.config["FORMS_DIR"]
    uploads = service.Uploads(
        uploads_of(request.files),
        current_app.config["UPLOAD_DIR"],
        current_app.config.get("ATTACHMENT_MAX_BYTES"),
    )
    try:
        task = atomic(
            session,
            lambda: service.complete_posted(session, current_user, task_id, request.form, forms_dir, uploads),
        )
    except Invalid as err:
        task, form = service.task_with_form(session, current_user, task_id, forms_dir)
        return render_template(
            "tasks/task.html",
            task=task,
            form=form,
            values=request.form,
            errors=err.fields,
            error=err,
            **_shown_with(task, form),
        ), 422
    flash(_("Task completed."), "success")
    return redirect(url_for("cases.show", case_id=task.case_id))


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str) -> ResponseReturnValue:
    session = get_session()
    atomic(session, lambda: service.claim(session, current_user, task_id))
    flash(_("Task claimed."), "success")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/tasks/<task_id>/unclaim")
@login_required
def unclaim(task_id: str) -> ResponseReturnValue:
    session = get_session()
    atomic(session, lambda: service.unclaim(session, current_user, task_id))
    flash(_("Task returned to the unit queue."), "success")
    return redirect(url_for("tasks.inbox"))


@bp.get("/notifications")
@login_required
def notices() -> ResponseReturnValue:
    session = get_session()
    items = notifications(session, current_user)
    page = render_template("tasks/notifications.html", items=items)
    atomic(session, lambda: mark_read(session, current_user))
    return page
