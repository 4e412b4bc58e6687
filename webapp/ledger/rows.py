"""Checking a ledger file's header and rows, cell by cell, against the report form.

A row is one loan. Its cells are converted (amounts with thousands separators or a currency
sign, dates as Excel or Chinese writing has them, choices by code or title) and the row is
validated as a one-loan report by the report form's own JSON Schema, so a file and the web
form accept exactly the same debtors.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import fastjsonschema
from flask_babel import gettext as _

from webapp.cases.identifiers import normalize
from webapp.errors import Invalid
from webapp.ledger.columns import DEBTOR_FIELDS, LOAN_FIELDS, Column, fold
from webapp.ledger.reader import Cell, LedgerFileError, encoding_message
from webapp.taskforms import FormSchema
from webapp.taskforms.validation import field_errors

# a text cell starting with one of these is a formula to a spreadsheet (CSV injection)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")
AMOUNT_NOISE = re.compile(r"[,，\s¥￥元]")
# the reasons column of an error file: a fixed error file is uploaded as it is
IGNORED_HEADERS = {fold("错误原因"), fold("Errors")}


@dataclass(frozen=True)
class Layout:
    """Which column of the file holds which field."""

    columns: list[Column]
    positions: dict[str, int]  # column key -> index in the file's rows
    language: str  # zh or en: the header's language, used for the error file

    @property
    def width(self) -> int:
        return max(self.positions.values()) + 1


@dataclass
class RowCheck:
    row_no: int
    cells: list[str]
    data: dict[str, Any] | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


def layout(header: Sequence[str], columns: list[Column], encoding: str | None = None) -> Layout:
    """Map the header to columns; ``LedgerFileError`` for unknown, repeated or missing ones."""
    by_name: dict[str, Column] = {}
    for col in columns:
        for name in (col.title_zh, col.title_en, col.key):
            by_name[fold(name)] = col
    positions: dict[str, int] = {}
    unknown: list[str] = []
    repeated: list[str] = []
    zh = 0
    for index, title in enumerate(header):
        if not title.strip() or fold(title) in IGNORED_HEADERS:
            continue
        match = by_name.get(fold(title))
        if match is None:
            unknown.append(title.strip())
        elif match.key in positions:
            repeated.append(title.strip())
        else:
            positions[match.key] = index
            zh += fold(title) == fold(match.title_zh)
    if not positions and encoding == "gbk":
        # nothing matched and the bytes were only readable as GBK: most likely another encoding
        raise LedgerFileError(encoding_message())
    language = "zh" if zh >= len(positions) / 2 else "en"
    missing = [c.title(language) for c in columns if c.required and c.key not in positions]
    problems = []
    if unknown:
        problems.append(_("unknown columns: %(names)s", names="、".join(unknown)))
    if repeated:
        problems.append(_("columns given twice: %(names)s", names="、".join(repeated)))
    if missing:
        problems.append(_("missing columns: %(names)s", names="、".join(missing)))
    if problems:
        raise LedgerFileError(
            _(
                "The header row does not match the ledger template (%(problems)s). Download the "
                "template and copy the data under its headers; if the headers look garbled, save the "
                'file as "CSV UTF-8" or .xlsx.',
                problems="; ".join(problems),
            )
        )
    return Layout(columns, positions, language)


class RowChecker:
    """Checks rows of one file; built once per file (the schema validator is compiled once)."""

    def __init__(self, report: FormSchema, file_layout: Layout, today: dt.date) -> None:
        self.layout = file_layout
        self.today = today
        self.validator = report.validator
        # most rows are valid: a compiled check passes them ~20x faster than jsonschema, which
        # then only explains the rows that fail (the form uses no keyword past draft 7)
        plain = {k: v for k, v in report.schema.items() if k not in ("$schema", "$id")}
        self.passes = fastjsonschema.compile({**plain, "$schema": "http://json-schema.org/draft-07/schema#"})

    def check(self, row_no: int, raw: Sequence[Cell]) -> RowCheck:
        positions = self.layout.positions
        cells = [
            _display(raw[positions[c.key]]) if positions.get(c.key, len(raw)) < len(raw) else ""
            for c in self.layout.columns
        ]
        result = RowCheck(row_no, cells)
        values: dict[str, Any] = {}
        for col in self.layout.columns:
            index = self.layout.positions.get(col.key)
            if index is None or index >= len(raw):
                continue
            value, error = self._convert(col, raw[index])
            if error:
                result.errors[col.key] = [error]
            elif value is not None:
                values[col.key] = value
        report = self.document(values)
        for path, messages in self._errors(report).items():
            key = self.column_of(path)
            if key is None:
                continue
            if key not in result.errors:
                result.errors[key] = messages
        if "identifier" in values and "identifier" not in result.errors and "debtor_kind" in values:
            try:
                report["identifier"] = normalize(report["debtor_kind"], values["identifier"])
            except Invalid as err:
                result.errors["identifier"] = err.fields["identifier"]
        if not result.errors:
            result.data = report
        return result

    def document(self, values: dict[str, Any]) -> dict[str, Any]:
        """A row's converted cells as the form's document: a report of one loan."""
        report = {k: v for k, v in values.items() if k not in LOAN_FIELDS}
        report["loans"] = [{k: v for k, v in values.items() if k in LOAN_FIELDS}]
        return report

    def column_of(self, path: str) -> str | None:
        """The column an error of the document at ``path`` belongs to (None: left out)."""
        key = path.rsplit(".", 1)[-1] if path.startswith("loans.") else path
        return None if key == "loans" else key  # an empty loan: its own required fields say which

    def _errors(self, report: dict[str, Any]) -> dict[str, list[str]]:
        try:
            self.passes(report)
        except fastjsonschema.JsonSchemaValueException:
            return field_errors(self.validator, report)
        return {}

    def _convert(self, col: Column, cell: Cell) -> tuple[Any, str | None]:
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            return None, None
        if col.kind == "number":
            return _amount(cell)
        if col.kind == "date":
            return self._date(cell)
        if col.key == "identifier" and isinstance(cell, int | float):
            return None, _(
                "The number was stored as a number and Excel keeps only 15 digits of it; format the "
                "column as text and type it again."
            )
        text = _display(cell).strip()
        if text.startswith(FORMULA_PREFIXES):
            return None, _("Formulas are not accepted in a ledger; enter the value itself.")
        if col.kind == "choice":
            code = col.choices.get(fold(text))
            if code is None:
                return None, _("Unknown value; choose one of the values listed in the template.")
            return code, None
        if col.key == "identifier":
            text = text.upper()
        return text, None

    def _date(self, cell: Cell) -> tuple[Any, str | None]:
        if isinstance(cell, dt.datetime):
            day: dt.date | None = cell.date()
        elif isinstance(cell, dt.date):
            day = cell
        else:
            day = _parse_date(str(cell).strip())
        if day is None:
            return None, _("Enter a valid date (YYYY-MM-DD).")
        if day > self.today:
            return None, _("The date lies in the future.")
        return day.isoformat(), None


def _amount(cell: Cell) -> tuple[Any, str | None]:
    if isinstance(cell, bool | dt.date):
        return None, _("Enter a valid number.")
    if isinstance(cell, int | float):
        number = Decimal(str(cell))
    else:
        try:
            number = Decimal(AMOUNT_NOISE.sub("", str(cell)))
        except InvalidOperation:
            return None, _("Enter a valid number.")
    if not number.is_finite():
        return None, _("Enter a valid number.")
    if number != number.quantize(Decimal("0.01")):
        return None, _("Amounts have at most two decimal places (fen).")
    return (int(number) if number == number.to_integral_value() else float(number)), None


def _parse_date(text: str) -> dt.date | None:
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _display(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, dt.datetime):
        return cell.date().isoformat() if cell.time() == dt.time() else cell.isoformat(sep=" ")
    if isinstance(cell, dt.date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def debtor_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The fields of a checked row that belong to the debtor, not the loan."""
    return {k: v for k, v in data.items() if k in DEBTOR_FIELDS}
