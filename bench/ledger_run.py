"""One run of bench/ledger.py on one database, in the shape production runs.

gunicorn (2 workers × 4 threads, as ``make serve``), ``flask worker --lane ledger`` and
``flask worker --lane timers`` run as processes of their own against a fresh database; this
process is the users: a bank uploads the ledger file over HTTP and confirms it, the office
completes review and interview steps of open cases before and during the import, and a few
rectification deadlines fall due while the import runs.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from freezegun import freeze_time
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from bench.http_case import Client, Timings, _p95
from tests.conftest import migrate
from tests.ledger_files import to_csv
from tests.processes_support import free_port
from tests.support import (
    Browser,
    confirm,
    flatten_report,
    interview_form,
    open_task_id,
    report_payload,
    seed_users,
)
from webapp import create_app
from webapp.models import Case, CaseEvent, ImportBatch

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
AUDIT_KEY = "bench-ledger-audit-key"
# a real clock for this process's stopwatches even while freezegun moves ``time`` (a dict
# value: freezegun does not look inside)
CLOCK = {"now": time.perf_counter}
REVIEW = {"review_decision": "confirm", "classification": "evasion"}
INTERVIEW = {k: str(v) for k, v in interview_form(30).items()}  # a month: never due in the run
POOL_FIRST = 500_000  # report numbers of the step cases: no ledger debtor has them
DEADLINE_FIRST = 900_000
WARM_UP = 10  # cases stepped first, not counted (imports, caches in both gunicorn workers)


@dataclass
class Result:
    database: str
    rows: int
    counts: dict[str, int] = field(default_factory=dict)
    check_s: float = 0.0
    import_s: float = 0.0  # confirmed to done, at the client
    import_db_s: float = 0.0  # the batch's started_at to finished_at
    cases_created: int = 0
    loans_added: int = 0
    worker_peak_mb: float = 0.0
    wal_check_mb: float = 0.0  # SQLite: the -wal file's peak size; PostgreSQL: WAL written
    wal_import_mb: float = 0.0
    idle_ms: list[float] = field(default_factory=list)
    during_ms: list[float] = field(default_factory=list)
    pool_ran_out: bool = False
    autovacuum_off: bool = False
    analyze_runs: int | None = None  # the bench's ANALYZE passes standing in for autovacuum
    rate_with_stats: float | None = None  # cases/s from the first ANALYZE in the import to its end
    worker_cpu_check_s: float = 0.0  # the ledger worker's CPU time in the phase
    worker_cpu_import_s: float = 0.0
    machine_busy_import: float = 0.0  # share of both cores busy during the import (0-1)
    lateness_s: list[float] = field(default_factory=list)  # deadlines due while importing
    deadlines_other: int = 0  # due outside the import (before its start or after its end)
    verify: tuple[int, str] = (0, "")
    check: tuple[int, str] = (0, "")


class Analyzer:
    """PostgreSQL with autovacuum off (as on this machine's server): ``ANALYZE`` the database
    every ``naptime`` seconds, as autovacuum's launcher would (its default naptime is a
    minute), so that the planner sees the tables the import fills. Without statistics it
    plans the importer's queries for empty tables and scans every batch row per chunk."""

    def __init__(self, url: str, naptime: float = 60.0) -> None:
        self.url, self.naptime = url, naptime
        self.runs = 0
        self.first_at: float | None = None  # CLOCK time the first ANALYZE ended
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def needed(url: str) -> bool:
        engine = create_engine(url)
        with engine.connect() as conn:
            autovacuum = conn.scalar(text("SHOW autovacuum"))
        engine.dispose()
        return autovacuum == "off"

    def _loop(self) -> None:
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        while not self.stop.wait(self.naptime):
            with engine.connect() as conn:
                conn.execute(text("ANALYZE"))
            self.runs += 1
            if self.first_at is None:
                self.first_at = CLOCK["now"]()
        engine.dispose()

    def __enter__(self) -> Analyzer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()


class Sampler:
    """What is read while the ledger worker runs: its peak resident set, the WAL's size."""

    def __init__(self, worker_pid: int, wal: Path | None) -> None:
        self.worker_pid, self.wal = worker_pid, wal
        self.wal_peak = 0

    def sample(self) -> None:
        if self.wal is not None and self.wal.exists():
            self.wal_peak = max(self.wal_peak, self.wal.stat().st_size)

    def worker_cpu_s(self) -> float:
        """The ledger worker's CPU seconds so far (user and system)."""
        fields = Path(f"/proc/{self.worker_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def machine_cpu() -> tuple[float, float]:
        """(busy, total) jiffies of all cores since boot."""
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]  # idle and iowait
        return sum(values) - idle, sum(values)

    def worker_peak_mb(self) -> float:
        status = Path(f"/proc/{self.worker_pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024


def _database(name: str, tmp: Path) -> str:
    if name == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}"
    url = make_url(PG_ADMIN).set(database=f"liandong_bench_{os.getpid()}")
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        conn.execute(text(f"CREATE DATABASE \"{url.database}\" ENCODING 'UTF8' TEMPLATE template0"))
    admin.dispose()
    return url.render_as_string(hide_password=False)


