"""The ledger's documented limits (README, "Ledger files"), through the upload page: a file up
to 32 MB is taken although the app's other requests stop at 10 MiB; a file over 100,000 rows
or with a cell over 32,767 characters is refused at upload with 422 and nothing stored."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask
from openpyxl import Workbook
from openpyxl.styles import Font
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.ledger_files import HEADER_ZH, person_row, to_csv, to_xlsx
from tests.support import PASSWORD, flatten_report, report_payload
from tests.test_ledger import count
from webapp import create_app
from webapp.ledger.reader import open_ledger
from webapp.models import ImportBatch

MB = 2**20


def stored(app: Flask) -> set[Path]:
    return set(Path(app.config["UPLOAD_DIR"]).glob("imports/*"))


def upload(bank, content: bytes, name: str = "ledger.csv", expect: int = 303, **form: str) -> str:
    """The upload page's answer. The body is encoded here, in memory: the test client puts a
    large one in a temporary file that it leaves open."""
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(content), filename=name), **form})
    response = bank.post("/ledger/", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    page = response.get_data(as_text=True)
    assert response.status_code == expect, page[:2000]
    return page


def refused(app: Flask, bank, content: bytes, message: str, name: str = "ledger.csv") -> None:
    """Refused at upload with 422 and the message; no batch and no file kept."""
    files, batches = stored(app), count(app, ImportBatch)
    assert message in upload(bank, content, name, expect=422)
    assert (stored(app), count(app, ImportBatch)) == (files, batches)


def rewritten(xlsx: bytes, old: str, new: str) -> bytes:
    """The workbook with ``old`` replaced in its first sheet's XML."""
    return _repacked(xlsx, {SHEET: lambda xml: xml.replace(old.encode(), new.encode())})


def with_shared_strings(xlsx: bytes) -> bytes:
    """openpyxl's workbook (inline strings) as Excel saves one: every text in the shared
    strings part, each cell an index into it. openpyxl reads both alike (checked here)."""
    strings: list[bytes] = []

    def shared(match: re.Match[bytes]) -> bytes:
        strings.append(match.group(3))
        return b'<c r="%s"%s t="s"><v>%d</v></c>' % (match.group(1), match.group(2), len(strings) - 1)

    sheet = re.sub(
        rb'<c r="([A-Z]+\d+)"((?: s="\d+")?) t="inlineStr"><is><t(?: [^>]*)?>(.*?)</t></is></c>',
        shared,
        _read(xlsx, SHEET),
    )
    table = b"".join(b"<si><t>%s</t></si>" % text for text in strings)
    parts = {
        SHEET: lambda _xml: sheet,
        "xl/sharedStrings.xml": lambda _xml: (
            b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" '
            b'uniqueCount="%d">%s</sst>' % (len(strings), len(strings), table)
        ),
        "xl/_rels/workbook.xml.rels": lambda xml: xml.replace(
            b"</Relationships>",
            b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            b'sharedStrings" Target="sharedStrings.xml" Id="rId99"/></Relationships>',
        ),
        "[Content_Types].xml": lambda xml: xml.replace(
            b"</Types>",
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
            b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        ),
    }
    result = _repacked(xlsx, parts)
    opened = (open_ledger(w, max_bytes=2**30, max_unpacked_bytes=2**30) for w in (xlsx, result))
    before, after = [(s.header, list(s.rows)) for s in opened]
    assert before == after
    return result


SHEET = "xl/worksheets/sheet1.xml"


def _read(xlsx: bytes, part: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(xlsx)) as archive:
        return archive.read(part)


