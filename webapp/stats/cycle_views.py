"""Pages of the cycle times (a heatmap on the diagram) and of the unit assessment."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp import catalog
from webapp.cases.versions import definition_of
from webapp.clock import now
from webapp.db import get_session
from webapp.errors import Forbidden, NotFound
from webapp.models import ProcessVersion
from webapp.stats import assessment, cooperation, cycle_times
from webapp.stats.cycle_times import Period
from webapp.templating import bilingual, unit_name

bp = Blueprint("cycle_times", __name__, url_prefix="/stats")

# the default period: the last 90 days up to today
DEFAULT_DAYS = 90
HEAT_LEVELS = 5


def _zone() -> ZoneInfo:
    return ZoneInfo(str(current_app.config["BABEL_DEFAULT_TIMEZONE"]))


def _date_arg(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def _period() -> tuple[dt.date, dt.date, Period]:
    """The days ``from``..``to`` (both included, in the office's time zone)."""
    zone = _zone()
    last = _date_arg("to") or now().astimezone(zone).date()
    first = _date_arg("from") or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        first, last = last, first
    start = dt.datetime.combine(first, dt.time(), zone)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone)
    return first, last, Period(start.astimezone(dt.UTC), end.astimezone(dt.UTC))


def _require_all_seeing() -> None:
    if not current_user.sees_all_cases:
        raise Forbidden(_("Only the group office and auditors see these figures."))


def _days(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _csv(rows: list[list[Any]], filename: str) -> Response:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    # the BOM lets Excel read the Chinese names
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={filename}"},
    )


@bp.get("/cycle-times")
@login_required
def heatmap() -> ResponseReturnValue:
    _require_all_seeing()
    first, last, period = _period()
    session = get_session()
    steps = cycle_times.step_times(session, period)
    slowest = max((s.p50_days for s in steps), default=0.0)
    heat = {
        s.element_id: {
            "level": cycle_times.heat_level(s.p50_days, slowest, HEAT_LEVELS),
            "label": _("Median %(days)s d", days=_days(s.p50_days)),
        }
        for s in steps
    }
    processes = catalog.current().processes
    process = request.args.get("process") or next(iter(processes))
    if process not in processes:
        raise NotFound(_("No such process."))
    return render_template(
        "stats/cycle_times.html",
        processes=processes.values(),
        process=process,
        first=first,
        last=last,
        steps=steps,
        cases=cycle_times.case_times(session, period),
        heat=heat,
        levels=HEAT_LEVELS,
        slowest=slowest,
        days=_days,
    )


@bp.get("/cycle-times.csv")
@login_required
def heatmap_csv() -> ResponseReturnValue:
    _require_all_seeing()
    first, last, period = _period()
    session = get_session()
    rows: list[list[Any]] = [
        [_("Element"), _("Step"), _("Completed"), _("Median (days)"), _("90th percentile (days)")]
    ]
    for s in cycle_times.step_times(session, period):
        rows.append([s.element_id, bilingual(s.title), s.count, _days(s.p50_days), _days(s.p90_days)])
    cases = cycle_times.case_times(session, period)
    rows.append(
        ["", _("Report to delisting (cases)"), cases.count, _days(cases.p50_days), _days(cases.p90_days)]
    )
    return _csv(rows, f"cycle-times-{first}-{last}.csv")


@bp.get("/cycle-times/diagram.bpmn")
@login_required
def heatmap_diagram() -> ResponseReturnValue:
    """The latest deployed diagram of a process (``?process=``, the default process unless
    named), on which the heatmap is drawn."""
    _require_all_seeing()
    processes = catalog.current().processes
    key = request.args.get("process") or next(iter(processes))
    if key not in processes:
        raise NotFound(_("No such process."))
    version = get_session().scalar(
        select(ProcessVersion)
        .where(ProcessVersion.process_id == key)
        .order_by(ProcessVersion.id.desc())
        .limit(1)
    )
    if version is None:
        raise NotFound(_("No diagram is deployed yet."))
    return Response(definition_of(version).bpmn_xml, mimetype="application/xml")


def _process_arg() -> str | None:
    """``?process=``: a key of the catalogue, or None (every process)."""
    key = request.args.get("process") or None
    return key if key in catalog.current().processes else None


def _visible_scores(period: Period) -> list[assessment.UnitScore]:
    process = _process_arg()
    # one process's cases: counted live (the daily rollups add up every process)
    rows = (
        cooperation.ranking(get_session(), period, process)
        if process
        else assessment.ranking(get_session(), period)
    )
    if current_user.sees_all_cases:
        return rows
    # a unit sees its own row (with its rank among all) only
    return [r for r in rows if r.unit_code == current_user.unit_code]


@bp.get("/assessment")
@login_required
def assessment_page() -> ResponseReturnValue:
    first, last, period = _period()
    return render_template(
        "stats/assessment.html",
        first=first,
        last=last,
        rows=_visible_scores(period),
        weights=assessment.weights(),
        all_units=current_user.sees_all_cases,
        period_processes=catalog.current().processes.values(),
        process=_process_arg() or "",
    )


@bp.get("/assessment.csv")
@login_required
def assessment_csv() -> ResponseReturnValue:
    first, last, period = _period()
    rows: list[list[Any]] = [
        [
            _("Rank"),
            _("Unit"),
            _("Completed"),
            _("On time"),
            _("Late"),
            _("Average lateness (days)"),
            _("Reminders received"),
            _("Overdue open tasks"),
            _("Score"),
        ]
    ]
    for r in _visible_scores(period):
        rows.append(
            [
                r.rank,
                unit_name(r.unit_code),
                r.completed,
                r.on_time,
                r.late,
                f"{r.lateness_days:.2f}",
                r.reminders,
                r.overdue_open,
                f"{r.score:.1f}",
            ]
        )
    return _csv(rows, f"assessment-{first}-{last}.csv")
