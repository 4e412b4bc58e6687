"""The documented limits of a ledger file, checked at upload over the whole file: at most
``LEDGER_MAX_ROWS`` rows (not counting the header and blank rows) and no cell longer than
``LEDGER_MAX_CELL_CHARS`` characters (32,767: Excel's own limit, so no spreadsheet a bank
saves has a longer one). A file over either is refused with 422 and nothing is stored.

A CSV file is read through the reader's own rows (about half a second for 100,000 rows).
A workbook is not: openpyxl takes some 25 s for 100,000 rows. Its first worksheet's XML is
first looked at as bytes (about 1.5 s for 100,000 rows): fewer row tags than the limit and
no run of text longer than the cell limit in bytes settle it. Otherwise the XML is streamed
through expat (some ten seconds for 100,000 rows), counting the rows that hold a value as
openpyxl's reading would (a cell with a value, an inline string or a formula; a shared
string that is not blank) and measuring every cell's text. DOCTYPEs and entity declarations
are refused as unsafe, as defusedxml refuses them in the reader.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from flask_babel import gettext as _

from webapp.ledger.reader import Cell, LedgerFileError, Sheet, oversized_cell

# Excel's limit on the characters of one cell
MAX_CELL_CHARS = 32_767
CHUNK = 1 << 20
OFFICE_DOCUMENT = "/officeDocument"
WORKSHEET = "/worksheet"
SHARED_STRINGS = "/sharedStrings"


def too_many_rows(max_rows: int) -> LedgerFileError:
    return LedgerFileError(_("The file has more than %(n)s rows; split it into several files.", n=max_rows))


def check(content: bytes, sheet: Sheet, *, max_rows: int, max_cell_chars: int = MAX_CELL_CHARS) -> None:
    """``LedgerFileError`` (422) when the file is over a limit; reads ``sheet.rows`` of a CSV."""
    if sheet.file_format == "xlsx":
        _workbook_rows(content, max_rows, max_cell_chars)
    else:
        _csv_rows(sheet, max_rows, max_cell_chars)


def _csv_rows(sheet: Sheet, max_rows: int, max_cell_chars: int) -> None:
    if any(len(title) > max_cell_chars for title in sheet.header):
        raise oversized_cell(1, max_cell_chars)
    for count, (row_no, cells) in enumerate(sheet.rows, start=1):
        if count > max_rows:
            raise too_many_rows(max_rows)
        if any(_length(c) > max_cell_chars for c in cells):
            raise oversized_cell(row_no, max_cell_chars)


def _length(cell: Cell) -> int:
    return len(cell) if isinstance(cell, str) else 0


# --- workbooks -------------------------------------------------------------------------------


def _workbook_rows(content: bytes, max_rows: int, max_cell_chars: int) -> None:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        parts = _parts(archive)
        if parts is None:  # a layout this scan does not know: the check of the rows has the limits
            return
        sheet_path, strings_path = parts
        # first at C speed (about half a second for 100,000 rows): the row elements are an upper
        # bound of the rows with a value, and no text run longer than the limit in bytes means
        # no cell longer than it in characters (a character takes at least one byte)
        rows, long_text = _quick(archive, sheet_path, max_cell_chars)
        if strings_path is not None and not long_text:
            long_text = _quick(archive, strings_path, max_cell_chars)[1]
        if rows - 1 <= max_rows and not long_text:
            return
        # it may be over a limit: counted and measured as openpyxl would read it (some ten
        # seconds for 100,000 rows; it stops at the first row or cell over the limit)
        strings = _shared_strings(archive, strings_path) if strings_path else _StringsScan()
        _parse(archive, sheet_path, _SheetScan(strings, max_rows, max_cell_chars))


def _quick(archive: zipfile.ZipFile, path: str, max_cell_chars: int) -> tuple[int, bool]:
    """(an upper bound of the row elements, whether some run of text is longer than
    ``max_cell_chars`` bytes). Bytes are counted, not parsed: "<row" also starts
    "<rowBreaks", ":row" a prefixed row ("<x:row"); a count too high only means the exact scan."""
    # text follows a tag's ">"; each chunk is cut after one, so its start follows one too
    long_run = re.compile(rb"(?:^|>)[^<>]{%d}" % (max_cell_chars + 1))
    rows, rest = 0, b""
    try:
        with archive.open(path) as stream:
            while chunk := stream.read(CHUNK):
                piece = rest + chunk
                cut = piece.rfind(b">") + 1  # the text after the last tag goes on with the next chunk
                done, rest = piece[:cut], piece[cut:]
                rows += done.count(b"<row") + done.count(b":row")
                if len(rest) > max_cell_chars or long_run.search(done):
                    return rows, True
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise LedgerFileError(_("The workbook is damaged and cannot be opened.")) from err
    return rows, False


def _parts(archive: zipfile.ZipFile) -> tuple[str, str | None] | None:
    """The first worksheet's part and the shared strings' part, as openpyxl finds them:
    the package's relationships name the workbook, the workbook's name its sheets."""
    names = set(archive.namelist())
    package = _relationships(archive, "_rels/.rels", "")
    book = next((target for kind, target in package.values() if kind.endswith(OFFICE_DOCUMENT)), None)
    if book is None or book not in names:
        return None
    folder, base = posixpath.split(book)
    rels = _relationships(archive, posixpath.join(folder, "_rels", base + ".rels"), folder)
    sheets = _Collect("sheet")
    _parse(archive, book, sheets)
    for attrs in sheets.found:
        # r:id, in the relationships namespace (expat names it "uri id")
        rel_id = next((v for k, v in attrs.items() if _local(k) == "id" and k != "id"), None)
        kind, target = rels.get(rel_id or "", ("", ""))
        if kind.endswith(WORKSHEET) and target in names:
            strings = next((t for k, t in rels.values() if k.endswith(SHARED_STRINGS) and t in names), None)
            return target, strings
    return None


def _relationships(archive: zipfile.ZipFile, path: str, folder: str) -> dict[str, tuple[str, str]]:
    """Id -> (type, part path) of a .rels part; an absent part has none."""
    if path not in archive.namelist():
        return {}
    collect = _Collect("Relationship")
    _parse(archive, path, collect)
    found = {}
    for attrs in collect.found:
        target = attrs.get("Target", "")
        if attrs.get("TargetMode") == "External" or not target:
            continue
        part = (
            target.lstrip("/")
            if target.startswith("/")
            else posixpath.normpath(posixpath.join(folder, target))
        )
        found[attrs.get("Id", "")] = (attrs.get("Type", ""), part)
    return found


def _parse(archive: zipfile.ZipFile, path: str, handler: _Handler) -> None:
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.CharacterDataHandler = handler.text
    try:
        with archive.open(path) as stream:
            while chunk := stream.read(CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except (expat.ExpatError, _Unsafe, zipfile.BadZipFile, zlib.error, EOFError, ValueError) as err:
        raise LedgerFileError(_("The workbook's content is malformed or unsafe and was refused.")) from err


class _Unsafe(Exception):
    pass


def _refuse_dtd(*_args: Any) -> None:
    raise _Unsafe


def _local(name: str) -> str:
    """An element's name without its namespace (expat gives "uri name")."""
    return name.rpartition(" ")[2]


