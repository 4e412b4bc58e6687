"""The court's page to list a judgment defaulter; the political-legal committee's view of
every unit's cooperation on judgment-defaulter cases."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp import catalog
from webapp.cases import referrals
from webapp.db import get_session
from webapp.defaulters import PROCESS, intake
from webapp.errors import Conflict, Forbidden, Invalid
from webapp.stats import cooperation
from webapp.taskforms import coerce_form
from webapp.transactions import atomic

bp = Blueprint("defaulters", __name__)


@bp.route("/defaulters/new", methods=["GET", "POST"])
@login_required
def new() -> ResponseReturnValue:
    intake.check_lister(current_user)
    session = get_session()
    form = intake.form(current_app.config["FORMS_DIR"])
    if request.method == "GET":
        return render_template("defaulters/new.html", form=form, values={}, errors={})
    try:
        case = atomic(
            session,
            lambda: intake.list_defaulter(
                session,
                current_user,
                coerce_form(form, request.form),
                forms_dir=current_app.config["FORMS_DIR"],
                processes_dir=current_app.config["PROCESSES_DIR"],
            ),
        )
    except Invalid as err:
        return render_template(
            "defaulters/new.html", form=form, values=request.form, errors=err.fields, error=err
        ), 422
    except Conflict as err:
        errors = {"enforcement_no": [err.message]}
        return render_template(
            "defaulters/new.html", form=form, values=request.form, errors=errors, error=err
        ), 409
    flash(
        _("Defaulter listed: case %(id)s opened; every cooperating unit has its task.", id=case.id), "success"
    )
    return redirect(url_for("cases.show", case_id=case.id))


def _date_arg(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


@bp.get("/defaulters/cooperation")
@login_required
def cooperation_page() -> ResponseReturnValue:
    """Every unit's cooperation on judgment-defaulter cases over a period (seed 004 §三(一)):
    for the political-legal committee, the group office (its supervisors) and auditors."""
    if not referrals.may_view_referrals(current_user):
        raise Forbidden(
            _("The units' cooperation is for the political-legal committee and the group office.")
        )
    zone = ZoneInfo(str(current_app.config["BABEL_DEFAULT_TIMEZONE"]))
    first, last, period = cooperation.period_of(_date_arg("from"), _date_arg("to"), zone)
    return render_template(
        "defaulters/cooperation.html",
        first=first,
        last=last,
        process=catalog.current().process(PROCESS),
        rows=cooperation.ranking(get_session(), period, PROCESS),
    )
