"""The statistics page (/stats/): the figures of a period with charts, each beside its table,
and each table as CSV or XLSX. The office, supervisors, admins and auditors see every unit's
figures and may filter by unit or bank; any other user sees only its own unit's (a bank: the
cases it reported)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.db import get_session
from webapp.deadlines.calendar import LOCAL, local_today
from webapp.errors import NotFound
from webapp.models import Unit
from webapp.stats import rollups, tables
from webapp.stats.figures import Figures, figures
from webapp.templating import STAGES, unit_name

bp = Blueprint("stats", __name__, url_prefix="/stats")

PERIODS = ("week", "month", "quarter", "year", "custom")
# the weekly trend has a CASE branch a week: three years at most
MAX_DAYS = 3 * 366
BANK_KINDS = ("bank", "guarantor")


def _date_arg(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


@bp.app_template_global()
def rollup_note(first: dt.date, last: dt.date) -> str:
    """What the assessment says of the days of its period read from the daily rollups
    (webapp/stats/rollups.py), or nothing when it counted every day live."""
    found = rollups.note(
        get_session(), rollups.local_start(first), rollups.local_start(last + dt.timedelta(days=1))
    )
    if found is None:
        return ""
    at = found["folded_at"].astimezone(LOCAL).strftime("%Y-%m-%d %H:%M") if found["folded_at"] else "?"
    return _(
        "Tasks completed and reminders up to %(day)s are the daily totals folded at %(at)s; "
        "later days are counted live.",
        day=found["last"].isoformat(),
        at=at,
    )


def _query() -> dict[str, Any]:
    """The period and the filters asked for, the user's own unit forced when it sees only its
    own figures."""
    today = local_today()
    kind = request.args.get("period", "month")
    if kind not in PERIODS:
        kind = "month"
    error = None
    if kind == "custom":
        first, last = _date_arg("from"), _date_arg("to")
        if first is None or last is None or first > last or (last - first).days > MAX_DAYS:
            error = _("Give a start and an end date, the start first, at most three years apart.")
            kind = "month"
        else:
            start, end = first, last
    if kind != "custom":
        start, end = tables.this_period(kind, today)
    unit = request.args.get("unit") or None
    bank = request.args.get("bank") or None
    if not current_user.sees_all_cases:
        own = current_user.unit_code
        unit, bank = (None, own) if current_user.unit.kind in BANK_KINDS else (own, None)
    elif unit and bank:
        error, bank = _("Choose a unit or a bank, not both."), None
    return {"kind": kind, "start": start, "end": end, "unit": unit, "bank": bank, "error": error}


def _figures(query: dict[str, Any]) -> Figures:
    return figures(get_session(), query["start"], query["end"], query["unit"], query["bank"])


def _filters_text(query: dict[str, Any]) -> str:
    parts = []
    if query["unit"]:
        parts.append(_("Unit: %(name)s", name=unit_name(query["unit"])))
    if query["bank"]:
        parts.append(_("Bank: %(name)s", name=unit_name(query["bank"])))
    return "; ".join(parts) or _("All units")


def _tables(found: Figures) -> dict[str, tables.Table]:
    return tables.build(found, unit_name, lambda s: str(STAGES.get(s, s)))


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    query = _query()
    found = _figures(query)
    built = _tables(found)
    units = banks = []
    if current_user.sees_all_cases:
        rows = get_session().execute(select(Unit.code, Unit.kind).order_by(Unit.kind, Unit.code)).all()
        units = [code for code, kind in rows if kind not in BANK_KINDS]
        banks = [code for code, kind in rows if kind in BANK_KINDS]
    # what the charts draw (static/js/stats.js reads it; the tables beside them say the same)
    charts = {
        "weeks": [w.monday.isoformat() for w in found.weeks],
        "reported": [w.reported for w in found.weeks],
        "settled": [w.settled for w in found.weeks],
        "recovered": [float(w.recovered) for w in found.weeks],
        "stages": [[str(STAGES.get(s, s)), n] for s, n in found.stages],
        "overdue_units": [unit_name(o.unit_code) for o in found.overdue],
        "overdue_open": [o.open_overdue for o in found.overdue],
        "overdue_late": [o.completed_late for o in found.overdue],
        "labels": {
            "reported": _("Reported"),
            "settled": _("Settled"),
            "recovered": _("Recovered (yuan)"),
            "open_overdue": _("Open and overdue"),
            "completed_late": _("Completed late"),
        },
    }
    args = {k: v for k, v in request.args.items() if k in ("period", "from", "to", "unit", "bank")}
    return render_template(
        "stats/index.html",
        q=query,
        f=found,
        tables=built,
        text=tables.text,
        units=units,
        banks=banks,
        periods=PERIODS,
        charts=charts,
        args=args,
        filters=_filters_text(query),
    )


@bp.get("/export.<file_format>")
@login_required
def export(file_format: str) -> ResponseReturnValue:
    if file_format not in tables.FORMATS:
        raise NotFound(_("No such format."))
    name = request.args.get("table", "summary")
    if name not in tables.NAMES:
        raise NotFound(_("No such table."))
    query = _query()
    found = _figures(query)
    table = _tables(found)[name]
    writer = tables.to_csv if file_format == "csv" else tables.to_xlsx
    return Response(
        writer(table, found, _filters_text(query)),
        content_type=tables.FORMATS[file_format],
        headers={"Content-Disposition": f"attachment; filename={tables.filename(table, found, file_format)}"},
    )