class _Handler:
    def start(self, name: str, attrs: dict[str, str]) -> None:
        pass

    def end(self, name: str) -> None:
        pass

    def text(self, data: str) -> None:
        pass


@dataclass
class _Collect(_Handler):
    """The attributes of every element of one name (sheets, relationships)."""

    element: str
    found: list[dict[str, str]] = field(default_factory=list)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if _local(name) == self.element:
            self.found.append(dict(attrs))


def _shared_strings(archive: zipfile.ZipFile, path: str) -> _StringsScan:
    scan = _StringsScan()
    _parse(archive, path, scan)
    return scan


@dataclass
class _StringsScan(_Handler):
    """Each shared string's length and whether it is blank (a cell refers to it by index)."""

    sizes: list[int] = field(default_factory=list)
    blank: list[bool] = field(default_factory=list)
    in_text: bool = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "si":
            self.sizes.append(0)
            self.blank.append(True)
        elif local == "t" and self.sizes:
            self.in_text = True

    def end(self, name: str) -> None:
        if _local(name) == "t":
            self.in_text = False

    def text(self, data: str) -> None:
        if self.in_text:
            self.sizes[-1] += len(data)
            self.blank[-1] = self.blank[-1] and not data.strip()


@dataclass
class _SheetScan(_Handler):
    """Rows with a value, and each cell's length, in a worksheet's XML."""

    strings: _StringsScan
    max_rows: int
    max_chars: int
    rows: int = 0
    row_no: int = 0
    filled: bool = False
    cell_type: str = ""
    in_cell: bool = False
    reading: str = ""  # the element whose text is collected: v, t (of an inline string) or f
    value: list[str] = field(default_factory=list)
    cell_size: int = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "row":
            self.row_no = _int(attrs.get("r"), self.row_no + 1)
            self.filled = False
        elif local == "c":
            self.cell_type = attrs.get("t", "n")
            self.cell_size = 0
            self.in_cell = True
        elif self.in_cell and (local in ("v", "f") or (local == "t" and self.cell_type == "inlineStr")):
            self.reading = local
            self.value = []
            if local == "f":
                self.filled = True  # openpyxl gives a formula as its text, "=..."

    def text(self, data: str) -> None:
        if self.reading:
            self.value.append(data)
            self.cell_size += len(data)
            if self.cell_size > self.max_chars:
                raise oversized_cell(self.row_no, self.max_chars)

    def end(self, name: str) -> None:
        local = _local(name)
        if self.reading and local == self.reading:
            has_value = self._has_value("".join(self.value))  # and measures a shared string
            self.filled = self.filled or has_value
            self.reading = ""
        elif local == "c":
            self.in_cell = False
        elif local == "row" and self.filled:
            self.rows += 1
            if self.rows - 1 > self.max_rows:  # the first row with a value is the header
                raise too_many_rows(self.max_rows)

    def _has_value(self, text: str) -> bool:
        if self.cell_type == "s":  # an index into the shared strings
            index = _int(text, -1)
            if not 0 <= index < len(self.strings.sizes):
                return True  # openpyxl fails on it: the check of the rows says so
            if self.strings.sizes[index] > self.max_chars:
                raise oversized_cell(self.row_no, self.max_chars)
            return not self.strings.blank[index]
        if self.cell_type in ("inlineStr", "str"):
            return bool(text.strip())
        return text != ""


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
