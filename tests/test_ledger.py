"""Ledger intake through the pages and the worker, over real files: CSV in UTF-8 and GBK,
XLSX, valid and invalid identifiers, cross-bank merging, re-upload, hostile files."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from flask_babel import force_locale, gettext
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.ledger_files import HEADER_EN, enterprise_row, person_row, to_csv, to_xlsx
from tests.support import credit_code, report_payload
from webapp.cases.identifiers import mask
from webapp.ledger import preview
from webapp.models import Case, Debtor, ImportBatch, ImportRow, Loan


def upload(bank, content: bytes, name: str = "ledger.csv", expect: int = 303):
    response = bank.post(
        "/ledger/", data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data"
    )
    assert response.status_code == expect, response.get_data(as_text=True)[:2000]
    if expect != 303:
        return response
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def work(app) -> str:
    """One worker pass, as ``flask worker --once`` runs it."""
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    return result.output


def batch_of(app, batch_id: int) -> ImportBatch:
    with app.extensions["db_sessionmaker"]() as session:
        batch = session.get(ImportBatch, batch_id)
        assert batch is not None
        return batch


def count(app, model) -> int:
    with app.extensions["db_sessionmaker"]() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def zh(app, message: str, **values: object) -> str:
    """A message as the worker stored it: in the default language, Chinese."""
    with app.test_request_context(), force_locale("zh"):
        return str(gettext(message, **values))


def mixed_rows() -> list[list[object]]:
    bad_code = credit_code(7)[:-1] + ("0" if credit_code(7)[-1] != "0" else "1")
    good_person = person_row(3, "P-3")[2]
    bad_person = str(good_person)[:-1] + ("0" if str(good_person)[-1] != "0" else "1")
    return [
        enterprise_row(1, "E-1-a"),  # 2: new case with two loans
        enterprise_row(1, "E-1-b", principal="￥8,000"),  # 3
        person_row(2, "P-2"),  # 4: new case
        enterprise_row(1, "E-1-a"),  # 5: same contract as row 2
        enterprise_row(7, "E-7", identifier=bad_code),  # 6: bad credit code check character
        person_row(3, "P-3", identifier=bad_person),  # 7: bad identity number check digit
        person_row(4, "P-4", behaviour="欠钱不还"),  # 8: unknown behaviour
        person_row(5, "P-5", principal="-100"),  # 9: negative amount
        person_row(6, "P-6", overdue_since="2024-02-30"),  # 10: bad date
        person_row(8, "P-8", name=""),  # 11: missing required field
        person_row(9, "P-9", name='=HYPERLINK("http://x")'),  # 12: formula
        enterprise_row(20, "E-20"),  # 13: the debtor of another bank's open case
    ]


def test_csv_preview_confirm_import_and_error_file(app, users, browser):
    abc = browser("bank_abc")
    joined = abc.report(report_payload(20))  # 淮远 enterprise 20, reported by another bank
    icbc = browser("bank_icbc")
    batch_id = upload(icbc, to_csv(mixed_rows()))
    page = icbc.get(f"/ledger/{batch_id}").get_data(as_text=True)
    assert 'data-status="uploaded"' in page
    assert count(app, ImportRow) == 0  # nothing read before the worker checks the rows

    work(app)
    batch = batch_of(app, batch_id)
    assert batch.status == "previewed" and batch.encoding == "utf-8" and batch.total_rows == 12
    assert batch.counts == {"new": 3, "join": 1, "duplicate": 1, "existing": 0, "invalid": 7}
    cases_before = count(app, Case)

    page = icbc.get(f"/ledger/{batch_id}?kind=invalid").get_data(as_text=True)
    for reason, values in (
        ("wrong check character", {}),
        ("Unknown value; choose one of the values listed in the template.", {}),
        ("Must be greater than %(n)s.", {"n": 0}),
        ("Enter a valid date (YYYY-MM-DD).", {}),
        ("This field is required.", {}),
        ("Formulas are not accepted in a ledger; enter the value itself.", {}),
    ):
        assert zh(app, reason, **values) in page, reason
    # an invalid row's identifier is shown only when it is the error; otherwise masked
    assert person_row(5, "P-5")[2] not in page and mask(str(person_row(5, "P-5")[2])) in page
    page = icbc.get(f"/ledger/{batch_id}?kind=join").get_data(as_text=True)
    assert f"#{joined}" in page
    page = icbc.get(f"/ledger/{batch_id}?kind=duplicate").get_data(as_text=True)
    assert zh(app, "same contract as row %(n)s", n=2) in page

    errors = icbc.get(f"/ledger/{batch_id}/errors.csv")
    lines = list(csv.reader(io.StringIO(errors.get_data().decode("utf-8-sig"))))
    assert lines[0][-1] == "错误原因" and len(lines) == 1 + 7
    assert any(cell.startswith("'=HYPERLINK") for line in lines for cell in line)  # neutralised
    assert count(app, Case) == cases_before  # the preview created nothing

    assert icbc.post(f"/ledger/{batch_id}/confirm").status_code == 303
    assert icbc.post(f"/ledger/{batch_id}/confirm").status_code == 409  # twice imports once
    work(app)
    batch = batch_of(app, batch_id)
    assert batch.status == "done", batch.error
    assert (batch.cases_created, batch.loans_added) == (2, 4)
    assert count(app, Case) == cases_before + 2
    with app.extensions["db_sessionmaker"]() as session:
        enterprise = session.scalar(select(Case).join(Debtor).where(Debtor.identifier == credit_code(1)))
        assert enterprise is not None and sorted(ln.contract_no for ln in enterprise.loans) == [
            "E-1-a",
            "E-1-b",
        ]
        assert {ln.principal for ln in enterprise.loans} == {1250000, 8000}
        banks = {ln.bank_unit_code for ln in session.scalars(select(Loan).where(Loan.case_id == joined))}
        assert banks == {"bank_abc", "bank_icbc"}  # merged across banks
    page = icbc.get(f"/ledger/{batch_id}?kind=new").get_data(as_text=True)
    assert zh(app, "%(cases)s cases opened, %(loans)s loans added.", cases=2, loans=4) in page
    case_page = icbc.get(f"/cases/{joined}").get_data(as_text=True)
    assert "E-20" in case_page


def test_reupload_is_idempotent(app, users, browser):
    icbc = browser("bank_icbc")
    content = to_csv([enterprise_row(1, "E-1"), person_row(2, "P-2")])
    first = upload(icbc, content)
    assert upload(icbc, content) == first  # the same file while on its way: the same batch
    work(app)
    icbc.post(f"/ledger/{first}/confirm")
    work(app)
    assert batch_of(app, first).status == "done"
    cases = count(app, Case)

    second = upload(icbc, content)
    assert second != first
    work(app)
    batch = batch_of(app, second)
    assert batch.counts["existing"] == 2 and batch.counts["new"] == 0
    assert icbc.post(f"/ledger/{second}/confirm").status_code == 409  # nothing to import
    assert count(app, Case) == cases


@pytest.mark.parametrize("fmt", ["gbk", "xlsx", "english"])
def test_gbk_xlsx_and_english_headers_read_alike(app, users, browser, fmt):
    rows = [enterprise_row(1, "E-1"), person_row(2, "P-2"), person_row(3, "P-3", principal="abc")]
    content = {
        "gbk": lambda: to_csv(rows, encoding="gbk"),
        "xlsx": lambda: to_xlsx(rows),
        "english": lambda: to_csv(rows, header=HEADER_EN),
    }[fmt]()
    icbc = browser("bank_icbc")
    batch_id = upload(icbc, content, "ledger.xlsx" if fmt == "xlsx" else "ledger.csv")
    work(app)
    batch = batch_of(app, batch_id)
    assert batch.counts["new"] == 2 and batch.counts["invalid"] == 1
    assert batch.header_language == ("en" if fmt == "english" else "zh")
    assert batch.file_format == ("xlsx" if fmt == "xlsx" else "csv")
    if fmt == "gbk":
        assert batch.encoding == "gbk"
    errors = icbc.get(f"/ledger/{batch_id}/errors.xlsx")
    sheet = load_workbook(io.BytesIO(errors.get_data())).active
    assert sheet.max_row == 2
    assert zh(app, "Enter a valid number.") in str(sheet.cell(2, sheet.max_column).value)


def test_fixed_error_file_uploads_as_it_is(app, users, browser):
    icbc = browser("bank_icbc")
    batch_id = upload(icbc, to_csv([person_row(2, "P-2", principal="-5")]))
    work(app)
    text = icbc.get(f"/ledger/{batch_id}/errors.csv").get_data().decode("utf-8-sig")
    fixed = text.replace("'-5", "5000").replace("-5", "5000").encode("utf-8-sig")
    second = upload(icbc, fixed)
    work(app)
    assert batch_of(app, second).counts["new"] == 1


def test_xlsx_formula_cells_are_refused(app, users, browser):
    icbc = browser("bank_icbc")
    batch_id = upload(icbc, to_xlsx([person_row(2, "P-2", name="=1+1")]), "l.xlsx")
    work(app)
    batch = batch_of(app, batch_id)
    assert batch.counts["invalid"] == 1
    with app.extensions["db_sessionmaker"]() as session:
        row = session.scalar(select(ImportRow).where(ImportRow.batch_id == batch_id))
        assert row is not None and "name" in (row.errors or {})


def _zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<" + b"a" * (300 * 2**20) + b">")
    return out.getvalue()


def _entity_bomb() -> bytes:
    book = io.BytesIO(to_xlsx([person_row(2, "P-2")]))
    out = io.BytesIO()
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    )
    with zipfile.ZipFile(book) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/workbook.xml":
                body = data.split(b"?>", 1)[-1]
                data = laughs.encode() + body.replace(b"<sheets>", b"<sheets>&lol2;")
            target.writestr(item, data)
    return out.getvalue()


HOSTILE = {
    "empty": (b"", "The file is empty"),
    "xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "Old Excel files"),
    "binary": (bytes(range(256)) * 4, "encoding is not recognised"),
    "latin-1": ("Débiteur,Montant\nÉtienne,12\n".encode("latin-1"), "encoding is not recognised"),
    "wrong headers": (to_csv([["1", "2"]], header=["名称", "金额"]), "does not match the ledger template"),
    "zip bomb": (_zip_bomb(), "unsafe"),
    "not a workbook": (b"PK\x03\x04" + b"\x00" * 100, "damaged"),
    "entity bomb": (_entity_bomb(), "unsafe"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_files_get_a_clear_error_and_change_nothing(app, users, browser, name):
    content, message = HOSTILE[name]
    icbc = browser("bank_icbc")
    icbc.get("/lang/en")  # the error comes from the request itself, in the user's language
    stored = set(Path(app.config["UPLOAD_DIR"]).glob("imports/*"))
    response = upload(icbc, content, "ledger.xlsx", expect=422)
    assert message in response.get_data(as_text=True)
    assert count(app, ImportBatch) == 0
    assert set(Path(app.config["UPLOAD_DIR"]).glob("imports/*")) == stored  # no file kept


def test_oversized_file_is_refused(app, users, browser):
    icbc = browser("bank_icbc")
    app.config["LEDGER_MAX_BYTES"] = 2000
    try:
        big = to_csv([person_row(n, f"P-{n}") for n in range(2, 1200)])
        response = upload(icbc, big, expect=413)
        assert response.status_code == 413
        small = to_csv([person_row(n, f"P-{n}") for n in range(2, 30)])
        assert len(small) < 2000 + 2**16 and len(small) > 2000
        icbc.get("/lang/en")
        assert "larger than" in upload(icbc, small, expect=422).get_data(as_text=True)
    finally:
        del app.config["LEDGER_MAX_BYTES"]
    assert count(app, ImportBatch) == 0


def test_too_many_rows_fails_the_check(app, users, browser, monkeypatch):
    # refused at upload (tests/test_ledger_limits.py); a file stored under a higher limit
    # still fails its check
    monkeypatch.setattr(preview, "CHUNK", 2)  # the first rows are committed before the limit is hit
    icbc = browser("bank_icbc")
    batch_id = upload(icbc, to_csv([person_row(n, f"P-{n}") for n in range(2, 7)]))
    app.config["LEDGER_MAX_ROWS"] = 3
    try:
        work(app)
    finally:
        del app.config["LEDGER_MAX_ROWS"]
    batch = batch_of(app, batch_id)
    assert batch.status == "failed"
    assert batch.error == zh(app, "The file has more than %(n)s rows; split it into several files.", n=3)
    assert count(app, ImportRow) == 0


def test_a_row_that_can_no_longer_join_is_left_out_with_its_reason(app, users, browser):
    abc = browser("bank_abc")
    settling = abc.report(report_payload(90))  # an enterprise: its credit code sorts last
    icbc = browser("bank_icbc")
    rows = [person_row(n, f"P-{n}") for n in range(2, 6)] + [enterprise_row(90, "E-90")]
    batch_id = upload(icbc, to_csv(rows))
    work(app)
    assert batch_of(app, batch_id).counts == {
        "new": 4,
        "join": 1,
        "duplicate": 0,
        "existing": 0,
        "invalid": 0,
    }
    abc.settle(settling)  # the joined case starts delisting between preview and import
    cases, loans = count(app, Case), count(app, Loan)
    icbc.post(f"/ledger/{batch_id}/confirm")
    work(app)
    batch = batch_of(app, batch_id)
    assert batch.status == "done" and batch.cases_created == 4
    assert batch.counts["join"] == 0 and batch.counts["invalid"] == 1
    assert (count(app, Case), count(app, Loan)) == (cases + 4, loans + 4)  # the joining loan left out
    icbc.get("/lang/en")
    page = icbc.get(f"/ledger/{batch_id}?kind=invalid").get_data(as_text=True)
    assert f"#{settling}" in page and "E-90" in page


def test_a_cut_off_import_is_run_again(app, users, browser):
    icbc = browser("bank_icbc")
    batch_id = upload(icbc, to_csv([person_row(2, "P-2")]))
    work(app)
    icbc.post(f"/ledger/{batch_id}/confirm")
    with app.extensions["db_sessionmaker"]() as session:  # a worker took it and was killed
        batch = session.get_one(ImportBatch, batch_id)
        batch.status = "importing"
        session.commit()
    app.config["LEDGER_STALE_SECONDS"] = -1
    try:
        work(app)
    finally:
        del app.config["LEDGER_STALE_SECONDS"]
    assert batch_of(app, batch_id).status == "done"


def test_progress_and_other_units(app, users, browser):
    icbc = browser("bank_icbc")
    batch_id = upload(icbc, to_csv([person_row(2, "P-2")]))
    state = icbc.get(f"/ledger/{batch_id}/progress").get_json()
    assert state["status"] == "uploaded"
    assert browser("bank_abc").get(f"/ledger/{batch_id}").status_code == 404
    assert browser("court").get("/ledger/").status_code == 403


@pytest.mark.parametrize(("fmt", "lang"), [("xlsx", "zh"), ("xlsx", "en"), ("csv", "zh"), ("csv", "en")])
def test_templates_carry_the_headers(app, users, browser, fmt, lang):
    from tests.ledger_files import HEADER_ZH

    body = browser("bank_icbc").get(f"/ledger/template.{fmt}?lang={lang}").get_data()
    expected = HEADER_EN if lang == "en" else HEADER_ZH
    if fmt == "csv":
        assert next(csv.reader(io.StringIO(body.decode("utf-8-sig")))) == expected
    else:
        book = load_workbook(io.BytesIO(body))
        assert [c.value for c in book.worksheets[0][1]] == expected
        assert book.worksheets[0].column_dimensions["C"].number_format == "@"  # identifiers as text
        assert len(list(book.worksheets[1].iter_rows())) == 1 + len(expected)