def _drop(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _wal_lsn(url: str) -> int:
    """PostgreSQL's current WAL position in bytes (the server's, shared by all databases: the
    machine runs nothing else meanwhile)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        lsn = conn.scalar(text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')"))
    engine.dispose()
    return int(lsn)


class Processes:
    """gunicorn and the two worker lanes, their output in files under ``tmp``."""

    def __init__(self, env: dict[str, str], tmp: Path, port: int) -> None:
        self.tmp = tmp
        flask = [str(BIN / "flask"), "--app", "webapp"]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        commands = {
            "gunicorn": [
                str(BIN / "gunicorn"), "--workers", "2", "--threads", "4",
                "--bind", f"127.0.0.1:{port}", "webapp:create_app()",
            ],
            "ledger": [*flask, "worker", "--lane", "ledger"],
            "timers": [*flask, "worker", "--lane", "timers"],
        }  # fmt: skip
        for name, command in commands.items():
            with (tmp / f"{name}.log").open("wb") as out:
                self.procs[name] = subprocess.Popen(  # noqa: S603 - the app's own commands
                    command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
                )
        try:
            self._wait_ready(port)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/login")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                conn.close()
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{self.log('gunicorn')}")
            time.sleep(0.2)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-4000:]

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} ended early (exit {proc.returncode}):\n{self.log(name)}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _multipart(client: Client, path: str, name: str, content: bytes) -> tuple[int, dict[str, str]]:
    """POST a file as the upload form does (with the session's CSRF token)."""
    boundary = uuid.uuid4().hex
    body = b"".join(
        [
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'.encode(),
            f"{client.csrf}\r\n".encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'.encode(),
            b"Content-Type: text/csv\r\n\r\n",
            content,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=600)
    conn.request(
        "POST",
        path,
        body=body,
        headers={
            "Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items()),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, dict(response.getheaders())


def _progress(client: Client, batch_id: int) -> dict[str, Any]:
    status, _h, body = client.call("GET", f"/ledger/{batch_id}/progress", label=None)
    assert status == 200, body[:500]
    answer: dict[str, Any] = json.loads(body)
    return answer


class Stepper:
    """The office completing the review, then the interview, of open cases, one at a time."""

    def __init__(self, app: Flask, office: Client, case_ids: list[int]) -> None:
        self.app, self.office = app, office
        self.queue = [(c, e) for c in case_ids for e in ("review", "interview")]

    def step(self) -> float | None:
        """One step's milliseconds at the client (None when no case is left); the task's id is
        looked up beforehand, untimed."""
        if not self.queue:
            return None
        case_id, element = self.queue.pop(0)
        task = open_task_id(self.app, case_id, element, unit="office")
        start = CLOCK["now"]()
        status, _h, body = self.office.call(
            "POST", f"/tasks/{task}", REVIEW if element == "review" else INTERVIEW, label=None
        )
        elapsed = (CLOCK["now"]() - start) * 1000
        assert status == 302, (element, case_id, status, body[:800])
        return elapsed


def _deadline_cases(app: Flask, count: int, first_in: float, gap: float) -> list[int]:
    """Cases whose one-day rectification deadlines fall due ``first_in`` s from now, then one
    every ``gap`` s: each is opened, reviewed (the regulator's and the market regulator's tasks
    beside the path done too: the case then waits on its deadline alone) and interviewed a day
    before its due time (the clock moved in this process only, while it is opened)."""
    first_due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=first_in)
    people = {u: Browser(app, u) for u in ("bank_icbc", "office", "regulator", "market")}
    ids = []
    for n in range(count):
        with freeze_time(first_due + dt.timedelta(seconds=n * gap) - dt.timedelta(days=1)):
            case_id = people["bank_icbc"].report(report_payload(DEADLINE_FIRST + n))
            confirm(people.__getitem__, case_id)
            people["office"].complete(case_id, "interview", **interview_form(1))
        ids.append(case_id)
    return ids


def _flask(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = subprocess.run(  # noqa: S603 - the app's own command
        [str(BIN / "flask"), "--app", "webapp", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    lines = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, " / ".join(lines[-3:]) if lines else ""


def run(
    database: str, rows: list[list[object]], steps: int, deadlines: int, gap: float, analyze: bool = True
) -> Result:
    """The whole scenario on one database (``sqlite`` or ``postgresql``)."""
    result = Result(database, len(rows))
    tmp = Path(tempfile.mkdtemp(prefix=f"liandong-ledger-{database}-"))
    url = _database(database, tmp)
    try:
        _run(result, url, tmp, rows, steps, deadlines, gap, analyze)
    finally:
        if database == "postgresql":
            _drop(url)
    return result


def _run(
    result: Result,
    url: str,
    tmp: Path,
    rows: list[list[object]],
    steps: int,
    deadlines: int,
    gap: float,
    analyze: bool,
) -> None:
    max_rows = str(max(len(rows), 100_000))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIANDONG_", "FLASK_"))}
    env.update(
        {
            "LIANDONG_DATABASE_URL": url,
            "LIANDONG_SECRET_KEY": "bench",
            "LIANDONG_INSTANCE_DIR": str(tmp / "instance"),
            "LIANDONG_UPLOAD_DIR": str(tmp / "uploads"),
            "LIANDONG_AUDIT_KEY": AUDIT_KEY,
            "LIANDONG_LEDGER_MAX_ROWS": max_rows,
            "PYTHONPATH": str(ROOT),
        }
    )
    (tmp / "instance").mkdir()
    migrate(url)
    # this process's app: the users, the untimed task lookups, the deadline cases
    app = create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "UPLOAD_DIR": str(tmp / "uploads"),
            "AUDIT_KEY": AUDIT_KEY,
            "AUDIT_CHECKPOINT_LOG": str(tmp / "instance" / "audit_checkpoints.jsonl"),
            "WTF_CSRF_ENABLED": False,
            "LEDGER_MAX_ROWS": int(max_rows),
        }
    )
    seed_users(app)
    port = free_port()
    procs = Processes(env, tmp, port)
    say = _say(result.database)
    analyzer: Analyzer | None = None
    try:
        timings = Timings()
        bank, office = Client(port, "bank_icbc", timings), Client(port, "office", timings)
        watcher = Client(port, "bank_icbc", timings)  # progress polls, on a connection of its own
        pool_size = WARM_UP + steps // 2 + steps  # two steps a case: idle, then up to 2x during
        say(f"reporting {pool_size} cases to step on ...")
        case_ids = []
        for n in range(pool_size):
            status, headers, body = bank.call(
                "POST", "/report", flatten_report(report_payload(POOL_FIRST + n)), label=None
            )
            assert status == 302, body[:800]
            case_ids.append(int(headers["Location"].rstrip("/").rsplit("/", 1)[1]))
        stepper = Stepper(app, office, case_ids)
        for _ in range(2 * WARM_UP):
            stepper.step()
        for _ in range(steps):  # idle: a step every 0.1 s at most, as during the import
            begin = CLOCK["now"]()
            result.idle_ms.append(stepper.step() or 0.0)
            time.sleep(max(0.0, 0.1 - (CLOCK["now"]() - begin)))
        say(f"idle steps: p50 {statistics.median(result.idle_ms):.1f} ms, p95 {_p95(result.idle_ms):.1f} ms")

        sqlite = url.startswith("sqlite")
        sampler = Sampler(
            procs.procs["ledger"].pid, Path(url.removeprefix("sqlite:///") + "-wal") if sqlite else None
        )
        lsn0 = 0 if sqlite else _wal_lsn(url)
        csv_bytes = to_csv(rows)
        result.autovacuum_off = not sqlite and Analyzer.needed(url)
        analyzer = Analyzer(url) if result.autovacuum_off and analyze else None
        if analyzer:
            analyzer.__enter__()
        say(f"uploading {len(rows):,} rows ({len(csv_bytes) / 2**20:.1f} MB CSV) ...")
        start = CLOCK["now"]()
        cpu0 = sampler.worker_cpu_s()
        status, headers = _multipart(bank, "/ledger/", "ledger.csv", csv_bytes)
        assert status == 303, (status, headers)
        batch_id = int(headers["Location"].rstrip("/").rsplit("/", 1)[1])
        while (progress := _progress(watcher, batch_id))["status"] in {"uploaded", "validating"}:
            sampler.sample()
            procs.check_alive()
            time.sleep(0.2)
        assert progress["status"] == "previewed", progress
        result.check_s = CLOCK["now"]() - start
        result.worker_cpu_check_s = sampler.worker_cpu_s() - cpu0
        say(f"previewed in {result.check_s:.1f} s ({len(rows) / result.check_s:,.0f} rows/s)")
        if sqlite:
            result.wal_check_mb, sampler.wal_peak = sampler.wal_peak / 2**20, 0
        else:
            lsn1 = _wal_lsn(url)
            result.wal_check_mb = (lsn1 - lsn0) / 2**20

        deadline_ids = _deadline_cases(app, deadlines, 6.0, gap) if deadlines else []
        _h, _b = bank.expect(303, "POST", f"/ledger/{batch_id}/confirm", {}, label="confirm")
        start = CLOCK["now"]()
        cpu0, (busy0, total0) = sampler.worker_cpu_s(), sampler.machine_cpu()
        say("confirmed; stepping while the import runs ...")
        last_poll = 0.0
        polls: list[tuple[float, int]] = []  # (CLOCK time, cases created so far)
        while True:
            if CLOCK["now"]() - last_poll > 0.25:
                progress = _progress(watcher, batch_id)
                last_poll = CLOCK["now"]()
                polls.append((last_poll, progress["cases_created"] or 0))
                sampler.sample()
                procs.check_alive()
            if progress["status"] not in {"queued", "importing"}:
                break
            begin = CLOCK["now"]()
            if progress["status"] == "importing" and not result.pool_ran_out:
                elapsed = stepper.step()
                if elapsed is None:
                    result.pool_ran_out = True
                else:
                    result.during_ms.append(elapsed)
            # spread the steps over the import: its remaining time over the steps left
            left = progress.get("seconds_left") or 0
            pace = min(1.0, max(0.1, left / max(1, steps - len(result.during_ms))))
            time.sleep(max(0.0, pace - (CLOCK["now"]() - begin)))
        result.import_s = CLOCK["now"]() - start
        result.worker_cpu_import_s = sampler.worker_cpu_s() - cpu0
        if analyzer:
            analyzer.__exit__()
            result.analyze_runs = analyzer.runs
            first = analyzer.first_at
            after = [(t, c) for t, c in polls if first is not None and t >= first]
            if len(after) >= 2 and after[-1][0] > after[0][0]:
                result.rate_with_stats = (after[-1][1] - after[0][1]) / (after[-1][0] - after[0][0])
        busy1, total1 = sampler.machine_cpu()
        result.machine_busy_import = (busy1 - busy0) / max(1, total1 - total0)
        assert progress["status"] == "done", progress
        say(f"done in {result.import_s:.1f} s; {len(result.during_ms)} steps during the import")
        result.worker_peak_mb = sampler.worker_peak_mb()
        if sqlite:
            result.wal_import_mb = sampler.wal_peak / 2**20
        else:
            result.wal_import_mb = (_wal_lsn(url) - lsn1) / 2**20

        _deadlines_fired(app, result, batch_id, deadline_ids)
    finally:
        if analyzer:
            analyzer.__exit__()
        procs.stop()
    maker = app.extensions["db_sessionmaker"]
    with maker() as session:
        batch = session.get_one(ImportBatch, batch_id)
        result.counts = dict(batch.counts)
        result.cases_created, result.loans_added = batch.cases_created, batch.loans_added
        assert batch.started_at is not None
        assert batch.finished_at is not None
        result.import_db_s = (batch.finished_at - batch.started_at).total_seconds()
    app.extensions["db_engine"].dispose()
    result.verify = _flask(env, "audit", "verify")
    result.check = _flask(env, "cases", "check")
    say(f"audit verify: exit {result.verify[0]} ({result.verify[1]}); cases check: exit {result.check[0]}")


def _deadlines_fired(app: Flask, result: Result, batch_id: int, ids: list[int]) -> None:
    """Wait (up to 60 s) for every deadline case's ``timer_fired``; lateness is counted for
    the deadlines that fell due while the import ran."""
    maker = app.extensions["db_sessionmaker"]
    deadline = time.monotonic() + 60
    while True:
        with maker() as session:
            fired = {
                e.case_id: e
                for e in session.scalars(
                    select(CaseEvent).where(CaseEvent.kind == "timer_fired", CaseEvent.case_id.in_(ids))
                )
            }
            batch = session.get_one(ImportBatch, batch_id)
            stages = set(session.scalars(select(Case.stage).where(Case.id.in_(ids))))
            session.expunge_all()
        if len(fired) == len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    missing = set(ids) - set(fired)
    assert not missing, f"deadlines not fired within a minute: cases {sorted(missing)}"
    # a passed deadline leaves each case to the office's assessment
    assert not ids or stages == {"assessment"}, stages
    assert batch.started_at is not None
    assert batch.finished_at is not None
    for event in fired.values():
        due = dt.datetime.fromisoformat(event.data["due_at"])
        lag = (event.created_at - due).total_seconds()
        if batch.started_at <= due <= batch.finished_at:
            result.lateness_s.append(lag)
        else:
            result.deadlines_other += 1


def _say(database: str) -> Any:
    def say(message: str) -> None:
        print(f"[{database}] {message}", flush=True)

    return say
