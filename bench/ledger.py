"""Ledger intake at scale: a generated ledger file (default 100,000 rows) uploaded, its rows
checked (the preview) and imported (cases started) through the app's own functions, on
SQLite, with peak memory. Writes its figures to docs/PERFORMANCE.md.

    .venv/bin/python -m bench ledger [rows]

The file mixes what banks send: most debtors with one loan, some with two or three, about
1% rows repeating an earlier contract and about 2% invalid rows (bad check characters,
negative amounts, bad dates). The XLSX form of the same rows is checked too (reading a
workbook costs more than reading CSV text).
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import setup  # noqa: E402
from bench.report import write_section  # noqa: E402
from tests.ledger_files import enterprise_row, to_csv, to_xlsx  # noqa: E402
from webapp.db import get_session  # noqa: E402
from webapp.ledger import batches, jobs  # noqa: E402
from webapp.ledger.settings import LedgerSettings  # noqa: E402
from webapp.models import ImportBatch, User  # noqa: E402
from webapp.transactions import atomic  # noqa: E402


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


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(count: int) -> None:
    app, _tmp = setup.fresh_app(LEDGER_MAX_ROWS=count)
    rows = ledger_rows(count)
    csv_bytes = to_csv(rows)
    started = time.perf_counter()
    xlsx_bytes = to_xlsx(rows)
    xlsx_write = time.perf_counter() - started
    del rows
    print(
        f"{count} rows: CSV {len(csv_bytes) / 2**20:.1f} MB, XLSX {len(xlsx_bytes) / 2**20:.1f} MB",
        flush=True,
    )
    figures: dict[str, float] = {}
    rss_before = peak_rss_mb()

    with app.test_request_context():
        session = get_session()
        user = session.query(User).filter_by(username="bank_icbc").one()
        cfg = LedgerSettings.from_config(app.config)

        def timed(label: str, work) -> object:
            begin = time.perf_counter()
            result = work()
            figures[label] = time.perf_counter() - begin
            figures[label + " rss MB"] = peak_rss_mb()
            print(
                f"{label}: {figures[label]:.1f} s, peak RSS so far {figures[label + ' rss MB']:.0f} MB",
                flush=True,
            )
            return result

        xlsx_batch = timed(
            "upload xlsx",
            lambda: atomic(session, lambda: batches.upload(session, user, xlsx_bytes, "l.xlsx", cfg)),
        )
        timed("check xlsx rows", lambda: jobs.run_next(session, cfg))
        batches.discard(session, user, xlsx_batch.id)
        session.commit()
        csv_batch = timed(
            "upload csv",
            lambda: atomic(session, lambda: batches.upload(session, user, csv_bytes, "l.csv", cfg)),
        )
        timed("check csv rows", lambda: jobs.run_next(session, cfg))
        batch = session.get_one(ImportBatch, csv_batch.id, populate_existing=True)
        counts = dict(batch.counts)
        atomic(session, lambda: batches.confirm(session, user, batch.id))
        timed("import", lambda: jobs.run_next(session, cfg))
        batch = session.get_one(ImportBatch, csv_batch.id, populate_existing=True)
        assert batch.status == "done", batch.error
        created, added = batch.cases_created, batch.loans_added
    write(count, counts, created, added, figures, xlsx_write, rss_before)


def write(
    count: int,
    counts: dict[str, int],
    created: int,
    added: int,
    f: dict[str, float],
    xlsx_write: float,
    rss_before: float,
) -> None:
    machine = setup.machine()
    importable = counts["new"] + counts["join"]
    check = f["upload csv"] + f["check csv rows"]
    phases = [
        ("upload CSV (format, encoding, header)", "upload csv", None),
        ("check CSV rows (the preview)", "check csv rows", count),
        ("upload XLSX", "upload xlsx", None),
        ("check XLSX rows", "check xlsx rows", count),
    ]
    phase_lines = [
        f"| {label} | {f[key]:.1f} | {f'{rows / f[key]:,.0f}' if rows else ''} | {f[key + ' rss MB']:.0f} |"
        for label, key, rows in phases
    ]
    phase_lines.append(
        f"| import: {created:,} cases started, {added:,} loans | {f['import']:.1f} | "
        f"{importable / f['import']:,.0f} | {f['import rss MB']:.0f} |"
    )
    body = "\n".join(
        [
            f"A generated ledger of {count:,} rows (one loan a row; {counts['new']:,} rows of new debtors, "
            f"{counts['duplicate']:,} repeated contracts, {counts['invalid']:,} invalid rows), uploaded, "
            f"checked and imported through the app's own functions on SQLite; {machine}. Goal: at least "
            "1,000 rows a second.",
            "",
            "| phase | time s | rows/s | peak RSS so far, MB |",
            "|---|---|---|---|",
            *phase_lines,
            "",
            f"- Rows validated: {count / check:,.0f} rows/s from upload to preview (CSV).",
            f"- Cases started: {created / f['import']:,.0f} cases/s; whole file from upload to imported: "
            f"{count / (check + f['import']):,.0f} rows/s.",
            f"- Peak memory: the process's resident set was {rss_before:.0f} MB with both files generated "
            f"in memory (the workbook written by openpyxl in {xlsx_write:.0f} s) and peaked at "
            f"{f['import rss MB']:.0f} MB; rows are streamed from the file and the database in "
            "chunks, so memory does not grow with the file beyond the file itself.",
        ]
    )
    print(body)
    if count >= 100_000:  # smaller trial runs leave the document alone
        write_section("Ledger intake (bench/ledger.py)", body)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
