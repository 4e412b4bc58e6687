from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.clock import now
from webapp.db import get_session
from webapp.errors import Conflict, Invalid, NotFound, StepFailed
from webapp.inputs import is_id
from webapp.paging import page_arg
from webapp.supervision import service
from webapp.supervision.service import AGE_BUCKETS
from webapp.transactions import atomic

bp = Blueprint("supervision", __name__, url_prefix="/supervision")


@bp.before_request
@login_required
def _supervisors_only() -> None:
    service.require_supervisor(current_user)


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    days = min(max(request.args.get("stale_days", 14, type=int) or 14, 1), 365)
    session = get_session()
    return render_template(
        "supervision/dashboard.html",
        board=service.dashboard(session, days),
        live=service.case_liveness(session),
        buckets=[label for _limit, label in AGE_BUCKETS],
    )


@bp.post("/cases/<int:case_id>/retry")
def retry(case_id: int) -> ResponseReturnValue:
    session = get_session()
    try:
        done = atomic(session, lambda: service.retry_case(session, current_user, case_id))
    except StepFailed as err:  # rolled back; atomic recorded the incident
        flash(_("Case #%(id)s could not run on: %(message)s", id=case_id, message=err.message), "error")
    except Conflict as err:
        flash(err.message, "error")
    else:
        if done.still_stalled:
            flash(_("Case #%(id)s was retried but is still stalled.", id=case_id), "error")
        elif done.repaired:
            repaired = ", ".join(done.repaired)
            flash(
                _("Case #%(id)s repaired (%(elements)s) and run on.", id=case_id, elements=repaired),
                "success",
            )
        else:
            flash(_("Case #%(id)s retried and run on.", id=case_id), "success")
    return redirect(url_for("supervision.dashboard", _anchor="liveness"))


@bp.get("/tasks")
def tasks() -> ResponseReturnValue:
    session = get_session()
    page, limit, offset = page_arg()
    overdue = request.args.get("all") != "1"
    rows = service.task_list(
        session,
        unit=request.args.get("unit") or None,
        element=request.args.get("element") or None,
        overdue=overdue,
        limit=limit,
        offset=offset,
    )
    return render_template(
        "supervision/tasks.html",
        rows=rows,
        page=page,
        more=len(rows) == limit,
        users=service.unit_caseworkers(session),
        now=now(),
        overdue=overdue,
        errors={},
    )


@bp.post("/reassign")
def reassign() -> ResponseReturnValue:
    session = get_session()
    to_user = request.form.get("to_user", type=int)  # empty or not a number: the unit queue
    if to_user and not is_id(to_user):  # no user has it (and no id column could hold it)
        raise NotFound(_("User not found."))
    ids = request.form.getlist("task_ids")
    try:
        atomic(
            session,
            lambda: service.reassign(session, current_user, ids, to_user, request.form.get("reason", "")),
        )
    except Invalid as err:
        return _redisplay(err)
    flash(_("%(n)s task(s) reassigned.", n=len(ids)), "success")
    return redirect(request.referrer or url_for("supervision.tasks"))


@bp.post("/remind")
def remind() -> ResponseReturnValue:
    session = get_session()
    ids = request.form.getlist("task_ids")
    try:
        units = atomic(
            session, lambda: service.remind(session, current_user, ids, request.form.get("note", ""))
        )
    except Invalid as err:
        return _redisplay(err)
    flash(_("Reminder sent to %(n)s unit(s).", n=units), "success")
    return redirect(request.referrer or url_for("supervision.tasks"))


def _redisplay(err: Invalid) -> ResponseReturnValue:
    session = get_session()
    rows = service.task_list(session, overdue=False)
    return render_template(
        "supervision/tasks.html",
        rows=rows,
        page=1,
        more=False,
        users=service.unit_caseworkers(session),
        now=now(),
        overdue=False,
        errors=err.fields,
        error=err,
    ), 422
