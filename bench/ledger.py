"""Ledger intake at scale, in the shape production runs: a generated ledger file (default
100,000 rows) uploaded over HTTP to gunicorn, its rows checked and imported by
``flask worker --lane ledger`` while ``flask worker --lane timers`` fires deadlines and an
office caseworker completes steps, on SQLite and on PostgreSQL. Writes its figures to
docs/PERFORMANCE.md.

    .venv/bin/python -m bench ledger [rows] [--db sqlite|postgresql|both] [--steps 200]
        [--deadlines 6] [--gap 10]

For each database (a SQLite file in a temporary folder; a fresh PostgreSQL database
``liandong_bench_<pid>`` on 127.0.0.1, dropped at the end; see bench/ledger_run.py):
migrate, seed the users, start gunicorn (2 workers × 4 threads) and the two worker lanes,
report open cases over HTTP, then

1. time ``--steps`` office steps (complete a review or an interview, over HTTP) idle;
2. upload the file as ``bank_icbc`` (POST /ledger/), wait for the preview (rows checked/s),
   open ``--deadlines`` cases whose rectification deadlines fall due one every ``--gap`` s
   from a few seconds after the confirmation, confirm, and keep stepping (spread over the
   import's expected length) until the batch is done (cases started/s);
3. read the ledger worker's peak resident set (VmHWM), the SQLite WAL file's peak size or
   the PostgreSQL WAL written, each deadline's lateness (due time to its ``timer_fired``);
4. stop the processes and run ``flask audit verify`` and ``flask cases check``.

The file mixes what banks send: most debtors with one loan, some with two or three, about
1% rows repeating an earlier contract and about 2% invalid rows (bad check characters,
negative amounts, bad dates). Runs of fewer than 100,000 rows print but leave the document
alone.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import setup  # noqa: E402
from bench.report import write_section  # noqa: E402
from tests.ledger_files import enterprise_row  # noqa: E402

GOAL_RATE = 1_000  # cases started a second (issue 17)
GOAL_RATIO = 2.0  # a step's p95 during an import, against idle
GOAL_LATE = 5.0  # seconds a deadline may fire late during an import


def ledger_rows(count: int) -> list[list[object]]:
    rows: list[list[object]] = []
    debtor = 0
    while len(rows) < count:
        debtor += 1
        for loan in range(1 + (debtor % 10 == 0) + (debtor % 50 == 0)):
            n = len(rows)
            row = enterprise_row(debtor, f"HT-{debtor}-{loan}")
            if n % 100 == 37:
                row[8] = rows[-1][8] if rows else row[8]  # repeats the previous contract
            elif n % 50 == 11:
                row[2] = str(row[2])[:-1] + ("0" if str(row[2])[-1] != "0" else "1")  # bad check character
            elif n % 100 == 23:
                row[9] = "-5000"
            elif n % 100 == 71:
                row[11] = "2024-13-01"
            rows.append(row)
            if len(rows) == count:
                break
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench ledger")
    parser.add_argument("rows", type=int, nargs="?", default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--steps", type=int, default=200, help="idle steps (up to twice as many during)")
    parser.add_argument("--deadlines", type=int, default=6)
    parser.add_argument("--gap", type=float, default=10.0, help="seconds between two deadlines")
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="PostgreSQL with autovacuum off: do not stand in for it (see bench/ledger_run.py Analyzer)",
    )
    args = parser.parse_args(argv)
    from bench import ledger_run  # imports the app: after the arguments are read

    rows = ledger_rows(args.rows)
    databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = [
        ledger_run.run(db, rows, args.steps, args.deadlines, args.gap, not args.no_analyze)
        for db in databases
    ]
    body = report(results, args)
    print(body)
    if args.rows >= 100_000:  # smaller trial runs leave the document alone
        write_section("Ledger intake (bench/ledger.py)", body)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else float("nan")


def _table(r: object) -> list[str]:
    from bench.ledger_run import Result

    assert isinstance(r, Result)
    name = {"sqlite": "SQLite (WAL)", "postgresql": "PostgreSQL 15"}.get(r.database, r.database)
    wal = "peak -wal file size" if r.database == "sqlite" else "WAL written (pg_wal_lsn_diff)"
    idle95, during95 = _p95(r.idle_ms), _p95(r.during_ms)
    ratio = during95 / idle95 if r.during_ms else float("nan")
    late = sorted(r.lateness_s)
    late_text = (
        f"{len(late)} due during the import: median {statistics.median(late):.1f} s, "
        f"max {max(late):.1f} s late (goal ≤ {GOAL_LATE:g} s)"
        if late
        else "none fell due during the import"
    )
    if r.deadlines_other:
        late_text += f"; {r.deadlines_other} more fell due outside it (not counted)"
    rate = r.cases_created / r.import_s
    during = (
        f"{statistics.median(r.during_ms):.1f} / {during95:.1f} ms, max {max(r.during_ms):.0f} ms "
        f"({len(r.during_ms)} steps)"
        if r.during_ms
        else "no step ran during the import"
    )
    if r.pool_ran_out:
        during += ", the prepared cases ran out before the import's end"
    return [
        f"**{name}**",
        "",
        "| figure | value |",
        "|---|---|",
        f"| rows checked (upload to preview, {r.rows:,} rows) | {r.check_s:.1f} s: "
        f"**{r.rows / r.check_s:,.0f} rows/s** |",
        f"| cases started (confirm to done, {r.cases_created:,} cases, {r.loans_added:,} loans) | "
        f"{r.import_s:.1f} s: **{rate:,.0f} cases/s** (goal ≥ {GOAL_RATE:,}); "
        f"in the worker {r.import_db_s:.1f} s, {r.cases_created / r.import_db_s:,.0f} cases/s"
        + (
            f"; from the first ANALYZE to the end: {r.rate_with_stats:,.0f} cases/s"
            if r.rate_with_stats
            else ""
        )
        + " |",
        f"| ledger worker's CPU time | check {r.worker_cpu_check_s:.1f} s, "
        f"import {r.worker_cpu_import_s:.1f} s "
        f"({r.worker_cpu_import_s / r.import_s:.0%} of the import's length); both cores "
        f"{r.machine_busy_import:.0%} busy during the import |",
        f"| ledger worker's peak resident set (VmHWM, check and import) | {r.worker_peak_mb:.0f} MB "
        "(goal < 300 MB) |",
        f"| {wal} | check {r.wal_check_mb:.0f} MB, import {r.wal_import_mb:.0f} MB |",
        f"| office step p50 / p95, idle | {statistics.median(r.idle_ms):.1f} / {idle95:.1f} ms "
        f"({len(r.idle_ms)} steps) |",
        f"| office step p50 / p95, during the import | {during} |",
        f"| **step p95 during the import / idle** | **{ratio:.2f}×** (goal ≤ {GOAL_RATIO:g}×) |",
        f"| deadlines (timers lane) | {late_text} |",
        *([f"| planner statistics | {_stats(r)} |"] if r.database == "postgresql" else []),
        f"| `flask audit verify` after the run | exit {r.verify[0]}: {r.verify[1]} |",
        f"| `flask cases check` after the run | exit {r.check[0]}{': ' + r.check[1] if r.check[1] else ''} |",
        "",
    ]


def _git(*args: str) -> str:
    command = ["git", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    return done.stdout.strip()


def revision() -> str:
    """The commit measured, and whether the app's code differed from it (other work in the tree)."""
    dirty = _git("status", "--porcelain", "webapp")
    return f"commit {_git('rev-parse', '--short', 'HEAD')}" + (
        " with uncommitted changes to webapp/" if dirty else ""
    )


