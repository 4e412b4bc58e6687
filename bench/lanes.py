"""Worker lanes: how late rectification deadlines fire while a large ledger import runs.

    .venv/bin/python -m bench lanes [rows] [--deadlines N] [--gap S] [--with-all] [--sqlite]

A generated ledger file (bench/ledger.py's rows, default 100,000) is uploaded, checked and
confirmed; then cases are opened whose deadlines fall due one every ``--gap`` seconds, and
the real workers are started as ``make serve`` starts them: ``flask worker --lane timers``
and ``flask worker --lane ledger``, two processes. Lateness is the time from a deadline's
due time to its ``timer_fired`` event, counted for the deadlines that fell due while the
import ran. ``--with-all`` runs the same again with one ``--lane all`` worker (the shape
before lanes) for contrast. PostgreSQL (``LIANDONG_BENCH_PG_URL``, default a
``liandong_bench_lanes`` database on the machine's server, made afresh); ``--sqlite`` shows
SQLite, where the import holds the database's write lock and timers must wait for it.
A trial: ``python -m bench lanes 3000 --deadlines 10 --gap 1 --with-all``. Only a run of
100,000 rows writes its section of docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from freezegun import freeze_time
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import setup  # noqa: E402
from bench.ledger import ledger_rows  # noqa: E402
from bench.report import write_section  # noqa: E402
from tests.conftest import migrate  # noqa: E402
from tests.ledger_files import to_csv  # noqa: E402
from tests.support import Browser, confirm, interview_form, report_payload, seed_users  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.db import get_session  # noqa: E402
from webapp.ledger import batches, jobs  # noqa: E402
from webapp.ledger.settings import LedgerSettings  # noqa: E402
from webapp.models import Case, CaseEvent, ImportBatch, User  # noqa: E402
from webapp.transactions import atomic  # noqa: E402

PG_URL = os.environ.get(
    "LIANDONG_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/liandong_bench_lanes"
)
LEAD = 8.0  # seconds from the cases' creation to the first deadline: the workers start meanwhile


def _database(sqlite: bool, tmp: Path) -> str:
    if sqlite:
        return f"sqlite:///{tmp / 'lanes.db'}"
    url = make_url(PG_URL)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    return PG_URL


def _queue_import(app: Any, csv_bytes: bytes) -> int:
    """Upload, check and confirm the file in this process; the batch waits for the ledger lane."""
    with app.test_request_context():
        session = get_session()
        user = session.scalars(select(User).where(User.username == "bank_icbc")).one()
        cfg = LedgerSettings.from_config(app.config)
        batch = atomic(session, lambda: batches.upload(session, user, csv_bytes, "ledger.csv", cfg))
        jobs.run_next(session, cfg)
        atomic(session, lambda: batches.confirm(session, user, batch.id))
        return batch.id


def _deadline_cases(app: Any, count: int, gap: float) -> list[int]:
    """Cases whose one-day rectification deadlines fall due LEAD s from now, one every ``gap`` s."""
    first_due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=LEAD)
    people = {u: Browser(app, u) for u in ("bank_icbc", "office", "regulator", "market")}
    ids = []
    for n in range(count):
        # opened a day before its due time (frozen only while it is opened); the regulator's and
        # the market regulator's tasks beside the path are done then: the case waits on its
        # deadline alone
        with freeze_time(first_due + dt.timedelta(seconds=n * gap) - dt.timedelta(days=1)):
            case_id = people["bank_icbc"].report(report_payload(900_000 + n))
            confirm(people.__getitem__, case_id)
            people["office"].complete(case_id, "interview", **interview_form(1))
        ids.append(case_id)
    if dt.datetime.now(dt.UTC) > first_due:
        print("warning: the first deadline fell due before the workers started", flush=True)
    return ids


def _start(lanes: list[str], env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    flask = str(ROOT / ".venv" / "bin" / "flask")
    return [
        subprocess.Popen(  # noqa: S603 - the app's own command
            [flask, "--app", "webapp", "worker", "--lane", lane, "--interval", "1"], cwd=ROOT, env=env
        )
        for lane in lanes
    ]


def run(rows: int, deadlines: int, gap: float, lanes: list[str], sqlite: bool) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="liandong-lanes-"))
    url = _database(sqlite, tmp)
    migrate(url)
    config = {"DATABASE_URL": url, "SECRET_KEY": "bench", "UPLOAD_DIR": str(tmp / "uploads")}
    app = create_app({**config, "WTF_CSRF_ENABLED": False, "LEDGER_MAX_ROWS": max(rows, 100_000)})
    seed_users(app)
    print(f"[{'+'.join(lanes)}] checking {rows:,} rows ...", flush=True)
    batch_id = _queue_import(app, to_csv(ledger_rows(rows)))
    ids = _deadline_cases(app, deadlines, gap)
    env = {
        **os.environ,
        "LIANDONG_DATABASE_URL": url,
        "LIANDONG_SECRET_KEY": "bench",
        "LIANDONG_UPLOAD_DIR": str(tmp / "uploads"),
        "LIANDONG_INSTANCE_DIR": str(tmp),
        "LIANDONG_LEDGER_MAX_ROWS": str(max(rows, 100_000)),
    }
    workers = _start(lanes, env)
    maker = app.extensions["db_sessionmaker"]
    try:
        while True:
            time.sleep(1)
            with maker() as session:
                status = session.scalar(select(ImportBatch.status).where(ImportBatch.id == batch_id))
                waiting = session.scalar(
                    select(Case.id).where(Case.id.in_(ids), Case.stage == "rectification").limit(1)
                )
            if status in {"done", "failed"} and waiting is None:
                break
            if any(w.poll() is not None for w in workers):
                raise RuntimeError("a worker ended early")
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=120)
    with maker() as session:
        batch = session.get_one(ImportBatch, batch_id)
        fired = {
            e.case_id: e
            for e in session.scalars(
                select(CaseEvent).where(CaseEvent.kind == "timer_fired", CaseEvent.case_id.in_(ids))
            )
        }
        # a passed deadline leaves each case to the office's assessment
        stages = set(session.scalars(select(Case.stage).where(Case.id.in_(ids))))
    assert stages == {"assessment"}, stages
    assert batch.status == "done", batch.error
    assert batch.started_at is not None
    assert batch.finished_at is not None
    during, after = [], []
    for case_id in ids:
        event = fired[case_id]
        due = dt.datetime.fromisoformat(event.data["due_at"])
        lag = (event.created_at - due).total_seconds()
        (during if batch.started_at <= due <= batch.finished_at else after).append(lag)
    app.extensions["db_engine"].dispose()
    return {
        "lanes": lanes,
        "import_s": (batch.finished_at - batch.started_at).total_seconds(),
        "cases": batch.cases_created,
        "during": during,
        "after": after,
    }


def _line(result: dict[str, Any]) -> str:
    during = sorted(result["during"])
    shape = " and ".join(f"`--lane {lane}`" for lane in result["lanes"])
    if not during:
        return f"| {shape} | {result['import_s']:.0f} | 0 | - | - | - |"
    p95 = during[int(0.95 * (len(during) - 1))]
    return (
        f"| {shape} | {result['import_s']:.0f} | {len(during)} | {statistics.median(during):.1f} | "
        f"{p95:.1f} | {max(during):.1f} |"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench lanes")
    parser.add_argument("rows", type=int, nargs="?", default=100_000)
    parser.add_argument("--deadlines", type=int, default=40)
    parser.add_argument("--gap", type=float, default=15.0, help="seconds between two deadlines")
    parser.add_argument("--with-all", action="store_true", help="also one --lane all worker")
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args(argv)
    shapes = [["timers", "ledger"]] + ([["all"]] if args.with_all else [])
    results = [run(args.rows, args.deadlines, args.gap, lanes, args.sqlite) for lanes in shapes]
    backend = "SQLite" if args.sqlite else "PostgreSQL"
    body = "\n".join(
        [
            f"A {args.rows:,}-row ledger file (bench/ledger.py's rows) imported by the worker while "
            f"{args.deadlines} rectification deadlines fall due, one every {args.gap:g} s; the workers "
            f"are real `flask worker` processes (a pass a second), on {backend}; {setup.machine()}. "
            "Lateness: due time to the `timer_fired` event, for the deadlines that fell due while "
            "the import ran. Goal: within 5 s.",
            "",
            "| workers | import s | deadlines due during it | median late s | p95 s | max s |",
            "|---|---|---|---|---|---|",
            *(_line(r) for r in results),
            "",
            "With one worker doing both (`--lane all`, as `make run` does), a deadline that falls due "
            "during an import waits for the import's end; in their own lane they fire within the "
            "pass. `python -m bench lanes` (add `--with-all` for the second row).",
        ]
    )
    print(body)
    if args.rows >= 100_000:  # smaller trial runs leave the document alone
        write_section("Worker lanes: deadlines during a ledger import (bench/lanes.py)", body)


if __name__ == "__main__":
    main(sys.argv[1:])
