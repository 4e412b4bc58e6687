"""The court's other intake doors (issue 21) on both databases, through HTTP and the worker: a
file of listings (CSV or XLSX, the ledger's machinery: template, preview with row errors,
confirmation, progress), the API's ``POST /api/v1/defaulters``, and a bank's report of a
listed defaulter linking the two cases."""

from __future__ import annotations

import csv
import io
import tomllib
from typing import Any

import pytest
from flask import Flask
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, or_, select

from tests.ledger_files import enterprise_row, to_csv
from tests.support import ROOT, credit_code, open_tasks, report_payload
from webapp.models import Case, CaseEvent, CaseLink, CourtListing, ImportBatch, ImportRow
from webapp.taskforms.keywords import today

RESTRICTIONS = tomllib.loads((ROOT / "webapp" / "data" / "restrictions.toml").read_text(encoding="utf-8"))
LISTED_TASKS = sorted(
    [("apply_restriction", entry["unit"]) for entry in RESTRICTIONS["sanction"]]
    + [("record_exit", "court"), ("refer_refusal", "court")]
)
HEADER_ZH = [
    "执行案号",
    "被执行人类型",
    "被执行人名称/姓名",
    "统一社会信用代码/公民身份号码",
    "法定代表人或负责人",
    "未履行金额（元）",
    "生效法律文书确定的未履行义务",
    "纳入名单日期",
]
HEADER_EN = [
    "Enforcement case number",
    "Defaulter kind",
    "Defaulter name",
    "Credit code / identity number",
    "Legal representative",
    "Amount owed (yuan)",
    "Duty not performed",
    "Date listed",
]


def number(n: int) -> str:
    return f"（2026）冀0125执{n}号"


def listing(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "enforcement_no": number(n),
        "debtor_kind": "enterprise",
        "name": f"失信企业{n}有限公司",
        "identifier": credit_code(n),
        "legal_representative": "张三",
        "amount_owed": 125000.5,
        "duty": "支付货款及利息",
        "listed_on": today().isoformat(),
        **extra,
    }


def row(n: int, **changes: object) -> list[object]:
    values = {**listing(n), "debtor_kind": "企业", "amount_owed": "125,000.50", **changes}
    return [values[key] for key in listing(n)]


def bad_code(n: int) -> str:
    code = credit_code(n)
    return code[:-1] + ("0" if code[-1] != "0" else "1")


def file_of(rows: list[list[object]], file_format: str, header: list[str] = HEADER_ZH) -> bytes:
    if file_format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue().encode("utf-8-sig")
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(header)
    for cells in rows:
        sheet.append(cells)
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


def upload(court, content: bytes, name: str, expect: int = 303):
    response = court.post(
        "/defaulters/files/", data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data"
    )
    assert response.status_code == expect, response.get_data(as_text=True)[:2000]
    return int(response.headers["Location"].rstrip("/").split("/")[-1]) if expect == 303 else response


def work(app: Flask) -> None:
    """One worker pass, as ``flask worker --once`` runs it."""
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output


def batch_of(app: Flask, batch_id: int) -> ImportBatch:
    with app.extensions["db_sessionmaker"]() as session:
        batch = session.get_one(ImportBatch, batch_id)
        session.expunge(batch)
        return batch


def count(app: Flask, model: Any) -> int:
    with app.extensions["db_sessionmaker"]() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def listed_case(app: Flask, n: int) -> int | None:
    with app.extensions["db_sessionmaker"]() as session:
        return session.scalar(select(CourtListing.case_id).where(CourtListing.enforcement_no == number(n)))


