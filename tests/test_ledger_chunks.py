"""Ledger imports in chunks, through the doors users have (pages, the worker's command, a
worker process): a case opened in bulk is the case the report form opens; a discarded import
leaves nothing behind; an import running beside caseworkers shows its cases all at once and
hinders no step."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from flask import Flask
from freezegun import freeze_time
from sqlalchemy import func, select

from tests.ledger_files import enterprise_row, to_csv
from tests.support import ROOT, Browser, credit_code, report_payload
from tests.test_ledger import batch_of, count, upload, work
from webapp.cases.versions import definition_of
from webapp.engine import CaseRun
from webapp.models import (
    Case,
    CaseEvent,
    CaseParticipant,
    ChainHead,
    Debtor,
    Loan,
    ProcessVersion,
    Task,
)

# Thursday 12 February 2026, 10:00 in China
START = dt.datetime(2026, 2, 12, 2, 0, tzinfo=dt.UTC)
EVIDENCE_COLUMN = 13  # tests.ledger_files.HEADER_ZH: 证据材料说明
MALICIOUS = "生产经营正常，恶意拖欠银行债务"  # malicious_arrears, the report payload's behaviour


def _row_like_payload(n: int, contract: str, **changes: object) -> list[object]:
    """A ledger row of enterprise ``n`` with the loan and evidence of ``report_payload``."""
    row = enterprise_row(
        n,
        contract,
        behaviour=MALICIOUS,
        principal="1000000",
        interest="6000",
        overdue_since="2025-01-15",
        **changes,
    )
    row[EVIDENCE_COLUMN] = "逾期一年"
    return row


def _import(app: Flask, bank: Browser, rows: list[list[object]]) -> int:
    """Upload, check, confirm and import a file in the worker's passes; the batch's id."""
    batch_id = upload(bank, to_csv(rows))
    work(app)
    assert bank.post(f"/ledger/{batch_id}/confirm").status_code == 303
    work(app)
    batch = batch_of(app, batch_id)
    assert batch.status == "done", batch.error
    return batch_id


def _case_of(app: Flask, identifier: str) -> int:
    with app.extensions["db_sessionmaker"]() as session:
        case_id = session.scalar(select(Case.id).join(Debtor).where(Debtor.identifier == identifier))
        assert case_id is not None
        return case_id


def _portrait(app: Flask, case_id: int) -> dict[str, Any]:
    """What a case is, but for what names it (its id, debtor, contracts)."""
    with app.extensions["db_sessionmaker"]() as session:
        case = session.get_one(Case, case_id)
        tasks = session.scalars(select(Task).where(Task.case_id == case_id, Task.status == "open")).all()
        events = session.scalars(
            select(CaseEvent).where(CaseEvent.chain == f"case:{case_id}").order_by(CaseEvent.seq)
        ).all()
        loans = session.scalars(select(Loan).where(Loan.case_id == case_id).order_by(Loan.contract_no)).all()
        units = set(
            session.scalars(select(CaseParticipant.unit_code).where(CaseParticipant.case_id == case_id))
        )
        version = session.get_one(ProcessVersion, case.process_version_id)
        run = CaseRun.load(definition_of(version), case.state)
        review = [t.id for t in tasks if t.element_id == "review"]
        data = run.task_data(review[0]) if review else {}
        return {
            "case": {
                "status": case.status,
                "stage": case.stage,
                "blacklisted": case.blacklisted,
                "active_elements": case.active_elements,
                "completed_elements": case.completed_elements,
                "next_timer_at": case.next_timer_at,
                "awaits_message": case.awaits_message,
                "incident": case.incident,
            },
            "tasks": sorted(
                (t.element_id, t.title, t.lane, t.unit_code, t.form, t.status, t.due_at) for t in tasks
            ),
            "participants": units,
            "loans": [
                (
                    ln.principal,
                    ln.interest,
                    ln.overdue_since,
                    ln.guarantee,
                    ln.behaviour,
                    ln.evidence,
                    ln.reported_by_id,
                    ln.bank_unit_code,
                )
                for ln in loans
            ],
            "events": [
                (e.kind, e.unit_code, e.element_id, e.actor_id, sorted(e.data), e.data.get("behaviour"))
                for e in events
            ],
            "review_data": data,
        }


def test_a_case_opened_in_bulk_is_the_case_the_form_opens(app, users, browser):
    with freeze_time(START):  # both cases opened at the same instant: the same due dates
        icbc, office = browser("bank_icbc"), browser("office")
        by_form = icbc.report(report_payload(1))
        batch_id = _import(app, icbc, [_row_like_payload(2, "HT-2")])
        imported = _case_of(app, credit_code(2))
        assert batch_of(app, batch_id).cases_created == 1
        with app.extensions["db_sessionmaker"]() as session:
            assert session.get_one(Case, imported).import_batch_id == batch_id

        form, bulk = _portrait(app, by_form), _portrait(app, imported)
        assert bulk["case"] == form["case"]
        assert form["case"]["next_timer_at"] is None and form["case"]["stage"] == "review"
        assert bulk["tasks"] == form["tasks"] and [t[0] for t in form["tasks"]] == ["review"]
        assert bulk["participants"] == form["participants"] == {"bank_icbc", "office"}
        assert bulk["loans"] == form["loans"] and len(form["loans"]) == 1
        assert [e[0] for e in form["events"]] == ["reported", "task_opened"]
        # the same events, but the import's report names its batch
        reported_form, reported_bulk = form["events"][0], bulk["events"][0]
        assert reported_bulk[4] == sorted({*reported_form[4], "import_batch"})
        assert reported_bulk[:4] == reported_form[:4] and reported_bulk[5] == reported_form[5]
        assert bulk["events"][1:] == form["events"][1:]
        # the engine's data of the review: the same but each case's own id
        assert form["review_data"]["case_id"] == by_form and bulk["review_data"]["case_id"] == imported
        assert {k: v for k, v in bulk["review_data"].items() if k != "case_id"} == {
            k: v for k, v in form["review_data"].items() if k != "case_id"
        }

        # reviewed alike, they go on alike
        for case_id in (by_form, imported):
            office.complete(case_id, "review", review_decision="confirm", classification="evasion")
        form, bulk = _portrait(app, by_form), _portrait(app, imported)
        assert form["case"]["stage"] != "review"
        assert bulk["case"] == form["case"] and bulk["tasks"] == form["tasks"]
        assert bulk["participants"] == form["participants"]
        assert [e[0] for e in bulk["events"]] == [e[0] for e in form["events"]]
        assert bulk["events"][1:] == form["events"][1:]
        assert icbc.get(f"/cases/{imported}").status_code == 200


def test_a_debtor_with_two_behaviours_gets_one_case_with_both_loans(app, users, browser):
    with freeze_time(START):
        icbc = browser("bank_icbc")
        # by the form: the debtor reported twice, once per behaviour
        first = report_payload(1, behaviour="asset_transfer")
        by_form = icbc.report(first)
        second = report_payload(1, behaviour="malicious_arrears")
        second["loans"][0]["contract_no"] = "C-1-2"
        assert icbc.report(second) == by_form  # joins the open case
        # by a ledger: both rows in one file (enterprise_row's behaviour is asset_transfer)
        rows = [enterprise_row(2, "HT-2-1"), enterprise_row(2, "HT-2-2", behaviour=MALICIOUS)]
        batch_id = _import(app, icbc, rows)
        batch = batch_of(app, batch_id)
        assert (batch.cases_created, batch.loans_added) == (1, 2)
        imported = _case_of(app, credit_code(2))

        form, bulk = _portrait(app, by_form), _portrait(app, imported)
        assert sorted(ln[4] for ln in bulk["loans"]) == ["asset_transfer", "malicious_arrears"]
        assert sorted(ln[4] for ln in form["loans"]) == sorted(ln[4] for ln in bulk["loans"])
        # the same events in the same order as the form's two reports
        assert [e[0] for e in bulk["events"]] == [e[0] for e in form["events"]]
        assert [e[0] for e in bulk["events"]] == ["reported", "task_opened", "loan_added"]
        added = [e for e in bulk["events"] if e[0] == "loan_added"]
        assert added[0][5] == "malicious_arrears" and bulk["events"][0][0] == "reported"
        assert bulk["case"] == form["case"] and bulk["tasks"] == form["tasks"]


def _worker_env(app: Flask, tmp_path: Path, chunk: int) -> dict[str, str]:
    return {
        **os.environ,
        "LIANDONG_DATABASE_URL": app.config["DATABASE_URL"],
        "LIANDONG_UPLOAD_DIR": app.config["UPLOAD_DIR"],
        "LIANDONG_INSTANCE_DIR": str(tmp_path),
        "LIANDONG_SECRET_KEY": "test",
        "LIANDONG_LEDGER_IMPORT_CHUNK": str(chunk),
    }


def _start_ledger_worker(app: Flask, tmp_path: Path, chunk: int) -> subprocess.Popen[bytes]:
    flask = str(ROOT / ".venv" / "bin" / "flask")
    return subprocess.Popen(  # noqa: S603 - the app's own command
        [flask, "--app", "webapp", "worker", "--lane", "ledger"],
        cwd=ROOT,
        env=_worker_env(app, tmp_path, chunk),
    )


def _stop(worker: subprocess.Popen[bytes], kill: bool = False) -> None:
    if worker.poll() is None:
        if kill:
            worker.kill()
        else:
            worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


def cut_off_after_a_chunk(
    app: Flask, tmp_path: Path, batch_id: int, chunk: int = 10, kill: bool = True
) -> int | None:
    """A ledger worker process imports the batch until it has committed a chunk, then is
    killed (or, ``kill=False``, sent SIGTERM); its exit status."""
    worker = _start_ledger_worker(app, tmp_path, chunk)
    try:
        deadline = time.monotonic() + 120
        while batch_of(app, batch_id).rows_done == 0:
            assert time.monotonic() < deadline, "the ledger lane did not commit a chunk"
            assert worker.poll() is None, "the worker ended"
            time.sleep(0.01)
    finally:
        _stop(worker, kill=kill)
    return worker.returncode


def _tally(app: Flask) -> dict[str, Any]:
    """The rows an import writes, counted (events and chains but the batches' own)."""
    with app.extensions["db_sessionmaker"]() as session:
        case_events = session.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.chain.like("case:%"))
        )
        chains = set(session.scalars(select(ChainHead.chain).where(~ChainHead.chain.like("import:%"))))
    return {
        "cases": count(app, Case),
        "debtors": count(app, Debtor),
        "loans": count(app, Loan),
        "tasks": count(app, Task),
        "participants": count(app, CaseParticipant),
        "case_events": case_events,
        "chains": chains,
    }


