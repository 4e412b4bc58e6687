"""Opening an uploaded ledger file: CSV (UTF-8, GBK/GB18030 as Chinese Excel saves it, or
UTF-16 "Unicode text") or XLSX, told apart by their bytes, not their names.

Hostile files are refused before any row is read: oversized files, zip bombs dressed as
workbooks (declared sizes and ratios are checked; Python's zipfile never inflates past a
declared size), old binary .xls, binary data, and text in other encodings. Workbooks are
parsed by openpyxl through defusedxml, so XML entity expansion is refused too.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from flask_babel import gettext as _

from webapp.errors import Invalid

Cell = str | int | float | dt.datetime | dt.date | None

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # .xls (Excel 97-2003) and other OLE documents
# a ledger workbook's parts compress 5-20x; far beyond that is a bomb, not a spreadsheet
MAX_RATIO = 100
MAX_PARTS = 200


def encoding_message() -> str:  # translated when raised, in the request's language
    return _(
        "The file's text encoding is not recognised (UTF-8 or GBK expected). Save it from Excel "
        'as "CSV UTF-8" or as .xlsx and upload it again.'
    )


class LedgerFileError(Invalid):
    """The file as a whole cannot be read; nothing was stored."""

    def __init__(self, message: str) -> None:
        super().__init__(message, {"file": [message]})


def oversized_cell(row: int, max_chars: int) -> LedgerFileError:
    return LedgerFileError(
        _(
            "Row %(row)s has a cell of more than %(n)s characters, longer than any ledger field; "
            "check the file's columns and separators.",
            row=row,
            n=f"{max_chars:,}",
        )
    )


@dataclass
class Sheet:
    file_format: str  # csv or xlsx
    encoding: str | None
    header: list[str]
    # (row number as a spreadsheet shows it, cells) for each non-blank row after the header
    rows: Iterator[tuple[int, list[Cell]]]


def open_ledger(data: bytes, *, max_bytes: int, max_unpacked_bytes: int) -> Sheet:
    if not data:
        raise LedgerFileError(_("The file is empty."))
    if len(data) > max_bytes:
        raise LedgerFileError(
            _("The file is larger than %(limit)s; split it into several files.", limit=size_label(max_bytes))
        )
    if data.startswith(ZIP_MAGIC):
        return _open_xlsx(data, max_unpacked_bytes)
    if data.startswith(OLE_MAGIC):
        raise LedgerFileError(
            _("Old Excel files (.xls) are not accepted; save the file as .xlsx or CSV and upload it again.")
        )
    return _open_csv(data)


def size_label(size: int) -> str:
    return f"{size / 2**20:.0f} MB" if size >= 2**20 else f"{size / 2**10:.0f} KB"


def _open_csv(data: bytes) -> Sheet:
    text, encoding = _decode(data)
    if "\x00" in text:
        raise LedgerFileError(_("The file is not a CSV text file or an XLSX workbook."))
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = _first_row(reader)
    except csv.Error as err:
        raise LedgerFileError(_("The CSV file cannot be read: %(error)s", error=str(err))) from err

    def rows() -> Iterator[tuple[int, list[Cell]]]:
        try:
            for cells in reader:
                if any(c.strip() for c in cells):
                    yield reader.line_num, list(cells)
        except csv.Error as err:
            if "field larger than field limit" in str(err):  # the csv module's own bound
                raise oversized_cell(reader.line_num, csv.field_size_limit()) from err
            raise LedgerFileError(
                _("The CSV file cannot be read at line %(line)s: %(error)s", line=reader.line_num, error=err)
            ) from err

    return Sheet("csv", encoding, [str(c) for c in header], rows())


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    else:
        for encoding, label in (("utf-8-sig", "utf-8"), ("gb18030", "gbk")):
            try:
                return data.decode(encoding), label
            except UnicodeDecodeError:
                continue
    raise LedgerFileError(encoding_message())


def _first_row(reader: Iterator[list[str]]) -> list[str]:
    for cells in reader:
        if any(c.strip() for c in cells):
            return cells
    raise LedgerFileError(_("The file has no header row."))


def _open_xlsx(data: bytes, max_unpacked_bytes: int) -> Sheet:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except zipfile.BadZipFile as err:
        raise LedgerFileError(_("The workbook is damaged and cannot be opened.")) from err
    unpacked = sum(p.file_size for p in parts)
    too_dense = any(p.file_size > 2**20 and p.file_size > MAX_RATIO * max(p.compress_size, 1) for p in parts)
    if len(parts) > MAX_PARTS or unpacked > max_unpacked_bytes or too_dense:
        raise LedgerFileError(
            _("The workbook unpacks to far more data than a ledger holds; it was refused as unsafe.")
        )
    # imported here: openpyxl is only needed for workbooks
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        # read_only streams the sheet; formulas stay visible as text ("=...") to be refused
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (InvalidFileException, KeyError, ValueError, zipfile.BadZipFile, OSError) as err:
        raise LedgerFileError(_("The file is not an Excel workbook (.xlsx) that can be read.")) from err
    except Exception as err:  # defusedxml's refusals and malformed XML
        raise LedgerFileError(_("The workbook's content is malformed or unsafe and was refused.")) from err
    sheet = book.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    number = 0
    header: list[Cell] | None = None
    for cells in values:
        number += 1
        if any(_filled(c) for c in cells):
            header = list(cells)
            break
    if header is None:
        book.close()
        raise LedgerFileError(_("The file has no header row."))

    def rows() -> Iterator[tuple[int, list[Cell]]]:
        row_no = number
        try:
            for cells in values:
                row_no += 1
                if any(_filled(c) for c in cells):
                    yield row_no, list(cells)
        except zipfile.BadZipFile as err:
            raise LedgerFileError(_("The workbook is damaged and cannot be opened.")) from err
        finally:
            book.close()

    return Sheet("xlsx", None, ["" if c is None else str(c) for c in header], rows())


def _filled(cell: object) -> bool:
    return cell is not None and (not isinstance(cell, str) or cell.strip() != "")