def _repacked(xlsx: bytes, changes: dict[str, Callable[[bytes], bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as old, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new:
        names = old.namelist()
        for name in names + [n for n in changes if n not in names]:
            content = old.read(name) if name in names else b""
            new.writestr(name, changes[name](content) if name in changes else content)
    return out.getvalue()


@pytest.fixture
def with_csrf(app: Flask, tmp_path: Path) -> Iterator[Flask]:
    """The app as in production: CSRF checked, which reads the form before any view."""
    protected = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": app.config["DATABASE_URL"],
            "SECRET_KEY": "x",
            "WTF_CSRF_ENABLED": True,
            "UPLOAD_DIR": str(tmp_path / "uploads"),
        }
    )
    yield protected
    protected.extensions["db_engine"].dispose()


def _token(client) -> str:
    page = client.get("/ledger/").get_data(as_text=True)
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_a_20_mb_csv_is_taken_under_the_32_mb_ledger_limit(app, users, with_csrf):
    assert with_csrf.config["MAX_CONTENT_LENGTH"] == 10 * MB  # the app-wide limit stays
    client = with_csrf.test_client()
    page = client.get("/login").get_data(as_text=True)
    login = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"username": "bank_icbc", "password": PASSWORD, "csrf_token": login})
    evidence = "催收记录，借款人失联，保证人拒绝代偿。" * 12  # about 650 bytes a row
    rows = [person_row(n, f"P-{n}") for n in range(2, 34_000)]
    for row in rows:
        row[-1] = evidence
    content = to_csv(rows)
    assert 20 * MB <= len(content) < 32 * MB
    upload(client, content, "big.csv", csrf_token=_token(client))
    assert count(app, ImportBatch) == 1
    (kept,) = stored(with_csrf)
    assert kept.stat().st_size == len(content)
    kept.unlink()
    # the app-wide limit still holds for other forms
    body = urlencode(
        flatten_report(report_payload(1)) | {"csrf_token": _token(client), "evidence": "x" * 11 * MB}
    )
    response = client.post("/report", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


def test_a_csv_over_100000_rows_is_refused_at_upload(app, users, browser):
    icbc = browser("bank_icbc")
    icbc.get("/lang/en")
    row = person_row(2, "P-2")
    # 100,000 rows are taken (blank lines are no rows); one more is refused
    limit = to_csv([row] * 50_000 + [[""] * len(row)] * 10 + [row] * 50_000)
    upload(icbc, limit, "limit.csv")
    assert count(app, ImportBatch) == 1
    refused(app, icbc, to_csv([row] * 100_001), "The file has more than 100000 rows")


def test_a_workbook_over_the_row_limit_is_refused_at_upload(app, users, browser):
    icbc = browser("bank_icbc")
    icbc.get("/lang/en")
    app.config["LEDGER_MAX_ROWS"] = 50
    try:
        refused(app, icbc, to_xlsx([person_row(2, "P-2")] * 51), "more than 50 rows", "ledger.xlsx")
        # rows formatted but empty are no rows, as openpyxl reads them
        book = Workbook()
        sheet = book.active
        sheet.append(HEADER_ZH)
        for _ in range(50):
            sheet.append(person_row(2, "P-2"))
        for number in range(60, 200):
            sheet.cell(number, 1).font = Font(bold=True)
            sheet.cell(number, 2).value = "  "
        out = io.BytesIO()
        book.save(out)
        upload(icbc, out.getvalue(), "formatted.xlsx")
    finally:
        del app.config["LEDGER_MAX_ROWS"]


def test_a_cell_over_32767_characters_is_refused_at_upload(app, users, browser):
    icbc = browser("bank_icbc")
    icbc.get("/lang/en")
    message = "has a cell of more than 32,767 characters"
    refused(app, icbc, to_csv([person_row(2, "P-2", name="名" * 32_768)]), f"Row 2 {message}")
    refused(
        app,
        icbc,
        to_csv([person_row(2, "P-2"), person_row(3, "P-3", name="x" * 200_000)]),
        "Row 3 has a cell",
    )
    # openpyxl cuts text at 32,767 characters when it writes: the long text is put in after
    long_name = "名" * 32_768
    inline = rewritten(to_xlsx([person_row(2, "P-2"), person_row(3, "P-3", name="LONG")]), "LONG", long_name)
    refused(app, icbc, inline, f"Row 3 {message}", "inline.xlsx")
    # as Excel saves it: the text in the shared strings, the cell an index into them
    shared = with_shared_strings(inline)
    assert b"sharedStrings" in shared and b"inlineStr" not in shared
    refused(app, icbc, shared, f"Row 3 {message}", "shared.xlsx")
    upload(icbc, with_shared_strings(to_xlsx([person_row(2, "P-2")] * 3)), "fine.xlsx")
    # at the limit the file is taken (the row itself is invalid: the name is too long)
    upload(icbc, to_csv([person_row(2, "P-2", name="名" * 32_767)]))
