"""Files the ledger hands out: the template (Chinese or English headers, CSV or XLSX) and
a batch's error file, which has the template's columns plus the reasons, so the fixed file
can be uploaded again as it is.

Cells written out are neutralised: a value a spreadsheet would run as a formula gets a
leading apostrophe (CSV injection on re-export).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from flask_babel import force_locale
from flask_babel import gettext as _

from webapp.ledger.columns import Column, choice_titles
from webapp.ledger.rows import FORMULA_PREFIXES
from webapp.taskforms import FormSchema

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ERRORS_TITLES = {"zh": "错误原因", "en": "Errors"}


def safe(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _csv(header: list[str], rows: Iterable[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([safe(v) for v in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8


def _xlsx(header: list[str], rows: Iterable[list[str]], notes: list[list[str]] | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook(write_only=False)
    sheet = book.active
    sheet.title = "ledger"
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index in range(1, len(header) + 1):
        # text columns keep 18-digit identity numbers and leading zeros intact
        sheet.column_dimensions[sheet.cell(1, index).column_letter].number_format = "@"
        sheet.column_dimensions[sheet.cell(1, index).column_letter].width = 18
    for row in rows:
        sheet.append([safe(v) for v in row])
    if notes:
        info = book.create_sheet("notes")
        for line in notes:
            info.append([safe(v) for v in line])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template(report: FormSchema, cols: list[Column], language: str, file_format: str) -> bytes:
    header = [c.title(language) for c in cols]
    if file_format == "csv":
        return _csv(header, [])
    with force_locale(language):
        notes = [[_("Column"), _("Required"), _("Values")]]
        for col in cols:
            values = "、".join(choice_titles(report, col.key, language)) if col.kind == "choice" else ""
            if col.kind == "date":
                values = "YYYY-MM-DD"
            elif col.kind == "number":
                values = _("amount in yuan, two decimals at most")
            notes.append([col.title(language), _("yes") if col.required else "", values])
    return _xlsx(header, [], notes)


def error_file(
    cols: list[Column],
    language: str,
    rows: Iterable[tuple[list[str], dict[str, list[str]]]],
    file_format: str,
) -> bytes:
    """The invalid rows (cells in template order) with their reasons in a last column."""
    titles = {c.key: c.title(language) for c in cols}
    header = [*titles.values(), ERRORS_TITLES[language]]
    lines = (
        [*cells, "；".join(f"{titles.get(key, key)}: {' '.join(msgs)}" for key, msgs in errors.items())]
        for cells, errors in rows
    )
    return _csv(header, lines) if file_format == "csv" else _xlsx(header, lines)
