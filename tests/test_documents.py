"""Official letters (issue 19, "Documents the units send"): generated from the DOCX templates
in documents/ on a case in the right state, numbered per kind and year, attached to the case
with their hash in its history chain; through the case page and the API."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import threading
from pathlib import Path
from typing import Any

import docx
import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from tests.support import (
    SANCTION_MEASURES,
    case_row,
    confirm,
    interview_form,
    open_tasks,
    report_payload,
)
from webapp.documents import numbering, render
from webapp.models import Attachment, CaseEvent, Document, DocumentNumber, Task

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
SANCTIONING = ["bank_icbc", "court", "finance", "land_housing", "market", "ndrc", "publicity"]


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


@pytest.fixture
def token(app, users):
    tokens: dict[str, str] = {}

    def issue(username: str) -> dict[str, str]:
        if username not in tokens:
            result = app.test_cli_runner().invoke(args=["tokens", "issue", username])
            assert result.exit_code == 0, result.output
            tokens[username] = result.output.strip()
        return {"Authorization": f"Bearer {tokens[username]}"}

    return issue


def fire_timers(app) -> None:
    result = app.test_cli_runner().invoke(args=["timers", "fire"])
    assert result.exit_code == 0, result.output


def sanctioned(app, browser, clock, n: int) -> int:
    """A confirmed case past its rectification deadline, assessed in full: the sanctioning
    units' tasks are open."""
    case_id = browser("bank_icbc").report(report_payload(n))
    office = browser("office")
    confirm(browser, case_id)
    office.complete(case_id, "interview", **interview_form(30))
    clock.move_to(case_row(app, case_id).next_timer_at + dt.timedelta(seconds=1))
    fire_timers(app)
    office.complete(case_id, "assess_rectification", assessment="full")
    assert sorted(u for e, u in open_tasks(app, case_id) if e == "apply_sanction") == SANCTIONING
    return case_id


def sanction_all(browser, case_id: int) -> None:
    for unit in SANCTIONING:
        browser(unit).complete(case_id, "apply_sanction", measures=[SANCTION_MEASURES[unit]])


def generate_page(browser, case_id: int, kind: str, unit: str, expect: int = 302) -> Any:
    response = browser("office").post(f"/cases/{case_id}/documents", data={"document": f"{kind}:{unit}"})
    assert response.status_code == expect, response.get_data(as_text=True)[:1500]
    return response


def generate_api(
    app, token, case_id: int, kind: str, unit: str, user: str = "office", expect: int = 201
) -> Any:
    response = app.test_client().post(
        f"/api/v1/cases/{case_id}/documents", json={"kind": kind, "unit": unit}, headers=token(user)
    )
    assert response.status_code == expect, response.get_data(as_text=True)[:1500]
    return response.get_json()


def letters(app, case_id: int | None = None) -> list[Document]:
    with app.extensions["db_sessionmaker"]() as session:
        stmt = select(Document).order_by(Document.id)
        if case_id is not None:
            stmt = stmt.where(Document.case_id == case_id)
        rows = list(session.scalars(stmt))
        session.expunge_all()
        return rows


def stored_file(app, attachment_id: int) -> tuple[Attachment, bytes]:
    with app.extensions["db_sessionmaker"]() as session:
        row = session.get(Attachment, attachment_id)
        assert row is not None
        session.expunge(row)
    return row, (Path(app.config["UPLOAD_DIR"]) / row.stored_name).read_bytes()


def text_of(content: bytes) -> str:
    """Every paragraph and table cell of a DOCX, as python-docx reads it."""
    document = docx.Document(io.BytesIO(content))
    parts = [p.text for p in document.paragraphs]
    parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return "\n".join(parts)


def letter_text(app, document: Document) -> str:
    _row, content = stored_file(app, document.docx_attachment_id)
    return text_of(content)


def status(user, url: str) -> int:
    """The status of a download (its file closed again)."""
    response = user.get(url)
    response.close()
    return int(response.status_code)


