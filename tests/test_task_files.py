"""Files attached to a task's form (``x-widget: files``): through the task page and the API
(multipart), hashed into the case's history, shown on the task page, verified by the replay;
a wrong, too big or superfluous file refused with nothing written."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from tests.support import assess, case_row, confirm, interview_form, open_task_id, report_payload
from webapp.models import Attachment, CaseEvent, Task

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 2 March 2026, 09:00 in China
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
DOCX = b"PK\x03\x04" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def issue_token(app, username: str) -> str:
    result = app.test_cli_runner().invoke(args=["tokens", "issue", username])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def stored_files(app) -> set[str]:
    folder = Path(app.config["UPLOAD_DIR"])
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def attachment_count(app) -> int:
    with app.extensions["db_sessionmaker"]() as session:
        return int(session.scalar(select(func.count(Attachment.id))) or 0)


def submitted(app, task_id: str) -> dict:
    with app.extensions["db_sessionmaker"]() as session:
        task = session.get(Task, task_id)
        assert task is not None
        return dict(task.submitted or {}), task.status


def post_task(browser, task_id: str, fields: dict, files: list[tuple[str, str, bytes]]):
    data: dict = {key: str(value) for key, value in fields.items()}
    for field, name, content in files:
        data.setdefault(field, []).append((io.BytesIO(content), name))
    return browser.post(f"/tasks/{task_id}", data=data, content_type="multipart/form-data")


def api_complete(app, token: str, task_id: str, data: dict | None, files: list[tuple[str, str, bytes]]):
    body: dict = {}
    if data is not None:
        body["data"] = json.dumps(data, ensure_ascii=False)
    for field, name, content in files:
        body.setdefault(field, []).append((io.BytesIO(content), name))
    return app.test_client().post(
        f"/api/v1/tasks/{task_id}/complete",
        data=body,
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {token}"},
    )


def reported_and_confirmed(browser) -> int:
    case_id = browser("bank_icbc").report(report_payload(1))
    confirm(browser, case_id)
    return case_id


def test_files_through_page_and_api_are_hashed_shown_and_verified(app, browser):
    with freeze_time(START) as clock:
        case_id = reported_and_confirmed(browser)
        office = browser("office")
        interview = open_task_id(app, case_id, "interview")

        page = office.get(f"/tasks/{interview}").get_data(as_text=True)
        assert 'enctype="multipart/form-data"' in page
        assert re.search(r'<input id="minutes_files" name="minutes_files" type="file" multiple', page)

        response = post_task(
            office,
            interview,
            interview_form(days=7),
            [("minutes_files", "约谈笔录.pdf", PDF), ("minutes_files", "现场照片.png", PNG)],
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:1500]
        data, status = submitted(app, interview)
        assert status == "completed"
        files = data["minutes_files"]
        assert [(f["name"], f["size"], f["sha256"]) for f in files] == [
            ("约谈笔录.pdf", len(PDF), sha(PDF)),
            ("现场照片.png", len(PNG), sha(PNG)),
        ]
        # each file's hash is in the case's history chain, as its own event and in the step's data
        with app.extensions["db_sessionmaker"]() as session:
            events = list(
                session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))
            )
            added = [e.data for e in events if e.kind == "attachment_added"]
            assert {(d["attachment_id"], d["sha256"]) for d in added} == {
                (f["id"], f["sha256"]) for f in files
            }
            completed = next(e for e in events if e.kind == "task_completed" and e.task_id == interview)
            assert completed.data["submitted"]["minutes_files"] == files

        # the completed task lists the files, previews the image and the PDF in the page
        shown = office.get(f"/tasks/{interview}").get_data(as_text=True)
        section = shown[shown.index('id="submitted"') :]
        for f in files:
            assert f["name"] in section and f["sha256"][:12] in section
        assert f'<img src="/attachments/{files[1]["id"]}?inline=1"' in section
        assert f'<iframe src="/attachments/{files[0]["id"]}?inline=1"' in section
        inline = office.get(f"/attachments/{files[0]['id']}?inline=1")
        assert inline.status_code == 200 and inline.data == PDF
        assert inline.headers["Content-Type"] == "application/pdf"
        assert inline.headers["Content-Disposition"].startswith("inline")
        assert inline.headers["X-Content-Type-Options"] == "nosniff"
        assert inline.headers["X-Frame-Options"] == "SAMEORIGIN"
        inline.close()
        download = office.get(f"/attachments/{files[0]['id']}")
        assert download.headers["Content-Disposition"].startswith("attachment")
        download.close()
        # a bank that did not report the case sees neither the case nor its files
        assert browser("bank_abc").get(f"/attachments/{files[0]['id']}?inline=1").status_code == 404

        # the sanctioning unit attaches its notice through the API (multipart)
        clock.move_to(dt.datetime(2026, 3, 9, 2, 0, tzinfo=dt.UTC))
        assert app.test_cli_runner().invoke(args=["timers", "fire"]).exit_code == 0
        assess(browser, case_id)
        sanction = open_task_id(app, case_id, "apply_sanction", unit="court")
        token = issue_token(app, "court")
        answer = api_complete(
            app, token, sanction, {"measures": ["exit_ban"]}, [("notice_files", "限制出境决定书.docx", DOCX)]
        )
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["task"]["status"] == "completed"
        notice = submitted(app, sanction)[0]["notice_files"]
        assert [(f["name"], f["sha256"]) for f in notice] == [("限制出境决定书.docx", sha(DOCX))]

    # the replay shows every file at its step and verifies it against the stored file
    auditor = browser("auditor")
    replay = auditor.get(f"/audit/cases/{case_id}").get_data(as_text=True)
    assert 'id="verdict" class="flash success"' in replay
    rows = re.findall(r'<tr data-file="(\d+)" data-state="(\w+)">', replay)
    ids = [str(f["id"]) for f in files + notice]
    assert sorted(rows) == sorted((i, "intact") for i in ids)
    for f in files + notice:
        assert f["sha256"] in replay
    assert "一致" in replay and 'id="files-verdict" class="flash success"' in replay

    # someone changes a stored file on disk: the replay says so, for that file only
    with app.extensions["db_sessionmaker"]() as session:
        stored_name = session.get(Attachment, files[0]["id"]).stored_name
    (Path(app.config["UPLOAD_DIR"]) / stored_name).write_bytes(PDF + b"% changed\n")
    replay = auditor.get(f"/audit/cases/{case_id}").get_data(as_text=True)
    states = dict(re.findall(r'<tr data-file="(\d+)" data-state="(\w+)">', replay))
    assert states == {ids[0]: "altered", ids[1]: "intact", ids[2]: "intact"}
    assert "已被改动" in replay and 'id="files-verdict" class="flash error"' in replay
    # the chain itself is intact: the file, not the history, was changed
    assert 'id="verdict" class="flash success"' in replay
    steps = json.loads(re.search(r'id="replay-steps">(.*?)</script>', replay, re.S).group(1))
    # in the step panel too: the file's own step and the task's completion both name it
    altered = [(step["seq"], f["id"]) for step in steps for f in step["files"] if f["state"] == "altered"]
    assert len(altered) == 2 and {file_id for _seq, file_id in altered} == {files[0]["id"]}


def test_wrong_files_are_refused_with_nothing_written(app, browser):
    case_id = reported_and_confirmed(browser)
    office = browser("office")
    interview = open_task_id(app, case_id, "interview")
    before, count = stored_files(app), attachment_count(app)

    def refused(response, field: str, text: str) -> None:
        assert response.status_code == 422, response.get_data(as_text=True)[:1500]
        assert text in response.get_data(as_text=True)
        assert submitted(app, interview)[1] == "open"
        assert stored_files(app) == before and attachment_count(app) == count
        assert case_row(app, case_id).stage == "interview"

    # a program renamed to .pdf, beside a good file: neither is kept
    bad = [("minutes_files", "笔录.pdf", PDF), ("minutes_files", "setup.pdf", EXE)]
    response = post_task(office, interview, interview_form(), bad)
    refused(response, "minutes_files", "文件内容与文件类型不符")
    assert 'class="field invalid" data-field="minutes_files"' in response.get_data(as_text=True)
    # a type not accepted at all
    refused(
        post_task(office, interview, interview_form(), [("minutes_files", "run.exe", EXE)]), "", "仅支持 PDF"
    )
    # a good file with a required field missing: the file written first is removed again
    form = {k: v for k, v in interview_form().items() if k != "attendees"}
    refused(post_task(office, interview, form, [("minutes_files", "笔录.pdf", PDF)]), "", "此项为必填项")
    # more files than the field takes
    many = [("minutes_files", f"{n}.pdf", PDF) for n in range(6)]
    refused(post_task(office, interview, interview_form(), many), "", "最多上传 5 个文件")
    # too big for the per-file limit
    limit = app.config["ATTACHMENT_MAX_BYTES"]
    app.config["ATTACHMENT_MAX_BYTES"] = 1024
    try:
        big = [("minutes_files", "大文件.pdf", PDF + b"0" * 2048)]
        refused(post_task(office, interview, interview_form(), big), "", "大文件.pdf 超过 1 KB 的大小上限")
    finally:
        app.config["ATTACHMENT_MAX_BYTES"] = limit

    # the API refuses the same, as JSON, and data naming files itself
    token = issue_token(app, "office")
    data = {k: v for k, v in interview_form().items()}
    answer = api_complete(app, token, interview, data, [("minutes_files", "setup.pdf", EXE)])
    assert answer.status_code == 422 and "minutes_files" in answer.get_json()["fields"]
    forged = {**data, "minutes_files": [{"id": 1, "name": "x.pdf", "size": 5, "sha256": "0" * 64}]}
    answer = app.test_client().post(
        f"/api/v1/tasks/{interview}/complete",
        json={"data": forged},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 422 and "minutes_files" in answer.get_json()["fields"]
    answer = api_complete(app, token, interview, data, [("no_such_field", "a.pdf", PDF)])
    assert answer.status_code == 422 and "no_such_field" in answer.get_json()["fields"]
    answer = app.test_client().post(
        f"/api/v1/tasks/{interview}/complete",
        data={"data": "{not json"},
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 422
    assert submitted(app, interview)[1] == "open"
    assert stored_files(app) == before and attachment_count(app) == count

    # JSON without files still completes a form that has a file field
    answer = app.test_client().post(
        f"/api/v1/tasks/{interview}/complete",
        json={"data": data},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.get_json()
    assert "minutes_files" not in submitted(app, interview)[0]


@pytest.mark.parametrize(
    "form",
    [
        "interview.json",
        "official_talk.json",
        "apply_sanction.json",
        "lift_sanction.json",
        "answer_referral.json",
        "police_outcome.json",
        "prosecution_decision.json",
        "court_judgment.json",
        "tax_inspection.json",
        "review.json",
    ],
)
def test_evidence_forms_have_an_optional_file_field(forms_dir, form):
    schema = json.loads((forms_dir / form).read_text(encoding="utf-8"))
    fields = [n for n, p in schema["properties"].items() if p.get("x-widget") == "files"]
    assert len(fields) == 1 and fields[0] not in schema.get("required", [])
    assert schema["properties"][fields[0]]["maxItems"] == 5


def test_several_files_each_within_the_limit_pass_a_smaller_app_wide_request_limit(app, browser):
    """A completion may carry five files at the per-file limit: the request limit of the
    completion routes is raised to that, so two large files are not a bare 413 (found in
    review: the app-wide 10 MB limit was below two 8 MB files)."""
    limits = app.config["ATTACHMENT_MAX_BYTES"], app.config["MAX_CONTENT_LENGTH"]
    app.config["ATTACHMENT_MAX_BYTES"], app.config["MAX_CONTENT_LENGTH"] = 4096, 6000
    try:
        case_id = reported_and_confirmed(browser)
        interview = open_task_id(app, case_id, "interview")
        two = [("minutes_files", f"{n}.pdf", PDF + b"0" * 3000) for n in range(2)]
        response = post_task(browser("office"), interview, interview_form(), two)
        assert response.status_code == 302, response.status_code
        assert len(submitted(app, interview)[0]["minutes_files"]) == 2
    finally:
        app.config["ATTACHMENT_MAX_BYTES"], app.config["MAX_CONTENT_LENGTH"] = limits