def _stats(r: object) -> str:
    if not getattr(r, "autovacuum_off", False):
        return "autovacuum on (the server's own)"
    runs = getattr(r, "analyze_runs", None)
    if runs is None:
        return "autovacuum off on this server and no ANALYZE (`--no-analyze`): plans for empty tables"
    return (
        f"autovacuum off on this server: the bench ran `ANALYZE` every 60 s from the upload "
        f"({runs}×), as autovacuum's launcher would"
    )


def report(results: list[object], args: argparse.Namespace) -> str:
    first = results[0]
    counts = getattr(first, "counts", {})
    lines = [
        f"A generated ledger file of {args.rows:,} rows ({counts.get('new', 0):,} rows of new debtors, "
        f"{counts.get('join', 0):,} joining an open case, {counts.get('duplicate', 0):,} repeated "
        f"contracts, {counts.get('invalid', 0):,} invalid rows), run as production runs it "
        "(docs/PRODUCTION.md, `make serve`): gunicorn 2 workers × 4 threads, `flask worker --lane "
        "ledger` and `flask worker --lane timers` as processes of their own; the bench process is "
        "the users, over HTTP: `bank_icbc` uploads the CSV (POST /ledger/), waits for the preview "
        "(polling /ledger/<id>/progress), confirms, and waits for `done`; meanwhile `office` "
        "completes steps (a review or an interview, POST /tasks/<id>, timed at the client, the "
        "task's id looked up beforehand) of cases reported beforehand: "
        f"{args.steps} idle before the upload, then during the import, spread over it (at most "
        f"one every 0.1 s, in both). {args.deadlines} rectification deadlines fall due one every "
        f"{args.gap:g} s from a few seconds after the confirmation; lateness is due time to the "
        f"`timer_fired` event. {setup.machine()}; {revision()}. This machine's speed drifts by about a third "
        "from run to run, and its 2 cores are shared by gunicorn, both workers, the database "
        "server and the bench client: read the figures as ±30 %.",
        "",
    ]
    for r in results:
        lines += _table(r)
    lines += [
        "Rows checked/s and cases started/s are measured at the client (progress polled every "
        '0.2-0.25 s); "in the worker" is the batch\'s own `started_at` to `finished_at`. '
        "PostgreSQL's WAL figure is the whole server's (`pg_current_wal_lsn()` before and after): "
        "other work on the server meanwhile counts too. "
        "Re-run: `.venv/bin/python -m bench ledger [rows] [--db sqlite|postgresql|both]`.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