@pytest.mark.parametrize(("file_format", "header"), [("csv", HEADER_ZH), ("xlsx", HEADER_EN)])
def test_a_file_of_listings_previews_row_errors_and_lists_the_good_rows(app, browser, file_format, header):
    court = browser("court")
    page = court.get("/defaulters/new").get_data(as_text=True)
    assert "/defaulters/files/" in page  # the one-by-one page leads to the file
    assert 'id="nav-listing-files"' in page  # and so does the menu
    before = court.post("/defaulters/new", data={**listing(9), "amount_owed": "1000"})
    assert before.status_code == 302
    rows = [
        row(1),
        row(2, listed_on="2026/1/5"),
        row(3, identifier=bad_code(3)),
        row(4, enforcement_no=number(1)),  # the first row's enforcement case again
        row(9),  # listed already, on the page
        row(5, amount_owed="abc", debtor_kind="法人"),
    ]
    batch_id = upload(court, file_of(rows, file_format, header), f"listings.{file_format}")
    assert batch_of(app, batch_id).kind == "listings"
    waiting = court.get(f"/defaulters/files/{batch_id}")
    assert waiting.status_code == 200 and 'id="progress"' in waiting.get_data(as_text=True)
    assert court.get(f"/defaulters/files/{batch_id}/progress").get_json()["status"] == "uploaded"
    work(app)

    batch = batch_of(app, batch_id)
    assert batch.status == "previewed"
    assert batch.counts == {"new": 2, "join": 0, "duplicate": 1, "existing": 1, "invalid": 2}
    preview = court.get(f"/defaulters/files/{batch_id}?kind=invalid").get_data(as_text=True)
    assert bad_code(3) in preview and "失信企业3有限公司" in preview  # the row, with its reasons
    assert preview.count('class="reasons"') == 2 and "abc" in preview and "法人" in preview
    assert 'id="confirm"' in preview
    duplicate = court.get(f"/defaulters/files/{batch_id}?kind=duplicate").get_data(as_text=True)
    assert number(1) in duplicate
    errors = court.get(f"/defaulters/files/{batch_id}/errors.csv")
    assert errors.status_code == 200 and bad_code(3) in errors.get_data(as_text=True)
    assert count(app, CourtListing) == 1  # nothing listed before the confirmation

    assert court.post(f"/defaulters/files/{batch_id}/confirm").status_code == 303
    work(app)
    batch = batch_of(app, batch_id)
    assert (batch.status, batch.cases_created, batch.rows_done) == ("done", 2, 2)
    assert count(app, CourtListing) == 3
    for n in (1, 2):
        case_id = listed_case(app, n)
        assert case_id is not None
        assert open_tasks(app, case_id) == LISTED_TASKS  # every unit's restriction task
    assert listed_case(app, 3) is None and listed_case(app, 5) is None
    with app.extensions["db_sessionmaker"]() as session:
        placed = dict(
            session.execute(
                select(ImportRow.row_no, ImportRow.case_id).where(
                    ImportRow.batch_id == batch_id, ImportRow.kind == "new"
                )
            ).all()
        )
        second = session.get_one(CourtListing, listed_case(app, 2))
        assert str(second.listed_on) == "2026-01-05" and str(second.amount_owed) == "125000.50"
        assert second.enforcement_no == number(2)
        started = session.scalar(
            select(CaseEvent.data).where(CaseEvent.case_id == second.case_id).order_by(CaseEvent.seq).limit(1)
        )
    assert placed == {2: listed_case(app, 1), 3: listed_case(app, 2)}
    assert started is not None and started.get("import_batch") == batch_id
    done = court.get(f"/defaulters/files/{batch_id}?kind=new").get_data(as_text=True)
    assert f"/cases/{listed_case(app, 1)}" in done
    # the same file again lists nothing: every row is listed already
    again = upload(court, file_of(rows, file_format, header), f"again.{file_format}")
    work(app)
    assert batch_of(app, again).counts["existing"] == 3 and batch_of(app, again).counts["new"] == 0
    assert court.post(f"/defaulters/files/{again}/confirm").status_code == 409


def test_a_file_without_a_required_column_is_refused_and_nothing_is_stored(app, browser):
    court = browser("court")
    header = [h for h in HEADER_ZH if h != "执行案号"]
    content = file_of([row(1)[1:]], "csv", header)
    response = upload(court, content, "listings.csv", expect=422)
    assert "执行案号" in response.get_data(as_text=True)
    assert count(app, ImportBatch) == 0


def test_the_template_has_the_courts_columns_in_chinese_and_english(app, browser):
    court = browser("court")
    text = court.get("/defaulters/files/template.csv").get_data().decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(text))) == HEADER_ZH
    book = load_workbook(io.BytesIO(court.get("/defaulters/files/template.xlsx?lang=en").get_data()))
    assert [c.value for c in book.worksheets[0][1]] == HEADER_EN
    assert "Enterprise" in str([c.value for line in book["notes"].iter_rows() for c in line])


def test_only_the_courts_caseworkers_use_the_file(app, browser):
    bank = browser("bank_icbc")
    assert bank.get("/defaulters/files/").status_code == 403
    content = file_of([row(1)], "csv")
    assert upload(bank, content, "l.csv", expect=403)
    # a bank's ledger batch is no file of listings, and the other way round
    ledger = bank.post(
        "/ledger/",
        data={"file": (io.BytesIO(to_csv([enterprise_row(1, "C-1")])), "l.csv")},
        content_type="multipart/form-data",
    )
    ledger_id = int(ledger.headers["Location"].rstrip("/").split("/")[-1])
    assert browser("court").get(f"/defaulters/files/{ledger_id}").status_code == 404
    listing_id = upload(browser("court"), content, "l.csv")
    assert bank.get(f"/ledger/{listing_id}").status_code == 404
    work(app)
    work(app)
    assert batch_of(app, ledger_id).status == "previewed" and batch_of(app, listing_id).status == "previewed"


def _token(app: Flask, username: str) -> dict[str, str]:
    token = app.test_cli_runner().invoke(args=["tokens", "issue", username]).output.strip()
    return {"Authorization": f"Bearer {token}"}


