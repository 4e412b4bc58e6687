"""Worker lanes: ``flask worker --lane timers`` fires deadlines and leaves ledger files alone,
``--lane ledger`` checks and imports files and leaves deadlines alone; and ``make run``
and ``make serve`` leave no server or worker behind when stopped with SIGTERM or Ctrl-C."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from tests.conftest import migrate
from tests.ledger_files import enterprise_row, person_row, to_csv
from tests.support import ROOT, case_row, interview_form, report_payload
from tests.test_ledger import batch_of, count, upload
from tests.test_ledger_chunks import cut_off_after_a_chunk
from webapp.models import Case, Loan

START = dt.datetime(2026, 2, 12, 2, 0, tzinfo=dt.UTC)


def _lane(app, lane: str) -> str:
    result = app.test_cli_runner().invoke(args=["worker", "--once", "--lane", lane])
    assert result.exit_code == 0, result.output
    return result.output


def test_each_lane_runs_only_its_jobs(app, browser):
    with freeze_time(START, tick=True) as clock:
        office, icbc = browser("office"), browser("bank_icbc")
        cases = []
        for n in (1, 2):
            case_id = icbc.report(report_payload(n))
            office.complete(case_id, "review", review_decision="confirm", classification="evasion")
            office.complete(case_id, "interview", **interview_form(1))
            cases.append(case_id)
        clock.move_to(START + dt.timedelta(days=10))  # both deadlines are due
        batch_id = upload(icbc, to_csv([person_row(2, "P-2"), person_row(3, "P-3")]))

        # the ledger lane checks the file; the due deadlines wait for the timers lane
        output = _lane(app, "ledger")
        assert f"ledger batch {batch_id}" in output and "fired" not in output
        assert batch_of(app, batch_id).status == "previewed"
        assert all(case_row(app, c).stage == "rectification" for c in cases)

        # the timers lane fires both and leaves the queued import alone
        assert icbc.post(f"/ledger/{batch_id}/confirm").status_code == 303
        output = _lane(app, "timers")
        assert "fired 2," in output and "ledger" not in output
        # each deadline brings its case to the office's assessment
        assert all(case_row(app, c).stage == "assessment" for c in cases)
        assert batch_of(app, batch_id).status == "queued"
        assert "fired 0," in _lane(app, "timers")
        assert batch_of(app, batch_id).status == "queued"

        assert f"ledger batch {batch_id}" in _lane(app, "ledger")
        assert batch_of(app, batch_id).status == "done"


def test_an_unknown_lane_is_refused(app):
    result = app.test_cli_runner().invoke(args=["worker", "--once", "--lane", "reports"])
    assert result.exit_code == 2 and "reports" in result.output


def test_a_killed_ledger_lane_leaves_its_chunks_hidden_and_the_import_resumes(
    app, browser, tmp_path, monkeypatch
):
    """The ledger lane killed mid-import (minutes for a large file): the chunks it committed
    stay, hidden from every unit; once its progress is stale the import resumes after them,
    and no row is imported twice."""
    icbc, office = browser("bank_icbc"), browser("office")
    batch_id = upload(icbc, to_csv([enterprise_row(n, f"HT-{n}") for n in range(1, 401)]))
    _lane(app, "ledger")  # the rows' check
    assert icbc.post(f"/ledger/{batch_id}/confirm").status_code == 303
    cut_off_after_a_chunk(app, tmp_path, batch_id)  # the worker dies: no clean stop
    batch = batch_of(app, batch_id)
    assert batch.status == "importing" and batch.hides_cases
    assert 0 < batch.rows_done < 400 and count(app, Case) == batch.cases_created
    with app.extensions["db_sessionmaker"]() as session:
        first = session.execute(
            select(Case.id, Case.debtor_name).where(Case.import_batch_id == batch_id).order_by(Case.id)
        ).first()
    assert first is not None
    found = office.get(f"/cases?q={first.debtor_name}").get_data(as_text=True)
    assert f'href="/cases/{first.id}"' not in found
    progress = icbc.get(f"/ledger/{batch_id}/progress").get_json()
    assert progress["status"] == "importing" and progress["done"] == batch.rows_done
    assert progress["total"] == 400 and progress["visible"] is False

    monkeypatch.setitem(app.config, "LEDGER_STALE_SECONDS", 0)  # as if its progress were old
    assert f"ledger batch {batch_id}" in _lane(app, "ledger")  # queued again
    _lane(app, "ledger")  # and resumed
    batch = batch_of(app, batch_id)
    assert batch.status == "done" and not batch.hides_cases
    assert (batch.rows_done, batch.cases_created, count(app, Case), count(app, Loan)) == (400, 400, 400, 400)
    with app.extensions["db_sessionmaker"]() as session:
        contracts = list(session.scalars(select(Loan.contract_no)))
    assert len(set(contracts)) == 400  # no row twice
    found = office.get(f"/cases?q={first.debtor_name}").get_data(as_text=True)
    assert f'href="/cases/{first.id}"' in found
    verify = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _group_commands(pgid: int) -> list[str]:
    """The command lines of the processes in a process group (Linux /proc)."""
    commands = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                commands.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
    return commands


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize(
    ("target", "lanes"), [("run", ["--lane all"]), ("serve", ["--lane timers", "--lane ledger"])]
)
def test_make_run_and_serve_stop_server_and_workers(tmp_path: Path, target, lanes, stop: signal.Signals):
    """``make run`` (flask run, one worker) and ``make serve`` (gunicorn, a worker per lane) end
    with everything they started on SIGTERM to make alone (as a service manager sends it) and
    on SIGINT to the group (Ctrl-C)."""
    url = f"sqlite:///{tmp_path / 'run.db'}"
    migrate(url)
    port = _free_port()
    env = {
        **os.environ,
        "LIANDONG_DATABASE_URL": url,
        "LIANDONG_INSTANCE_DIR": str(tmp_path),
        "LIANDONG_UPLOAD_DIR": str(tmp_path / "uploads"),
        "LIANDONG_SECRET_KEY": "test",
    }
    # -o: the set-up and database targets are taken as done (the test migrated its database)
    command = ["make", "-s", "-o", "setup", "-o", "db", target, f"PORT={port}", f"DATABASE_URL={url}"]
    proc = subprocess.Popen(  # noqa: S603 - a fixed command line
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: whatever is left of it can be found
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"make {target} did not start serving within 60 s")
        running = " | ".join(_group_commands(proc.pid))
        for lane in lanes:
            assert f"worker {lane}" in running, running
        if stop == signal.SIGTERM:
            proc.send_signal(stop)  # make alone, not its group
        else:
            os.killpg(proc.pid, stop)  # Ctrl-C reaches the whole foreground group
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _group_commands(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _group_commands(proc.pid), (
            f"still running after make {target}: {_group_commands(proc.pid)}"
        )
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_stopped_ledger_lane_pauses_its_import_after_a_chunk_and_the_next_worker_resumes_it(
    app, browser, tmp_path
):
    """SIGTERM (a deployment restarting the workers): the import finishes its chunk, the batch
    is queued again at once (no waiting for the stale time) and the next worker resumes it."""
    icbc = browser("bank_icbc")
    batch_id = upload(icbc, to_csv([enterprise_row(n, f"HT-{n}") for n in range(1, 401)]))
    _lane(app, "ledger")  # the rows' check
    assert icbc.post(f"/ledger/{batch_id}/confirm").status_code == 303
    # SIGTERM: it stops by itself, after its chunk
    assert cut_off_after_a_chunk(app, tmp_path, batch_id, kill=False) == 0
    batch = batch_of(app, batch_id)
    assert batch.status == "queued" and batch.hides_cases and 0 < batch.rows_done < 400
    assert count(app, Case) == batch.cases_created  # every committed chunk whole
    assert f"ledger batch {batch_id}" in _lane(app, "ledger")  # resumed at once
    batch = batch_of(app, batch_id)
    assert batch.status == "done" and (batch.rows_done, count(app, Case), count(app, Loan)) == (400, 400, 400)
