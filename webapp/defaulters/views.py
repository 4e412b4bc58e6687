"""The court's page to list a judgment defaulter."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.db import get_session
from webapp.defaulters import intake
from webapp.errors import Conflict, Invalid
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