def test_the_api_lists_a_defaulter(app, users):
    client = app.test_client()
    court, bank = _token(app, "court"), _token(app, "bank_icbc")
    created = client.post("/api/v1/defaulters", json=listing(1), headers={**court, "Idempotency-Key": "k-1"})
    assert created.status_code == 201, created.get_json()
    case = created.get_json()["case"]
    assert case["id"] == listed_case(app, 1) and case["status"] == "open"
    assert open_tasks(app, case["id"]) == LISTED_TASKS
    replay = client.post("/api/v1/defaulters", json=listing(1), headers={**court, "Idempotency-Key": "k-1"})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["case"]["id"] == case["id"]

    taken = client.post("/api/v1/defaulters", json=listing(1, name="另一家"), headers=court)
    assert taken.status_code == 409 and number(1) in taken.get_json()["error"]
    negative = client.post("/api/v1/defaulters", json=listing(2, amount_owed=-1), headers=court)
    assert negative.status_code == 422 and set(negative.get_json()["fields"]) == {"amount_owed"}
    wrong_code = client.post("/api/v1/defaulters", json=listing(2, identifier=bad_code(2)), headers=court)
    assert wrong_code.status_code == 422 and set(wrong_code.get_json()["fields"]) == {"identifier"}
    missing = client.post("/api/v1/defaulters", json={"enforcement_no": number(2)}, headers=court)
    assert missing.status_code == 422 and "duty" in missing.get_json()["fields"]
    refused = client.post("/api/v1/defaulters", json=listing(3), headers=bank)
    assert refused.status_code == 403
    assert client.post("/api/v1/defaulters", json=listing(3)).status_code == 401
    assert count(app, CourtListing) == 1

    document = client.get("/api/v1/openapi.json").get_json()
    post = document["paths"]["/defaulters"]["post"]
    assert set(post["responses"]) >= {"201", "403", "409", "422"}
    assert document["components"]["schemas"]["Listing"]["required"][0] == "enforcement_no"


def _links(app: Flask, case_id: int) -> set[tuple[int, int]]:
    with app.extensions["db_sessionmaker"]() as session:
        rows = session.execute(
            select(CaseLink.case_id, CaseLink.linked_case_id).where(
                or_(CaseLink.case_id == case_id, CaseLink.linked_case_id == case_id)
            )
        )
        return {(a, b) for a, b in rows}


def _linked_events(app: Flask, case_id: int) -> list[int]:
    with app.extensions["db_sessionmaker"]() as session:
        stmt = select(CaseEvent.data).where(CaseEvent.case_id == case_id, CaseEvent.kind == "case_linked")
        return sorted(int(data["linked_case_id"]) for data in session.scalars(stmt))


def test_a_banks_report_of_a_listed_defaulter_links_the_two_cases(app, browser):
    court = browser("court")
    assert court.post("/defaulters/new", data={**listing(4), "amount_owed": "500"}).status_code == 302
    listed = listed_case(app, 4)
    assert listed is not None
    debt = browser("bank_icbc").report(report_payload(4))  # the same credit code
    assert _links(app, debt) == {(debt, listed)}
    assert _linked_events(app, debt) == [listed] and _linked_events(app, listed) == [debt]
    # a second report of the same debtor joins the debt case: no second link
    browser("bank_abc").report(
        report_payload(4, loans=[{**report_payload(4)["loans"][0], "contract_no": "X-2"}])
    )
    assert _links(app, listed) == {(debt, listed)}


def test_a_ledger_import_links_a_new_case_of_a_listed_defaulter(app, browser):
    court = browser("court")
    assert court.post("/defaulters/new", data={**listing(6), "amount_owed": "500"}).status_code == 302
    listed = listed_case(app, 6)
    bank = browser("bank_icbc")
    ledger = bank.post(
        "/ledger/",
        data={"file": (io.BytesIO(to_csv([enterprise_row(6, "L-6"), enterprise_row(7, "L-7")])), "l.csv")},
        content_type="multipart/form-data",
    )
    batch_id = int(ledger.headers["Location"].rstrip("/").split("/")[-1])
    work(app)
    assert bank.post(f"/ledger/{batch_id}/confirm").status_code == 303
    work(app)
    assert batch_of(app, batch_id).status == "done"
    with app.extensions["db_sessionmaker"]() as session:
        debt = session.scalar(
            select(Case.id).where(Case.import_batch_id == batch_id, Case.debtor_name.like("%第6建材%"))
        )
        other = session.scalar(
            select(Case.id).where(Case.import_batch_id == batch_id, Case.debtor_name.like("%第7建材%"))
        )
    assert debt is not None and other is not None
    assert _links(app, listed) == {(debt, listed)} and _links(app, other) == set()
    assert _linked_events(app, debt) == [listed] and _linked_events(app, listed) == [debt]
