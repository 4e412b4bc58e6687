from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.audit import anchor, labels, replay
from webapp.cases import queries
from webapp.db import get_session
from webapp.errors import Forbidden
from webapp.models import Task, Unit, User
from webapp.paging import page_arg
from webapp.templating import EVENTS, bilingual, local_time, unit_name

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.before_request
@login_required
def _auditors_and_office_only() -> None:
    if not current_user.sees_all_cases:
        raise Forbidden(_("The audit pages are for auditors and the group office."))


@bp.get("/cases/<int:case_id>")
def replay_case(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, current_user, case_id)
    steps = replay.steps(session, case)
    # each step's changes as people read them: the titles and choices of the task's form
    forms = dict(session.execute(select(Task.id, Task.form).where(Task.case_id == case.id)).all())
    forms_dir = str(current_app.config["FORMS_DIR"])
    payload = [
        {**_step_json(s), "shown_changes": labels.changes(s, forms.get(s.event.task_id or ""), forms_dir)}
        for s in steps
    ]
    start = min(max(request.args.get("step", len(payload), type=int) or 1, 1), max(len(payload), 1))
    return render_template(
        "audit/replay.html",
        case=case,
        steps=payload,
        start=start,
        verdict=replay.verdict(session, case),
        describe=labels.describe,
    )


def _step_json(step: replay.Step) -> dict[str, Any]:
    e = step.event
    return {
        "seq": e.seq,
        "id": e.id,
        "kind": str(EVENTS.get(e.kind, e.kind)),
        "when": local_time(e.created_at, "%Y-%m-%d %H:%M:%S"),
        "actor": step.actor,
        "unit": unit_name(e.unit_code),
        "task": bilingual(step.task_title),
        "element": e.element_id or "",
        "data": e.data or {},
        "changes": step.changes,
        "attachments": [
            {"id": a, "url": url_for("cases.attachment", attachment_id=a)} for a in step.attachments
        ],
        # the files the step recorded, hashed again now and compared with the history
        "files": [
            {
                "id": f.attachment_id,
                "name": f.name,
                "sha256": f.sha256,
                "state": f.state,
                "verdict": str(replay.FILE_STATES[f.state]),
                "url": url_for("cases.attachment", attachment_id=f.attachment_id),
            }
            for f in step.files
        ],
        "active": e.active_elements or [],
        "completed": e.completed_elements or [],
        "hash": e.hash,
    }


@bp.get("/cases/<int:case_id>/export.json")
def export_json(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, current_user, case_id)
    return Response(
        replay.export_json(session, case),
        mimetype="application/json",
        headers={"Content-Disposition": f"attachment; filename=case-{case.id}-history.json"},
    )


@bp.get("/cases/<int:case_id>/export.csv")
def export_csv(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, current_user, case_id)
    # UTF-8 with BOM so that Chinese Excel opens it correctly
    return Response(
        "\ufeff" + replay.export_csv(session, case),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=case-{case.id}-history.csv"},
    )


@bp.get("/cases/<int:case_id>/print")
def print_case(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, current_user, case_id)
    names = {username: name for username, name in session.execute(select(User.username, User.display_name))}
    rows = [
        {
            **row,
            "when": local_time(dt.datetime.fromisoformat(row["created_at"]), "%Y-%m-%d %H:%M:%S"),
            "actor": names.get(row["actor"] or "", ""),
            "data": _readable(row["data"]),
        }
        for row in replay.export_rows(session, case)
    ]
    return render_template(
        "audit/print.html",
        case=case,
        rows=rows,
        verdict=replay.verdict(session, case),
        describe=labels.describe,
    )


def _readable(data: dict[str, Any] | None) -> list[tuple[str, str]]:
    """An event's data as "key: value" lines, Chinese text as it is (not escaped)."""
    return [
        (key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in (data or {}).items()
    ]


@bp.get("/events")
def events() -> ResponseReturnValue:
    page, limit, offset = page_arg()
    query = replay.EventQuery(
        actor=request.args.get("actor") or None,
        unit=request.args.get("unit") or None,
        kind=request.args.get("kind") or None,
        start=_date(request.args.get("from")),
        end=_date(request.args.get("to"), next_day=True),
    )
    rows = replay.search(get_session(), query, limit=limit, offset=offset)
    return render_template(
        "audit/events.html",
        rows=rows,
        args=request.args,
        kinds=sorted(EVENTS),
        units=list(get_session().scalars(select(Unit.code).order_by(Unit.code))),  # chosen by name
        page=page,
        more=len(rows) == limit,
    )


@bp.get("/verify")
def verify() -> ResponseReturnValue:
    verdicts = anchor.verify(get_session(), current_app.config)
    return render_template(
        "audit/verify.html",
        verdicts=verdicts,
        broken=[v for v in verdicts if not v.ok],
        describe=labels.describe,
        chain_label=labels.chain_label,
    )


def _date(value: str | None, next_day: bool = False) -> dt.datetime | None:
    """A local (China) date from a date input, as the UTC instant it starts (or the next day's)."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value) + dt.timedelta(days=1 if next_day else 0)
    except (ValueError, OverflowError):
        return None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone(dt.timedelta(hours=8))).astimezone(
        dt.UTC
    )
