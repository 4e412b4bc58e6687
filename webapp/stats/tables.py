"""The statistics page's tables (each chart's accessible truth) and their CSV and XLSX files.

A table is built once from ``Figures`` and rendered three ways: on the page, as CSV and as
XLSX, so the three always agree.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webapp.ledger.files import CSV_TYPE, XLSX_TYPE, safe
from webapp.stats.figures import Figures

FORMATS = {"csv": CSV_TYPE, "xlsx": XLSX_TYPE}
NAMES = ("summary", "weeks", "stages", "ages", "measures", "overdue")
TITLES = {
    "summary": _l("Figures of the period"),
    "weeks": _l("Reported, settled and recovered per week"),
    "stages": _l("Open cases by stage"),
    "ages": _l("Open cases by age (days)"),
    "measures": _l("Sanctions by unit"),
    "overdue": _l("Overdue tasks by unit"),
}

Cell = str | int | Decimal | None


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    header: list[str]
    rows: list[list[Cell]]
    # the columns holding numbers (right-aligned on the page)
    numeric: frozenset[int]


def _rate(value: float | None) -> Decimal | None:
    """A share as a percentage with one decimal (None: nothing to divide)."""
    return None if value is None else (Decimal(value) * 100).quantize(Decimal("0.1"))


def build(
    figures: Figures, unit_name: Callable[[str], str], stage_label: Callable[[str], str]
) -> dict[str, Table]:
    f = figures
    summary: list[list[Cell]] = [
        [_("Debtors reported"), f.reported],
        [_("Confirmed"), f.confirmed],
        [_("Rejected"), f.rejected],
        [_("Interviews held"), f.interviews],
        [_("Deadlines expired"), f.deadlines_expired],
        [_("Cases sanctioned"), f.sanctioned],
        [_("Measures applied"), sum(m.measures for m in f.measures)],
        [_("Referrals"), f.referrals],
        [_("Referral answers"), f.referral_answers],
        [_("Settled and delisted"), f.settled],
        [_("Delisted (any reason)"), f.delisted],
        [_("Amount reported (yuan)"), f.amount_reported],
        [_("Amount recovered (yuan)"), f.amount_recovered],
        [_("Amount outstanding at the period's end (yuan)"), f.amount_outstanding],
    ]
    tables = [
        Table("summary", str(TITLES["summary"]), [_("Figure"), _("Value")], summary, frozenset({1})),
        Table(
            "weeks",
            str(TITLES["weeks"]),
            [_("Week from"), _("Reported"), _("Settled"), _("Recovered (yuan)")],
            [[w.monday.isoformat(), w.reported, w.settled, w.recovered] for w in f.weeks],
            frozenset({1, 2, 3}),
        ),
        Table(
            "stages",
            str(TITLES["stages"]),
            [_("Stage"), _("Open cases")],
            [[stage_label(s), n] for s, n in f.stages],
            frozenset({1}),
        ),
        Table(
            "ages",
            str(TITLES["ages"]),
            [_("Age (days)"), _("Open cases")],
            [[label, n] for label, n in f.ages],
            frozenset({1}),
        ),
        Table(
            "measures",
            str(TITLES["measures"]),
            [_("Unit"), _("Cases sanctioned"), _("Measures applied")],
            [[unit_name(m.unit_code), m.cases, m.measures] for m in f.measures],
            frozenset({1, 2}),
        ),
        Table(
            "overdue",
            str(TITLES["overdue"]),
            [
                _("Unit"),
                _("Open tasks"),
                _("Open and overdue"),
                _("Overdue rate (%)"),
                _("Completed in the period"),
                _("Completed late"),
                _("Late rate (%)"),
            ],
            [
                [
                    unit_name(o.unit_code),
                    o.open_tasks,
                    o.open_overdue,
                    _rate(o.open_rate),
                    o.completed,
                    o.completed_late,
                    _rate(o.late_rate),
                ]
                for o in f.overdue
            ],
            frozenset({1, 2, 3, 4, 5, 6}),
        ),
    ]
    return {t.name: t for t in tables}


def text(value: Cell) -> str:
    """A cell as the page and the CSV show it (amounts with two decimals)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value.as_tuple().exponent == -2 else str(value)
    return str(value)


def _period_rows(figures: Figures, filters: str) -> list[list[str]]:
    return [[_("Period"), f"{figures.start.isoformat()} – {figures.end.isoformat()}"], [_("Filter"), filters]]


def to_csv(table: Table, figures: Figures, filters: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe(h) for h in table.header])
    writer.writerows([safe(text(v)) for v in row] for row in table.rows)
    writer.writerow([])
    writer.writerows([safe(v) for v in row] for row in _period_rows(figures, filters))
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8


def to_xlsx(table: Table, figures: Figures, filters: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = table.name
    sheet.append([safe(h) for h in table.header])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table.rows:
        # numbers stay numbers (a spreadsheet sums them); text is neutralised
        sheet.append([safe(v) if isinstance(v, str) else _number(v) for v in row])
    for index in range(1, len(table.header) + 1):
        sheet.column_dimensions[sheet.cell(1, index).column_letter].width = 20
    for row_cells in sheet.iter_rows(min_row=2):
        for cell in row_cells:
            if isinstance(cell.value, Decimal | float):
                cell.number_format = "#,##0.00" if table.name != "overdue" else "0.0"
    about = book.create_sheet("period")
    for line in _period_rows(figures, filters):
        about.append([safe(v) for v in line])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _number(value: Cell) -> Any:
    return value


def filename(table: Table, figures: Figures, file_format: str) -> str:
    return f"stats-{table.name}-{figures.start:%Y%m%d}-{figures.end:%Y%m%d}.{file_format}"


def this_period(kind: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """This week, month, quarter or year up to today (local days, both included)."""
    if kind == "week":
        return today - dt.timedelta(days=today.weekday()), today
    if kind == "quarter":
        return dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1), today
    if kind == "year":
        return dt.date(today.year, 1, 1), today
    return today.replace(day=1), today
