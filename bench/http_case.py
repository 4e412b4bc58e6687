"""Scenario 1: whole cases over HTTP against a real gunicorn server, per-call p50/p95.

Starts gunicorn on a free port against a fresh SQLite database (migrated with Alembic, the
demo users seeded), logs in through /login as a browser does (session cookie, the CSRF
token read from the form) and runs cases with a plain HTTP client (``http.client``):

- ``peer``: the peer's shape (spiff-arena: ~80 ms a completion, ~355 ms the whole case):
  report a case, the office's inbox, the review form, complete the review, the inbox
  again, complete the interview, the case page (status read);
- ``full``: the main path to delisting: report → review → the regulator's and the market
  regulator's tasks beside the path → interview → rectification deadline fired → the
  office's assessment → 7 sanctions → inbox and case page → settlement → verification →
  7 lifts.

Each shape runs with one client (sequential) and with 4 concurrent clients (threads, each
with its own users and connections). Figures go to docs/PERFORMANCE.md.

    .venv/bin/python bench/http_case.py [--cases 20] [--workers 2] [--threads 2] [--pin | --awake]

Beside each call's time at the client, the server's own time for it is read from gunicorn's
access log (``%(D)s``: from the request read to the response sent). ``--pin`` runs client and
server on one core; ``--awake`` runs gunicorn on one core kept awake by a spinner at the
lowest priority and the client on the other (a diagnostic: on this virtual machine an idle
core takes milliseconds to wake, see docs/PERFORMANCE.md).

The deadline is fired by the worker's own function inside this process with the clock
moved two days on (the timer cannot be made to fall due sooner); only the HTTP calls are
timed per call, the whole-case time includes the lookups and the timer run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from freezegun import freeze_time

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import setup  # noqa: E402
from bench.report import write_section  # noqa: E402
from tests.support import (  # noqa: E402
    PASSWORD,
    SANCTION_MEASURES,
    case_row,
    flatten_report,
    open_task_id,
    report_payload,
)
from webapp.cases import timers  # noqa: E402

STOPWATCH = {"now": time.perf_counter}  # a dict value: freezegun leaves it alone
CALL_HEADER = "X-Bench-Call"  # a timed call's label, sent along for gunicorn's access log
SANCTIONS = SANCTION_MEASURES
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
INBOX_ROW = re.compile(r'href="/tasks/([0-9a-f-]{36})".*?href="/cases/(\d+)"', re.S)


class Client:
    """One browser: a keep-alive connection (reopened when the server closes it), the
    session cookie and the CSRF token of the session."""

    def __init__(self, port: int, username: str, timings: Timings) -> None:
        self.port, self.username, self.timings = port, username, timings
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None
        self.csrf = ""
        page = self.call("GET", "/login", label=None)
        self.csrf = CSRF.search(page[2]).group(1)  # type: ignore[union-attr]
        status, _h, _b = self.call("POST", "/login", {"username": username, "password": PASSWORD}, label=None)
        assert status == 302, f"login failed for {username}"

    def call(
        self, method: str, path: str, form: dict[str, Any] | None = None, *, label: str | None
    ) -> tuple[int, dict[str, str], str]:
        body = None
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if label:  # gunicorn's access log writes it beside the server's time (``server_times``)
            headers[CALL_HEADER] = urllib.parse.quote(label)
        if form is not None:
            fields = [
                (k, v) for k, value in form.items() for v in (value if isinstance(value, list) else [value])
            ]
            body = urllib.parse.urlencode([*fields, ("csrf_token", self.csrf)])
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        start = STOPWATCH["now"]()
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                text = response.read().decode("utf-8")
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None  # the server closed a kept-alive connection: open a new one
                if attempt == 1:
                    raise
        elapsed = (STOPWATCH["now"]() - start) * 1000
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        if label:
            self.timings.add(label, elapsed)
        return response.status, dict(response.getheaders()), text

    def expect(
        self, status: int, method: str, path: str, form: dict[str, Any] | None = None, *, label: str
    ) -> tuple[dict[str, str], str]:
        got, headers, text = self.call(method, path, form, label=label)
        assert got == status, (label, path, got, text[:800])
        return headers, text


class Timings:
    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = {}
        self.server: dict[str, list[float]] = {}  # the same calls' time inside gunicorn
        self.cases: list[float] = []
        self.lock = threading.Lock()

    def add(self, label: str, ms: float) -> None:
        with self.lock:
            self.calls.setdefault(label, []).append(ms)


class Server:
    """gunicorn serving ``webapp:create_app()`` on a free port against a fresh SQLite file."""

    def __init__(self, workers: int, threads: int, cpus: set[int] | None = None) -> None:
        self.app, self.tmp = setup.fresh_app()
        self.access_log = self.tmp / "access.log"
        self.log_offset = 0
        self.url = str(self.app.config["DATABASE_URL"])
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {
            **os.environ,
            "LIANDONG_DATABASE_URL": self.url,
            "LIANDONG_SECRET_KEY": "bench",
            "LIANDONG_INSTANCE_DIR": str(self.tmp),
            "LIANDONG_UPLOAD_DIR": str(self.tmp / "uploads"),
        }
        command = [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "--workers", str(workers),
            "--threads", str(threads),
            "--bind", f"127.0.0.1:{self.port}",
            "--error-logfile", str(self.tmp / "gunicorn.log"),
            "--access-logfile", str(self.access_log),
            "--access-logformat", f"%({{{CALL_HEADER}}}i)s %(D)s",
            "webapp:create_app()",
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            command, cwd=ROOT, env=env, preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"gunicorn did not start: {(self.tmp / 'gunicorn.log').read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)

    def server_times(self) -> dict[str, list[float]]:
        """The server's own milliseconds per call label, for the calls logged since the last
        read (gunicorn writes a line once the response is sent)."""
        time.sleep(0.3)
        with self.access_log.open() as log:
            log.seek(self.log_offset)
            lines = log.read().splitlines()
            self.log_offset = log.tell()
        found: dict[str, list[float]] = {}
        for line in lines:
            label, micros = line.rsplit(" ", 1)
            if label != "-":  # untimed calls (login, lookups) carry no label
                found.setdefault(urllib.parse.unquote(label), []).append(int(micros) / 1000)
        return found


FIRE_LOCK = threading.Lock()  # freezegun moves the clock of the whole process


def fire_deadline(server: Server) -> None:
    """The worker's pass with the clock two days on: the case's rectification deadline fires."""
    with FIRE_LOCK, freeze_time(dt.datetime.now(dt.UTC) + dt.timedelta(days=2)), server.app.app_context():
        from webapp.db import get_session

        report = timers.fire_due(get_session())
        assert not report.failed, report.failed


def _report(bank: Client, n: int) -> int:
    headers, _ = bank.expect(302, "POST", "/report", flatten_report(report_payload(n)), label="report a case")
    return int(headers["Location"].rstrip("/").rsplit("/", 1)[1])


def _inbox_task(office: Client, case_id: int, label: str) -> str:
    _, page = office.expect(200, "GET", "/inbox", label=label)
    ids = [t for t, c in INBOX_ROW.findall(page) if int(c) == case_id]
    assert ids, f"case {case_id} not in the office inbox"
    return ids[0]


def peer_case(clients: dict[str, Client], n: int, _server: Server) -> None:
    bank, office = clients["bank_icbc"], clients["office"]
    case_id = _report(bank, n)
    task = _inbox_task(office, case_id, "inbox read")
    office.expect(200, "GET", f"/tasks/{task}", label="form fetch")
    office.expect(
        302, "POST", f"/tasks/{task}", {"review_decision": "confirm", "classification": "evasion"},
        label="complete a task",
    )  # fmt: skip
    task = _inbox_task(office, case_id, "inbox read")
    # a month's deadline: the full path's timer runs (two days on) must not fire these cases
    office.expect(
        302, "POST", f"/tasks/{task}",
        {"interview_date": "2026-03-02", "attendees": "x", "rectification_days": "30"},
        label="complete a task",
    )  # fmt: skip
    office.expect(200, "GET", f"/cases/{case_id}", label="status read (case page)")


def full_case(clients: dict[str, Client], n: int, server: Server) -> None:
    bank, office = clients["bank_icbc"], clients["office"]

    def complete(unit: str, case_id: int, element: str, data: dict[str, Any]) -> None:
        task = open_task_id(server.app, case_id, element, unit=unit)
        clients[unit].expect(302, "POST", f"/tasks/{task}", data, label="complete a task")

    case_id = _report(bank, n)
    complete("office", case_id, "review", {"review_decision": "confirm", "classification": "evasion"})
    complete("regulator", case_id, "notify_banks", {"notice_date": "2026-03-03", "notice_document_no": "N"})
    complete("market", case_id, "lookup_holdings", {"holdings_found": "none"})
    complete(
        "office", case_id, "interview",
        {"interview_date": "2026-03-02", "attendees": "x", "rectification_days": "1"},
    )  # fmt: skip
    fire_deadline(server)
    complete("office", case_id, "assess_rectification", {"assessment": "full"})
    for unit, measure in SANCTIONS.items():
        complete(unit, case_id, "apply_sanction", {"measures": measure})
    office.expect(200, "GET", "/inbox", label="inbox read")
    office.expect(200, "GET", f"/cases/{case_id}", label="status read (case page)")
    bank.expect(
        302, "POST", f"/cases/{case_id}/settlement", {"certificate_no": "JQ"}, label="report settlement"
    )
    complete("office", case_id, "verify_settlement", {"certificate_decision": "verified"})
    for unit in SANCTIONS:
        complete(unit, case_id, "lift_sanction", {"lift_confirmed": "on"})
    case = case_row(server.app, case_id)
    assert (case.status, case.outcome) == ("closed", "delisted"), (case_id, case.stage, case.outcome)


SHAPES = {"peer": peer_case, "full": full_case}


def run(shape: str, server: Server, clients_count: int, cases: int, first: int) -> Timings:
    timings = Timings()
    errors: list[BaseException] = []

    def client(index: int) -> None:
        try:
            users = ["bank_icbc", "office"] + (["regulator", *SANCTIONS] if shape == "full" else [])
            browsers = {u: Client(server.port, u, timings) for u in dict.fromkeys(users)}
            for k in range(cases):
                start = STOPWATCH["now"]()
                SHAPES[shape](browsers, first + index * cases + k, server)
                with timings.lock:
                    timings.cases.append((STOPWATCH["now"]() - start) * 1000)
        except BaseException as err:  # reported after the join
            errors.append(err)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients_count)]
    start = STOPWATCH["now"]()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    timings.calls["(wall clock, all cases)"] = [(STOPWATCH["now"]() - start) * 1000]
    if errors:
        raise errors[0]
    return timings


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20, help="cases per client and run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--pin", action="store_true", help="run the client and gunicorn on one core (see docs/PERFORMANCE.md)"
    )
    parser.add_argument(
        "--awake",
        action="store_true",
        help="gunicorn on one core kept awake by a lowest-priority spinner, the client on another "
        "(a diagnostic, see docs/PERFORMANCE.md)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    server_cpus, spinner = None, None
    if args.pin:
        # gunicorn inherits the affinity: no wake-up of an idle core at each request and answer
        os.sched_setaffinity(0, {cores[0]})
    elif args.awake:
        if len(cores) < 2:
            parser.error("--awake needs two cores")
        server_cpus = {cores[0]}
        os.sched_setaffinity(0, {cores[1]})
        # it yields the core to gunicorn at once (nice 19), but the core never goes idle
        spinner = subprocess.Popen(
            ["nice", "-n", "19", sys.executable, "-c", "while True: pass"],  # noqa: S607
            preexec_fn=lambda: os.sched_setaffinity(0, server_cpus),
        )
    try:
        _bench(args, server_cpus)
    finally:
        if spinner is not None:
            spinner.kill()


def _bench(args: argparse.Namespace, server_cpus: set[int] | None) -> None:
    server = Server(args.workers, args.threads, server_cpus)
    results: list[tuple[str, int, Timings]] = []
    try:
        first = 1
        for shape in ("peer", "full"):
            run(shape, server, 1, 2, 100_000 + first)  # warm-up: imports, caches, spec parsing
            server.server_times()
            first += 10
            for clients in (1, 4):
                timings = run(shape, server, clients, args.cases, first)
                timings.server = server.server_times()
                first += clients * args.cases
                results.append((shape, clients, timings))
                _print(shape, clients, timings)
    finally:
        server.stop()
    if not args.no_write:
        write(args, results)


def _print(shape: str, clients: int, timings: Timings) -> None:
    print(f"{shape}, {clients} client(s):", flush=True)
    for label, values in timings.calls.items():
        inside = timings.server.get(label)
        server = f"; in gunicorn p50 {statistics.median(inside):.1f} ms" if inside else ""
        times = f"p50 {statistics.median(values):.1f} ms, p95 {_p95(values):.1f} ms ({len(values)})"
        print(f"  {label}: {times}{server}")
    print(f"  whole case: p50 {statistics.median(timings.cases):.0f} ms, p95 {_p95(timings.cases):.0f} ms")


def write(args: argparse.Namespace, results: list[tuple[str, int, Timings]]) -> None:
    machine = setup.machine()
    pinned = " client and server pinned to one core (`--pin`)," if args.pin else ""
    if args.awake:
        pinned = " gunicorn on one core kept awake by a nice-19 spinner, the client on the other (`--awake`),"
    lines = [
        f"gunicorn {args.workers} workers × {args.threads} threads (gthread),{pinned} SQLite (WAL), "
        f"CSRF on, client `http.client` with a cookie jar, keep-alive; {machine}. "
        f"{args.cases} cases per client and run; with 4 clients, 4 threads each run their own cases "
        "at once.",
        "",
        "- **peer shape**: report, inbox, review form, complete, inbox, complete, case page "
        "(spiff-arena: ~80 ms a completion, ~355 ms the case; goal 10× faster: ≤ 8 ms and ≤ 36 ms);",
        "- **full path**: report → review → the regulator's and the market regulator's tasks beside "
        "the path → interview → deadline fired (worker function in the bench process, clock moved on) "
        "→ the office's assessment → 7 sanctions → inbox, case page → settlement → verification → "
        "7 lifts.",
        "",
        "| shape | clients | call | p50 ms | p95 ms | in gunicorn p50 ms | count |",
        "|---|---|---|---|---|---|---|",
    ]
    for shape, clients, timings in results:
        for label, values in timings.calls.items():
            if label.startswith("("):
                continue
            inside = timings.server.get(label)
            lines.append(
                f"| {shape} | {clients} | {label} | {statistics.median(values):.1f} | {_p95(values):.1f} "
                f"| {f'{statistics.median(inside):.1f}' if inside else '-'} | {len(values)} |"
            )
        wall = timings.calls["(wall clock, all cases)"][0] / 1000
        lines.append(
            f"| {shape} | {clients} | **whole case** | **{statistics.median(timings.cases):.0f}** | "
            f"**{_p95(timings.cases):.0f}** | | {len(timings.cases)} "
            f"({len(timings.cases) / wall:.1f} cases/s) |"
        )
    lines += [
        "",
        "p50 and p95: each call at the client, from the request sent to the response read. In "
        "gunicorn: the same calls' time inside the server (its access log's `%(D)s`), without the "
        "client's own work and the loopback. Whole case: wall time of one case for its client, "
        "including (full path) the untimed task-id lookups and the deadline run. Workers: see "
        "docs/PRODUCTION.md.",
    ]
    body = "\n".join(lines)
    print(body)
    title = "Whole case over HTTP with gunicorn (bench/http_case.py)"
    if args.pin:
        title = title.replace("gunicorn", "gunicorn on one core")
    elif args.awake:
        title = title.replace("gunicorn", "gunicorn on a core kept awake")
    write_section(title, body)


if __name__ == "__main__":
    main()
