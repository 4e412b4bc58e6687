"""The batch look-up's files: the template, the uploaded list (CSV or XLSX, read as the
ledger reads its files), and the result workbook with one answer per row."""

from __future__ import annotations

import io
from collections.abc import Sequence

from flask_babel import gettext as _

from webapp.errors import Invalid
from webapp.ledger.columns import fold
from webapp.ledger.files import safe
from webapp.ledger.reader import LedgerFileError, open_ledger
from webapp.lookups.answers import DELISTED, LISTED, MAX_ROWS, Answer, Query, parse
from webapp.templating import local_time, measure_label

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
MAX_BYTES = 4 * 1024 * 1024
# header cells (compared folded) naming the two columns, in Chinese or English
IDENTIFIER_HEADERS = frozenset({"证件号码/统一社会信用代码", "证件号码", "统一社会信用代码", "identifier"})
NAME_HEADERS = frozenset({"名称", "姓名", "名称/姓名", "name"})


def template(language: str) -> bytes:
    """An empty list to fill in: the two columns (a row gives one of them)."""
    header = ["Identifier", "Name"] if language == "en" else ["证件号码/统一社会信用代码", "名称"]
    return _xlsx("lookups", [header])


def read(data: bytes) -> list[Query | Invalid]:
    """The questions of an uploaded list, one per non-blank row; a bad row becomes its
    ``Invalid`` (answered with the reason). A file that cannot be read as a whole, or has too
    many rows, raises ``Invalid``."""
    sheet = open_ledger(data, max_bytes=MAX_BYTES, max_unpacked_bytes=16 * MAX_BYTES)
    header = [fold(h) for h in sheet.header]
    ident_at = next((i for i, h in enumerate(header) if h in {fold(x) for x in IDENTIFIER_HEADERS}), None)
    name_at = next((i for i, h in enumerate(header) if h in {fold(x) for x in NAME_HEADERS}), None)
    if ident_at is None and name_at is None:
        raise LedgerFileError(
            _("The first row must name the columns: identifier and/or name (use the template).")
        )
    questions: list[Query | Invalid] = []
    for _row_no, cells in sheet.rows:
        if len(questions) >= MAX_ROWS:
            raise LedgerFileError(_("The file has more than %(n)s rows; split it.", n=f"{MAX_ROWS:,}"))
        ident = cells[ident_at] if ident_at is not None and ident_at < len(cells) else None
        name = cells[name_at] if name_at is not None and name_at < len(cells) else None
        try:
            questions.append(parse(_text(ident), _text(name)))
        except Invalid as err:
            questions.append(err)
    if not questions:
        raise LedgerFileError(_("The file has no rows to look up."))
    return questions


def _text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def status_label(status: str) -> str:
    if status == LISTED:
        return _("Listed")
    if status == DELISTED:
        return _("Delisted")
    return _("Not listed")


def result_rows(answers: Sequence[Answer]) -> list[list[str]]:
    """The result table: a header, then one row per question (a name found several debtors:
    one line per debtor, the row number repeated)."""
    rows = [
        [
            _("Row"),
            _("Asked"),
            _("Answer"),
            _("Debtor"),
            _("Listed since"),
            _("Delisted on"),
            _("Measures in force for your unit"),
            _("Case"),
            _("Error"),
        ]
    ]
    for number, a in enumerate(answers, start=1):
        asked = a.query.shown if a.query else ""
        if a.error is not None:
            rows.append([str(number), asked, "", "", "", "", "", "", a.error])
            continue
        if not a.matches:
            rows.append([str(number), asked, status_label(a.status), "", "", "", "", "", ""])
        for m in a.matches:
            rows.append(
                [
                    str(number),
                    asked,
                    status_label(m.status),
                    f"{m.name} {m.identifier_masked}",
                    local_time(m.listed_since, "%Y-%m-%d"),
                    local_time(m.delisted_at, "%Y-%m-%d"),
                    "；".join(measure_label(code) for code in m.measures),
                    str(m.case_id) if m.case_id else "",
                    "",
                ]
            )
    return rows


def result_file(answers: Sequence[Answer]) -> bytes:
    return _xlsx("result", result_rows(answers))


def _xlsx(title: str, rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append([safe(v) for v in row])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index in range(1, len(rows[0]) + 1):
        letter = sheet.cell(1, index).column_letter
        # text columns keep 18-character identifiers intact
        sheet.column_dimensions[letter].number_format = "@"
        sheet.column_dimensions[letter].width = 22
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