def _verify(app: Flask) -> None:
    runner = app.test_cli_runner()
    verify = runner.invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output


def test_a_discarded_import_leaves_nothing_behind(app, users, browser, tmp_path):
    icbc, abc = browser("bank_icbc"), browser("bank_abc")
    other = abc.report(report_payload(900))  # another debtor's case: it stays
    before = _tally(app)
    batch_id = upload(icbc, to_csv([enterprise_row(n, f"HT-{n}") for n in range(1, 201)]))
    work(app)
    assert icbc.post(f"/ledger/{batch_id}/confirm").status_code == 303

    cut_off_after_a_chunk(app, tmp_path, batch_id)  # a worker process killed
    batch = batch_of(app, batch_id)
    assert batch.status == "importing" and 0 < batch.cases_created < 200
    assert count(app, Case) == before["cases"] + batch.cases_created

    response = icbc.post(f"/ledger/{batch_id}/discard")
    assert response.status_code == 303, response.get_data(as_text=True)[:1000]
    assert batch_of(app, batch_id).status == "discarding"
    assert f"ledger batch {batch_id}" in work(app)
    batch = batch_of(app, batch_id)
    assert batch.status == "discarded"
    assert batch.cases_removed == batch.cases_created > 0
    assert _tally(app) == before
    with app.extensions["db_sessionmaker"]() as session:
        assert (
            session.scalar(select(func.count()).select_from(Case).where(Case.import_batch_id == batch_id))
            == 0
        )
        assert session.get(Case, other) is not None
        kinds = list(
            session.scalars(
                select(CaseEvent.kind).where(CaseEvent.chain == f"import:{batch_id}").order_by(CaseEvent.seq)
            )
        )
    assert kinds == ["import_started", "discard_requested", "import_discarded"]
    _verify(app)
    # the rows of one kind fit a page here (a longer list breaks the page: see below)
    page = icbc.get(f"/ledger/{batch_id}?kind=invalid")
    assert page.status_code == 200 and 'data-status="discarded"' in page.get_data(as_text=True)
    assert abc.get(f"/cases/{other}").status_code == 200
    # discarding it again changes nothing
    assert icbc.post(f"/ledger/{batch_id}/discard").status_code == 409


