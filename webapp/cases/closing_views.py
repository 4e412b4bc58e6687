"""The page to close a case without its normal exit (routes on the cases blueprint)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.cases import attachments, closing, queries, versions
from webapp.cases.views import bp
from webapp.db import get_session
from webapp.errors import Invalid
from webapp.taskforms import coerce_form
from webapp.transactions import atomic


@bp.route("/cases/<int:case_id>/close", methods=["GET", "POST"])
@login_required
def close(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, current_user, case_id)
    spec = versions.process_spec(session, case)
    closing.check_closer(current_user, spec)
    form = closing.form(current_app.config["FORMS_DIR"], spec)
    if request.method == "GET":
        return render_template("cases/close.html", case=case, form=form, values={}, errors={})
    file = request.files.get("evidence_file")

    def work() -> list[str]:
        upload = None
        if file is not None and file.filename:
            upload = attachments.Upload(file.stream, file.filename, field="evidence_file")
        return closing.close_case(
            session,
            current_user,
            case,
            coerce_form(form, request.form),
            current_app.config["FORMS_DIR"],
            upload,
            current_app.config["UPLOAD_DIR"],
        )

    try:
        lift_units = atomic(session, work)
    except Invalid as err:
        values, errors = request.form, err.fields
        return render_template("cases/close.html", case=case, form=form, values=values, errors=errors), 422
    if lift_units:
        flash(_("Case closed: the units that sanctioned the debtor now lift their sanctions."), "success")
    else:
        flash(_("Case closed."), "success")
    return redirect(url_for("cases.show", case_id=case_id))
