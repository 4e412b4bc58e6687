"""``/referrals/``: every referred case and its chain, for the political-legal committee,
the group office and auditors (``referrals.may_view_referrals``)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.cases import referrals
from webapp.db import get_session
from webapp.errors import Forbidden
from webapp.paging import page_arg

bp = Blueprint("referrals", __name__, url_prefix="/referrals")


@bp.before_request
@login_required
def _referral_viewers_only() -> None:
    if not referrals.may_view_referrals(current_user):
        raise Forbidden(_("Referred cases are for the political-legal committee and the group office."))


@bp.get("/")
def index() -> ResponseReturnValue:
    page, limit, offset = page_arg()
    target = request.args.get("target") or None
    if target not in referrals.TARGETS:
        target = None
    overdue = request.args.get("overdue") == "1"
    rows = referrals.referred_cases(
        get_session(),
        forms_dir=current_app.config["FORMS_DIR"],
        target=target,
        overdue_only=overdue,
        limit=limit,
        offset=offset,
    )
    return render_template(
        "referrals/index.html",
        rows=rows,
        targets=referrals.TARGETS,
        target=target or "",
        overdue=overdue,
        page=page,
        more=len(rows) == limit,
    )


@bp.get("/<int:case_id>")
def show(case_id: int) -> ResponseReturnValue:
    chain = referrals.chain(get_session(), case_id, forms_dir=current_app.config["FORMS_DIR"])
    return render_template("referrals/show.html", chain=chain, case=chain.case)
