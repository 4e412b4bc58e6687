from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.bulletins import export, service
from webapp.cases.visibility import SHOWN
from webapp.clock import now
from webapp.db import get_session
from webapp.deadlines.calendar import LOCAL
from webapp.errors import Invalid, NotFound
from webapp.inputs import is_id
from webapp.models import Case
from webapp.models.bulletins import ON_DEMAND
from webapp.models.cases import OPEN
from webapp.paging import page_arg
from webapp.transactions import atomic

bp = Blueprint("bulletins", __name__, url_prefix="/bulletins")
CASE_CHOICES = 200  # the latest open cases offered as typical cases


@bp.before_request
@login_required
def _logged_in() -> None:
    """Every logged-in user reads the bulletins (webapp.bulletins.service)."""


def _choices() -> list[tuple[int, str]]:
    rows = get_session().execute(
        select(Case.id, Case.debtor_name)
        .where(Case.status == OPEN, SHOWN)
        .order_by(Case.id.desc())
        .limit(CASE_CHOICES)
    )
    return [(case_id, name) for case_id, name in rows]


def _typical() -> list[int]:
    """The chosen typical cases' ids (a value that is no id is left out)."""
    return [int(v) for v in request.form.getlist("typical") if v.isdigit() and is_id(int(v))]


def _page(error: Invalid | None = None, status: int = 200) -> ResponseReturnValue:
    session = get_session()
    page, limit, offset = page_arg()
    rows = service.listing(session, limit, offset)
    today = now().astimezone(LOCAL).date()
    return (
        render_template(
            "bulletins/index.html",
            rows=rows,
            page=page,
            more=len(rows) == limit,
            may_generate=service.may_generate(current_user),
            choices=_choices() if service.may_generate(current_user) else [],
            default_start=request.form.get("start") or today.replace(day=1).isoformat(),
            default_end=request.form.get("end") or today.isoformat(),
            chosen=set(_typical()),
            kind_titles=export.KIND_TITLES,
            last_day=service.last_day,
            pdf_available=export.pdf_available(),
            error=error,
        ),
        status,
    )


@bp.get("/")
def index() -> ResponseReturnValue:
    return _page()


def _date(name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(request.form.get(name, ""))
    except ValueError:
        raise Invalid(
            _("Give the period's first and last day."), fields={name: [_("A date is required.")]}
        ) from None


@bp.post("/")
def generate() -> ResponseReturnValue:
    service.require_generator(current_user)
    session = get_session()
    try:
        first, last = _date("start"), _date("end")
        typical = _typical()
        bulletin = atomic(
            session,
            lambda: service.create(session, ON_DEMAND, first, last, user=current_user, typical=typical),
        )
    except Invalid as err:
        return _page(err, 422)
    flash(_("Bulletin %(number)s was made.", number=bulletin.number), "success")
    return redirect(url_for("bulletins.show", bulletin_id=bulletin.id))


@bp.get("/<int:bulletin_id>")
def show(bulletin_id: int) -> ResponseReturnValue:
    session = get_session()
    bulletin = service.get(session, bulletin_id)
    return render_template(
        "bulletins/show.html",
        bulletin=bulletin,
        title=export.title(bulletin),
        period=export.period_text(bulletin),
        issuer=export.issuer(session),
        made=export.date_zh(bulletin.created_at.astimezone(LOCAL).date()),
        sections=export.sections(session, bulletin),
        pdf_available=export.pdf_available(),
    )


@bp.get("/<int:bulletin_id>.xlsx")
def xlsx(bulletin_id: int) -> ResponseReturnValue:
    session = get_session()
    bulletin = service.get(session, bulletin_id)
    name = f"bulletin-{bulletin.year}-{bulletin.seq}.xlsx"
    return Response(
        export.to_xlsx(session, bulletin),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/<int:bulletin_id>.pdf")
def pdf(bulletin_id: int) -> ResponseReturnValue:
    session = get_session()
    bulletin = service.get(session, bulletin_id)
    content = export.to_pdf(session, bulletin)
    if content is None:
        raise NotFound(
            _("PDF is unavailable: LibreOffice is not installed on the server (or could not convert).")
        )
    return Response(
        content,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="bulletin-{bulletin.year}-{bulletin.seq}.pdf"'
        },
    )