def test_an_import_whose_cases_were_shown_cannot_be_discarded(app, users, browser):
    icbc = browser("bank_icbc")
    batch_id = _import(app, icbc, [enterprise_row(1, "HT-1"), enterprise_row(2, "HT-2")])
    cases = count(app, Case)
    assert cases == 2
    assert icbc.post(f"/ledger/{batch_id}/discard").status_code == 409
    work(app)
    assert batch_of(app, batch_id).status == "done" and count(app, Case) == cases


def test_a_batch_page_with_more_rows_than_a_page_opens(app, users, browser):
    icbc = browser("bank_icbc")
    batch_id = upload(icbc, to_csv([enterprise_row(n, f"HT-{n}") for n in range(1, 61)]))
    work(app)  # 60 new rows: more than a page of 50
    page = icbc.get(f"/ledger/{batch_id}?kind=new")
    assert page.status_code == 200
    assert f"/ledger/{batch_id}?kind=new&amp;page=2" in page.get_data(as_text=True)


INBOX_COUNT = re.compile(r'id="nav-inbox-count">(\d+)<')


def _inbox_count(office: Browser) -> int:
    response = office.get("/inbox")
    assert response.status_code == 200, response.get_data(as_text=True)[:1000]
    found = INBOX_COUNT.search(response.get_data(as_text=True))
    assert found is not None
    return int(found.group(1))