def events(app, case_id: int, kind: str) -> list[CaseEvent]:
    with app.extensions["db_sessionmaker"]() as session:
        rows = list(
            session.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
                .order_by(CaseEvent.seq)
            )
        )
        session.expunge_all()
        return rows


def counts(app) -> tuple[int, int, int, int]:
    with app.extensions["db_sessionmaker"]() as session:
        return (
            session.scalar(select(func.count()).select_from(Document)) or 0,
            session.scalar(select(func.count()).select_from(DocumentNumber)) or 0,
            session.scalar(select(func.count()).select_from(Attachment)) or 0,
            session.scalar(select(func.count()).where(CaseEvent.case_id.is_not(None))) or 0,
        )


def test_each_kind_in_its_state_opens_in_word_and_is_hashed_into_the_history(app, browser, clock, token):
    case_id = sanctioned(app, browser, clock, 1)
    debtor = report_payload(1)
    office = browser("office")

    # sanctions started: the notice of joint sanction applies, to the sanctioning units only
    page = office.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="document-form"' in page and 'value="sanction_notice:court"' in page
    assert "referral:" not in page and "delisting_notice:" not in page
    # without LibreOffice on the server the page says that letters are DOCX only
    assert ('id="pdf-unavailable"' in page) == (render.libreoffice() is None)
    generate_page(browser, case_id, "sanction_notice", "court")
    [notice] = letters(app, case_id)
    assert notice.number == "联动惩〔2026〕1号" and notice.unit_code == "court"
    text = letter_text(app, notice)
    assert "联动惩〔2026〕1号" in text and "县人民法院：" in text
    assert debtor["name"] in text and debtor["identifier"] in text
    assert "C-1-1" in text and "1,000,000.00" in text and "限制出国出境" in text
    page = office.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="document-list"' in page and "联动惩〔2026〕1号" in page

    # a referral decided: the referral letter to the unit referred to, with the decision's grounds
    generate_api(app, token, case_id, "referral", "police", expect=422)
    sanction_all(browser, case_id)
    office.complete(
        case_id, "decide_referral", referral_decision="police", referral_reason="涉嫌拒不执行判决"
    )
    body = generate_api(app, token, case_id, "referral", "police")["document"]
    assert body["number"] == "联动移〔2026〕1号" and body["kind"] == "referral" and body["unit"] == "police"
    assert body["docx"]["url"].startswith("/api/v1/attachments/")
    # the API's own link serves the letter to the token's bearer (a bank's system has no session)
    downloaded = app.test_client().get(body["docx"]["url"], headers=token("office"))
    assert downloaded.status_code == 200 and downloaded.data[:2] == b"PK"
    downloaded.close()
    assert app.test_client().get(body["docx"]["url"]).status_code == 401
    assert (body["pdf"] is None) == (render.libreoffice() is None)
    generate_api(app, token, case_id, "referral", "court", expect=422)  # not referred there
    referral = letters(app, case_id)[-1]
    text = letter_text(app, referral)
    assert "联动移〔2026〕1号" in text and "县公安局：" in text and "涉嫌拒不执行判决" in text
    assert debtor["name"] in text

    # the police's answer overdue: a supervision letter to the police
    generate_api(app, token, case_id, "supervision", "police", expect=422)
    with app.extensions["db_sessionmaker"]() as session:
        due = session.scalars(
            select(Task.due_at).where(Task.case_id == case_id, Task.element_id == "answer_referral")
        ).one()
    clock.move_to(due + dt.timedelta(days=1))
    generate_page(browser, case_id, "supervision", "police")
    supervision = letters(app, case_id)[-1]
    assert supervision.number == "联动督〔2026〕1号"
    text = letter_text(app, supervision)
    assert "县公安局：" in text and "前办结" in text and debtor["name"] in text

    # closed without settlement: a delisting notice to every unit that sanctioned
    generate_api(app, token, case_id, "delisting_notice", "ndrc", expect=422)
    response = office.post(
        f"/cases/{case_id}/close",
        data={
            "closing_reason": "bankruptcy",
            "closing_notes": "破产终结",
            "court_ruling_no": "(2026)破终3号",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    page = office.get(f"/cases/{case_id}").get_data(as_text=True)
    for unit in SANCTIONING:
        assert f'value="delisting_notice:{unit}"' in page
    generate_page(browser, case_id, "delisting_notice", "ndrc")
    delisting = letters(app, case_id)[-1]
    assert delisting.number == "联动移出〔2026〕1号"
    text = letter_text(app, delisting)
    assert "县发展改革委：" in text and "移出" in text and "破产" in text and debtor["identifier"] in text

    # every letter's file is in the history chain with its hash, and the chain verifies
    generated = events(app, case_id, "document_generated")
    added = {e.data["attachment_id"]: e.data["sha256"] for e in events(app, case_id, "attachment_added")}
    assert [e.data["number"] for e in generated] == [d.number for d in letters(app, case_id)]
    for event, document in zip(generated, letters(app, case_id), strict=True):
        row, content = stored_file(app, document.docx_attachment_id)
        assert event.data["attachment_ids"][0] == row.id and event.data["unit"] == document.unit_code
        assert event.data["sha256"][0] == row.sha256 == added[row.id] == hashlib.sha256(content).hexdigest()
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--case", str(case_id)])
    assert result.exit_code == 0, result.output
    assert office.get(f"/audit/cases/{case_id}").status_code == 200
    printed = office.get(f"/audit/cases/{case_id}/print").get_data(as_text=True)
    assert printed.count("已生成文书") == 4

    # the API lists them; the office's system downloads the DOCX it links with its token
    listed = app.test_client().get(f"/api/v1/cases/{case_id}/documents", headers=token("office")).get_json()
    assert [d["number"] for d in listed["documents"]] == [d.number for d in letters(app, case_id)]
    download = app.test_client().get(listed["documents"][0]["docx"]["url"], headers=token("office"))
    content = download.data
    download.close()
    assert download.status_code == 200 and "联动惩〔2026〕1号" in text_of(content)


def test_only_the_addressee_the_office_and_auditors_read_a_letter(app, browser, clock, token):
    """A letter names the identifier in full: units taking part in the case that it is not
    addressed to neither see it listed nor download it."""
    case_id = sanctioned(app, browser, clock, 2)
    generate_page(browser, case_id, "sanction_notice", "court")
    [notice] = letters(app, case_id)
    url = f"/attachments/{notice.docx_attachment_id}"
    for reader in ("court", "office", "auditor"):
        assert status(browser(reader), url) == 200, reader
        assert "联动惩〔2026〕1号" in browser(reader).get(f"/cases/{case_id}").get_data(as_text=True)
    # the court is told (and nobody else)
    told = f"办公室向本单位发送了案件 #{case_id} 的文书：联合惩戒通知 联动惩〔2026〕1号。"
    assert told in browser("court").get("/notifications").get_data(as_text=True)
    for outsider in ("bank_icbc", "ndrc"):
        assert "联动惩" not in browser(outsider).get("/notifications").get_data(as_text=True)
        assert status(browser(outsider), url) == 404, outsider
        assert "联动惩〔2026〕1号" not in browser(outsider).get(f"/cases/{case_id}").get_data(as_text=True)
        listed = app.test_client().get(f"/api/v1/cases/{case_id}/documents", headers=token(outsider))
        assert listed.status_code == 200 and listed.get_json()["documents"] == []


def test_numbers_run_per_kind_and_restart_each_year(app, browser, clock, token):
    case_id = sanctioned(app, browser, clock, 3)
    numbers = [
        generate_api(app, token, case_id, "sanction_notice", unit)["document"]["number"]
        for unit in ("court", "ndrc", "market")
    ]
    assert numbers == ["联动惩〔2026〕1号", "联动惩〔2026〕2号", "联动惩〔2026〕3号"]
    # another kind counts on its own
    with app.extensions["db_sessionmaker"]() as session:
        due = min(session.scalars(select(Task.due_at).where(Task.case_id == case_id, Task.status == "open")))
    clock.move_to(due + dt.timedelta(hours=1))
    overdue = generate_api(app, token, case_id, "supervision", "court")["document"]["number"]
    assert overdue == "联动督〔2026〕1号"
    # the year is the county's: 00:30 on 1 January in Beijing is still 31 December in UTC
    clock.move_to(dt.datetime(2026, 12, 31, 16, 30, tzinfo=dt.UTC))
    assert generate_api(app, token, case_id, "sanction_notice", "court")["document"]["number"] == (
        "联动惩〔2027〕1号"
    )
    assert generate_api(app, token, case_id, "sanction_notice", "finance")["document"]["number"] == (
        "联动惩〔2027〕2号"
    )
    with app.extensions["db_sessionmaker"]() as session:
        rows = {(r.kind, r.year): r.last for r in session.scalars(select(DocumentNumber))}
    assert rows == {("sanction_notice", 2026): 3, ("supervision", 2026): 1, ("sanction_notice", 2027): 2}
    assert [d.seq for d in letters(app, case_id)] == [1, 2, 3, 1, 1, 2]


def test_concurrent_letters_get_distinct_numbers(app, browser, clock, token):
    """Two requests at once, each in its own session: numbers 1 and 2, never the same twice."""
    first, second = sanctioned(app, browser, clock, 4), sanctioned(app, browser, clock, 5)
    headers = token("office")
    barrier = threading.Barrier(2)
    answers: dict[int, Any] = {}

    def post(case_id: int) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(
            f"/api/v1/cases/{case_id}/documents",
            json={"kind": "sanction_notice", "unit": "court"},
            headers=headers,
        )
        answers[case_id] = (response.status_code, response.get_json())

    threads = [threading.Thread(target=post, args=(c,)) for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [answers[c][0] for c in (first, second)] == [201, 201], answers
    numbers = sorted(answers[c][1]["document"]["number"] for c in (first, second))
    assert numbers == ["联动惩〔2026〕1号", "联动惩〔2026〕2号"]


def test_a_number_taken_waits_for_its_transaction_and_a_rollback_gives_it_back(app, users, clock):
    """The counter's upsert holds the (kind, year) row until the transaction ends: a second
    session waits, then counts on from the first's number; a rolled-back number is reused."""
    maker = app.extensions["db_sessionmaker"]
    got: list[int] = []
    with maker() as first:
        assert numbering.next_number(first, "referral", 2026) == 1
        first.commit()
    with maker() as first:
        assert numbering.next_number(first, "referral", 2026) == 2

        def second_session() -> None:
            with maker() as second:
                got.append(numbering.next_number(second, "referral", 2026))
                second.commit()

        waiting = threading.Thread(target=second_session)
        waiting.start()
        waiting.join(1.0)
        assert waiting.is_alive() and got == []  # blocked by the first transaction
        first.rollback()  # number 2 given back
    waiting.join(30)
    assert got == [2]
    with maker() as session:
        assert numbering.next_number(session, "referral", 2026) == 3
        assert numbering.next_number(session, "referral", 2027) == 1
        session.commit()


def test_a_kind_that_does_not_apply_is_refused_and_writes_nothing(app, browser, clock, token):
    case_id = browser("bank_icbc").report(report_payload(6))  # at review: no letter applies
    page = browser("office").get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="no-document-applies"' in page and 'id="document-form"' not in page
    before, files = counts(app), set(Path(app.config["UPLOAD_DIR"]).glob("*"))
    for kind, unit in [("referral", "court"), ("sanction_notice", "court"), ("delisting_notice", "court")]:
        answer = generate_api(app, token, case_id, kind, unit, expect=422)
        assert "kind" in answer["fields"]
        generate_page(browser, case_id, kind, unit, expect=422)
    assert generate_api(app, token, case_id, "no_such_kind", "court", expect=422)["fields"]["kind"]
    assert counts(app) == before
    assert set(Path(app.config["UPLOAD_DIR"]).glob("*")) == files
    # sanctions started, but not by the police: the notice cannot go there
    case_id = sanctioned(app, browser, clock, 7)
    before = counts(app)
    assert generate_api(app, token, case_id, "sanction_notice", "police", expect=422)["fields"]["unit"]
    assert counts(app) == before


def test_only_office_caseworkers_and_supervisors_generate(app, browser, clock, token):
    case_id = sanctioned(app, browser, clock, 8)
    before = counts(app)
    for user in ("bank_icbc", "court", "admin"):
        response = browser(user).post(
            f"/cases/{case_id}/documents", data={"document": "sanction_notice:court"}
        )
        assert response.status_code == 403, user
        generate_api(app, token, case_id, "sanction_notice", "court", user=user, expect=403)
        assert 'id="document-form"' not in browser(user).get(f"/cases/{case_id}").get_data(as_text=True)
    generate_api(app, token, case_id, "sanction_notice", "court", user="auditor", expect=403)
    assert browser("tax").post(f"/cases/{case_id}/documents", data={}).status_code == 404
    assert counts(app) == before
    assert generate_api(app, token, case_id, "sanction_notice", "court", user="supervisor")["document"]


# a stand-in for LibreOffice: converts by writing a small PDF where soffice would
FAKE_SOFFICE = """#!/bin/sh
out=""
while [ $# -gt 0 ]; do
  case "$1" in --outdir) out="$2"; shift ;; esac
  last="$1"
  shift
done
printf '%%PDF-1.4\\n%% converted from %s\\n' "$(basename "$last")" > "$out/$(basename "$last" .docx).pdf"
"""
HANGING_SOFFICE = "#!/bin/sh\nsleep 30\n"


def _program(directory: Path, script: str) -> None:
    directory.mkdir()
    program = directory / "soffice"
    program.write_text(script)
    program.chmod(0o755)


def test_with_libreoffice_a_pdf_is_attached_too_and_a_hung_conversion_is_given_up(
    app, browser, clock, token, tmp_path, monkeypatch
):
    case_id = sanctioned(app, browser, clock, 9)
    _program(tmp_path / "working", FAKE_SOFFICE)
    monkeypatch.setenv("PATH", f"{tmp_path / 'working'}:/usr/bin:/bin")
    page = browser("office").get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="document-form"' in page and 'id="pdf-unavailable"' not in page
    body = generate_api(app, token, case_id, "sanction_notice", "court")["document"]
    assert body["pdf"] is not None and body["pdf"]["url"].startswith("/api/v1/attachments/")
    [letter] = letters(app, case_id)
    assert letter.pdf_attachment_id is not None
    row, content = stored_file(app, letter.pdf_attachment_id)
    assert content.startswith(b"%PDF-") and row.content_type == "application/pdf"
    assert row.original_name.endswith(".pdf") and body["pdf"]["sha256"] == hashlib.sha256(content).hexdigest()
    [event] = events(app, case_id, "document_generated")
    assert event.data["attachment_ids"] == [letter.docx_attachment_id, letter.pdf_attachment_id]
    assert event.data["sha256"][1] == row.sha256
    hashed = {e.data["attachment_id"]: e.data["sha256"] for e in events(app, case_id, "attachment_added")}
    assert hashed[row.id] == row.sha256

    # a conversion that hangs is given up after the timeout: the letter is kept as DOCX only
    _program(tmp_path / "hanging", HANGING_SOFFICE)
    monkeypatch.setenv("PATH", f"{tmp_path / 'hanging'}:/usr/bin:/bin")
    monkeypatch.setattr(render, "PDF_TIMEOUT_SECONDS", 1)
    body = generate_api(app, token, case_id, "sanction_notice", "ndrc")["document"]
    assert body["number"] == "联动惩〔2026〕2号" and body["pdf"] is None
