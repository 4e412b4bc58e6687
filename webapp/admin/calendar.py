"""The working-day calendar's years on /admin/calendar, and the banner that asks for the next.

Adding or changing a year is one transaction: the year's row (the table seeded from
``holidays.toml`` first when empty), the audit event on the admin's chain and the recomputed
provisional due dates of open tasks.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from webapp.admin.service import require_admin
from webapp.cases import history
from webapp.clock import now
from webapp.db import get_session
from webapp.deadlines import calendar as work_calendar
from webapp.deadlines import due
from webapp.errors import Invalid
from webapp.models import CalendarYear, User
from webapp.transactions import atomic

FIRST_YEAR, LAST_YEAR = 2000, 2100
SEPARATORS = re.compile(r"[\s,，、;；]+")


def _dates(text: str, year: int | None, field: str, fields: dict[str, list[str]]) -> list[dt.date]:
    days: list[dt.date] = []
    for token in (t for t in SEPARATORS.split(text) if t):
        try:
            day = dt.date.fromisoformat(token)
        except ValueError:
            fields.setdefault(field, []).append(_("%(value)s is not a date (YYYY-MM-DD).", value=token[:20]))
            continue
        if year is not None and day.year != year:
            fields.setdefault(field, []).append(
                _("%(day)s is not in %(year)s.", day=day.isoformat(), year=year)
            )
            continue
        days.append(day)
    return sorted(set(days))


def parse_year(year_text: str, holidays_text: str, workdays_text: str) -> tuple[int, list[str], list[str]]:
    """The year and its ISO dates, or Invalid naming each field that is wrong."""
    fields: dict[str, list[str]] = {}
    year: int | None = None
    if re.fullmatch(r"\d{4}", year_text.strip()) and FIRST_YEAR <= int(year_text) <= LAST_YEAR:
        year = int(year_text)
    else:
        fields["year"] = [_("A year between %(first)s and %(last)s.", first=FIRST_YEAR, last=LAST_YEAR)]
    holidays = _dates(holidays_text, year, "holidays", fields)
    workdays = _dates(workdays_text, year, "workdays", fields)
    if not holidays and "holidays" not in fields:
        fields["holidays"] = [_("Enter the year's holidays from the State Council's notice.")]
    weekdays = [d for d in workdays if d.weekday() < 5]
    if weekdays:
        fields.setdefault("workdays", []).append(
            _("Make-up working days are weekend days: %(days)s is not.", days=", ".join(map(str, weekdays)))
        )
    both = sorted(set(holidays) & set(workdays))
    if both:
        fields.setdefault("workdays", []).append(
            _("A day cannot be a holiday and a working day: %(days)s.", days=", ".join(map(str, both)))
        )
    if fields or year is None:
        raise Invalid(_("Please correct the highlighted fields."), fields)
    return year, [d.isoformat() for d in holidays], [d.isoformat() for d in workdays]


def save_year(session: Session, admin: User, year_text: str, holidays_text: str, workdays_text: str) -> int:
    """Add or replace a year; recompute the provisional due dates of open tasks. Returns how
    many due dates changed."""
    require_admin(admin)
    year, holidays, workdays = parse_year(year_text, holidays_text, workdays_text)
    work_calendar.seed(session)
    row = session.get(CalendarYear, year)
    added = row is None
    if row is None:
        row = CalendarYear(year=year)
        session.add(row)
    row.holidays, row.workdays, row.updated_by_id = holidays, workdays, admin.id
    row.updated_at = now()
    session.flush()
    recomputed = due.recompute_provisional(session, work_calendar.read(session))
    history.system_event(
        session,
        "calendar_year_added" if added else "calendar_year_changed",
        admin,
        year=year,
        holidays=holidays,
        workdays=workdays,
        recomputed_due_dates=recomputed,
    )
    session.flush()
    return recomputed


def _years(session: Session) -> list[dict[str, Any]]:
    calendar = work_calendar.read(session)
    stored = {r.year: r for r in session.scalars(select(CalendarYear))}
    rows = []
    for year in sorted(calendar.years, reverse=True):
        holidays, workdays = calendar.days_of(year)
        first = dt.date(year, 1, 1)
        days = (dt.date(year + 1, 1, 1) - first).days
        working = sum(calendar.is_working_day(first + dt.timedelta(days=n)) for n in range(days))
        row = stored.get(year)
        rows.append(
            {
                "year": year,
                "holidays": holidays,
                "workdays": workdays,
                "working": working,
                "updated_at": row.updated_at if row is not None and row.updated_by_id else None,
            }
        )
    return rows


def register(bp: Blueprint) -> None:
    """The page on the admin blueprint (its admins-only guard), the banner on every page."""
    bp.add_url_rule("/calendar", "calendar", calendar_page, methods=["GET", "POST"])
    bp.app_context_processor(_calendar_banner)


def calendar_page() -> ResponseReturnValue:
    session = get_session()
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    message = None
    if request.method == "POST":
        form = request.form
        values = {k: form.get(k, "") for k in ("year", "holidays", "workdays")}
        try:
            recomputed = atomic(
                session,
                lambda: save_year(
                    session, current_user, values["year"], values["holidays"], values["workdays"]
                ),
            )
            flash(
                _(
                    "Calendar year %(year)s saved; %(n)s provisional due dates recomputed.",
                    year=values["year"].strip(),
                    n=recomputed,
                ),
                "success",
            )
            return redirect(url_for("admin.calendar"))
        except Invalid as err:
            errors, message = err.fields, err.message
        finally:
            work_calendar.forget()  # read again on next use, committed or not
    else:
        wanted = request.args.get("year", "")
        if wanted.isdigit() and len(wanted) == 4:
            holidays, workdays = work_calendar.read(session).days_of(int(wanted))
            values = {
                "year": wanted,
                "holidays": "\n".join(map(str, holidays)),
                "workdays": "\n".join(map(str, workdays)),
            }
    return render_template(
        "admin/calendar.html",
        years=_years(session),
        missing=work_calendar.missing_year(),
        errors=errors,
        message=message,
        values=values,
    ), 422 if errors else 200


def _calendar_banner() -> dict[str, Any]:
    def calendar_missing_year() -> int | None:
        """The year to ask supervisors and administrators for (None: nothing to show)."""
        user = g.get("user")
        if user is None or not (user.has_role("supervisor") or user.has_role("admin")):
            return None
        try:
            return work_calendar.missing_year()
        except SQLAlchemyError:  # an error page (database down) must still render
            return None

    return {"calendar_missing_year": calendar_missing_year}