def test_an_import_beside_caseworkers_appears_at_once_and_hinders_no_step(app, users, browser, tmp_path):
    rows = 2000
    icbc, office = browser("bank_icbc"), browser("office")
    prepared = [icbc.report(report_payload(n)) for n in range(5001, 5013)]
    batch_id = upload(icbc, to_csv([enterprise_row(n, f"HT-{n}") for n in range(1, rows + 1)]))
    work(app)
    assert icbc.post(f"/ledger/{batch_id}/confirm").status_code == 303
    seen_before = _inbox_count(office)
    assert seen_before == len(prepared)  # one review each

    readings: list[tuple[str, int]] = []  # (the batch's status just before, the count seen)
    reviewed: list[int] = []
    worker = _start_ledger_worker(app, tmp_path, chunk=50)
    try:
        deadline = time.monotonic() + 600
        while batch_of(app, batch_id).status != "done":
            assert time.monotonic() < deadline, "the import did not finish"
            assert worker.poll() is None, "the worker ended"
            status = batch_of(app, batch_id).status
            if status == "importing" and len(reviewed) < len(prepared):
                # a caseworker's step beside the import: it goes through
                case_id = prepared[len(reviewed)]
                office.complete(case_id, "review", review_decision="confirm", classification="evasion")
                reviewed.append(case_id)
            readings.append((status, _inbox_count(office)))
    finally:
        _stop(worker)

    batch = batch_of(app, batch_id)
    assert batch.status == "done" and batch.cases_created == rows and not batch.hides_cases
    seen_after = _inbox_count(office)
    # a reviewed case's next step is the office's again: the reviews leave the count as it was
    assert seen_after == seen_before + rows
    assert {n for _, n in readings} <= {seen_before, seen_after}, Counter(n for _, n in readings)
    during = [n for status, n in readings if status == "importing"]
    assert len(during) >= 3, readings
    assert reviewed, "no review ran while the batch was importing"
    for case_id in prepared:  # those not reviewed meanwhile, reviewed now
        if case_id not in reviewed:
            office.complete(case_id, "review", review_decision="confirm", classification="evasion")
    assert count(app, Case) == len(prepared) + rows
    with app.extensions["db_sessionmaker"]() as session:
        stages = set(session.scalars(select(Case.stage).where(Case.id.in_(prepared))))
    assert "review" not in stages
    _verify(app)
    check = app.test_cli_runner().invoke(args=["cases", "check"])
    assert check.exit_code == 0, check.output


def test_a_failed_import_keeps_its_chunks_hidden_and_resumes_after_them(app, users, browser, tmp_path):
    """Killed after a chunk, then failing when claimed again (the diagrams' folder was broken
    by a bad deployment): the bank sees the failure, its cases stay hidden, and once the
    folder is fixed the bank resumes it, which goes on after the committed chunks."""
    icbc, office = browser("bank_icbc"), browser("office")
    before = _tally(app)
    batch_id = upload(icbc, to_csv([enterprise_row(n, f"HT-{n}") for n in range(1, 201)]))
    work(app)
    assert icbc.post(f"/ledger/{batch_id}/confirm").status_code == 303
    cut_off_after_a_chunk(app, tmp_path, batch_id)
    committed = batch_of(app, batch_id).cases_created
    assert 0 < committed < 200

    broken = tmp_path / "processes"
    shutil.copytree(app.config["PROCESSES_DIR"], broken)
    (broken / "debt_case.bpmn").write_text("<definitions>cut short", encoding="utf-8")
    good, app.config["PROCESSES_DIR"] = app.config["PROCESSES_DIR"], str(broken)
    app.config["LEDGER_STALE_SECONDS"] = 0  # the killed worker's claim is stale
    try:
        work(app)  # queued again
        work(app)  # claimed, and fails
    finally:
        app.config["PROCESSES_DIR"] = good
        del app.config["LEDGER_STALE_SECONDS"]
    batch = batch_of(app, batch_id)
    assert batch.status == "failed" and batch.error
    assert batch.hides_cases and batch.cases_created == committed
    page = icbc.get(f"/ledger/{batch_id}?kind=invalid").get_data(as_text=True)
    assert 'id="resume"' in page and 'id="discard-import"' in page
    assert _inbox_count(office) == 0  # the committed chunks' review tasks are hidden

    assert icbc.post(f"/ledger/{batch_id}/resume").status_code == 303
    assert batch_of(app, batch_id).status == "queued"
    work(app)
    batch = batch_of(app, batch_id)
    assert batch.status == "done" and not batch.hides_cases
    assert (batch.rows_done, batch.cases_created) == (200, 200)
    assert _tally(app)["cases"] == before["cases"] + 200
    with app.extensions["db_sessionmaker"]() as session:
        contracts = list(session.scalars(select(Loan.contract_no).where(Loan.bank_unit_code == "bank_icbc")))
        history = list(
            session.scalars(
                select(CaseEvent.kind).where(CaseEvent.chain == f"import:{batch_id}").order_by(CaseEvent.seq)
            )
        )
    assert len(contracts) == len(set(contracts)) == 200  # no row twice
    assert history == ["import_started", "import_failed", "import_resumed", "cases_shown", "import_finished"]
    assert _inbox_count(office) == 200
    _verify(app)


def test_a_report_between_a_chunks_plan_and_its_write_is_kept_and_the_chunk_planned_again(
    app, users, browser, monkeypatch
):
    """A chunk is planned by reads alone, its ids reserved (on SQLite: the ids after the
    largest); a bank's report that commits in between takes one of them. The chunk's write
    then fails on the key and it is planned again: both the report and the import stand."""
    from webapp.ledger import importer

    icbc, abc = browser("bank_icbc"), browser("bank_abc")
    batch_id = upload(icbc, to_csv([enterprise_row(n, f"HT-{n}") for n in range(1, 21)]))
    work(app)
    assert icbc.post(f"/ledger/{batch_id}/confirm").status_code == 303
    plan_chunk = importer._plan_chunk
    plans: list[int] = []

    def plan_then_a_report_commits(*args: Any, **kwargs: Any) -> Any:
        planned = plan_chunk(*args, **kwargs)
        plans.append(len(planned[1]))
        if len(plans) == 1:
            abc.report(report_payload(700))  # its own request and transaction, committed
        return planned

    monkeypatch.setattr(importer, "_plan_chunk", plan_then_a_report_commits)
    work(app)
    batch = batch_of(app, batch_id)
    assert batch.status == "done" and batch.cases_created == 20
    assert count(app, Case) == 21
    if app.config["BACKEND"] == "sqlite":
        assert plans == [20, 20]  # planned again after the collision
    else:
        assert plans == [20]  # ids from the sequence: nobody else can take them
    _verify(app)


def test_a_debtor_reported_between_a_chunks_plan_and_its_write_is_joined_after_a_new_plan(
    app, users, browser, monkeypatch
):
    """Another bank reports one of the file's debtors between a chunk's plan and its write:
    the chunk's insert fails on the debtor's key (through COPY on PostgreSQL too), the chunk
    is planned again, and that debtor's row joins the reported case."""
    from webapp.ledger import importer

    icbc, abc = browser("bank_icbc"), browser("bank_abc")
    batch_id = upload(icbc, to_csv([enterprise_row(n, f"HT-{n}") for n in range(1, 21)]))
    work(app)
    assert icbc.post(f"/ledger/{batch_id}/confirm").status_code == 303
    plan_chunk = importer._plan_chunk
    plans: list[int] = []
    reported: list[int] = []

    def plan_then_the_debtor_is_reported(*args: Any, **kwargs: Any) -> Any:
        planned = plan_chunk(*args, **kwargs)
        plans.append(len(planned[1]))
        if len(plans) == 1:
            reported.append(abc.report(report_payload(5)))  # enterprise 5 of the file
        return planned

    monkeypatch.setattr(importer, "_plan_chunk", plan_then_the_debtor_is_reported)
    work(app)
    batch = batch_of(app, batch_id)
    assert batch.status == "done", batch.error
    assert plans == [20, 19]  # planned again, the reported debtor put off to join
    assert batch.cases_created == 19 and count(app, Case) == 20
    with app.extensions["db_sessionmaker"]() as session:
        banks = set(session.scalars(select(Loan.bank_unit_code).where(Loan.case_id == reported[0])))
    assert banks == {"bank_abc", "bank_icbc"}  # the file's loan joined the reported case
    _verify(app)
