"""Before/after over HTTP, interleaved: an earlier commit against the working tree, one run.

This machine's speed drifts by a third over minutes, so figures taken before a change and
figures taken after it in another run do not compare. This scenario serves both versions at
once and alternates the cases between them:

- ``--before REV`` is checked out into a temporary git worktree (removed at the end, also on
  failure) and its translations compiled there, so both serve the same Chinese pages;
- two gunicorn servers run side by side (as bench/http_case.py's: 2 workers × 2 threads,
  the server's own time per labelled call read from the access log), each on a fresh SQLite
  database migrated by ITS OWN Alembic migrations and seeded by ITS OWN ``tests.support``
  (``alembic upgrade head`` and the seeding run as subprocesses with cwd and PYTHONPATH the
  tree; a one-off check loads the app as gunicorn does and fails unless ``webapp`` comes from
  that tree, since the virtual environment holds this checkout as an editable install);
- one client runs the cases in ABBA order (before, now, now, before, ...), ``--cases`` per
  server and round, ``--rounds`` rounds, the first side swapped each round, after a few
  untimed warm-up cases on each server.

    .venv/bin/python bench/compare.py --before b1f2e41 [--cases 40] [--rounds 2]
        [--shape peer|full|both] [--write]

Shapes are bench/http_case.py's. ``peer`` is its own function. ``full`` (report → review →
the regulator's and the market regulator's tasks beside the path → interview → deadline → the
office's assessment → 7 sanctions → inbox, case page → settlement → verification → 7 lifts)
follows each tree's own diagram: a tree whose diagram lacks the tasks beside the path or the
assessment (before issue 18) skips them, so its whole case has fewer steps. It finds each task
through the unit's inbox page (timed, as "inbox read (finding the task)")
instead of reading the database, and fires the deadline with the tree's own
``flask --app webapp timers fire`` in a subprocess whose clock is moved two days on
(freezegun); that subprocess is not timed per call and is left out of the whole-case time.

Prints, per shape and call, p50 and p95 for each side and round with the server's own p50,
the ratio now/before of the p50s, then a Markdown table (call | before run 1 | now run 1 |
... | ratio now/before, median of rounds). docs/PERFORMANCE.md is written only with
``--write``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import setup  # noqa: E402 - first: its load average is read before the run
from bench.http_case import (  # noqa: E402
    CALL_HEADER,
    INBOX_ROW,
    SANCTIONS,
    STOPWATCH,
    Client,
    Server,
    Timings,
    _p95,
    _report,
    peer_case,
)
from bench.report import write_section  # noqa: E402

BIN = ROOT / ".venv" / "bin"
SIDES = ("before", "now")
WHOLE = "whole case"
FIRE_LABEL = "(deadline: the `flask timers fire` subprocess, not in the whole case)"
TITLE = "Before/after, interleaved (bench/compare.py)"

# run in the tree (cwd and PYTHONPATH): seeds the users and says where the code came from,
# the app loaded the way gunicorn loads it
SEED = """
import json, sys
from gunicorn.util import import_app
import tests.support, webapp
app = import_app("webapp:create_app()")
tests.support.seed_users(app)
print(json.dumps({"webapp": webapp.__file__, "tests.support": tests.support.__file__,
                  "app root": app.root_path, "processes": app.config["PROCESSES_DIR"]}))
"""
# the tree's own timer command with the clock two days on (the rectification deadline is a day)
FIRE = """
import datetime as dt, sys
import freezegun
freezegun.freeze_time(dt.datetime.now(dt.UTC) + dt.timedelta(days=2), tick=True).start()
import flask.cli
sys.argv = ["flask", *sys.argv[1:]]
flask.cli.main()
"""


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)  # noqa: S603, S607
    return done.stdout.strip()


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """``rev`` checked out in a temporary folder with its translations compiled; removed after."""
    path = Path(tempfile.mkdtemp(prefix="liandong-before-"))
    try:
        git("worktree", "add", "--detach", str(path), rev)
        pybabel = [str(BIN / "pybabel"), "-q", "compile", "-d", str(path / "webapp" / "translations")]
        subprocess.run(pybabel, cwd=path, check=True)  # noqa: S603 - our own command line
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)  # noqa: S603, S607
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=False)  # noqa: S607


class TreeServer(Server):
    """gunicorn serving one tree's code (cwd and PYTHONPATH the tree) on its own SQLite file,
    migrated and seeded by that tree's code in subprocesses. ``server_times`` and ``stop``
    are http_case's."""

    def __init__(self, side: str, tree: Path, workers: int = 2, threads: int = 2) -> None:
        # not Server.__init__: its fresh_app migrates and seeds with this checkout's code
        self.side, self.tree = side, tree
        self.tmp = Path(tempfile.mkdtemp(prefix=f"liandong-compare-{side}-"))
        self.access_log = self.tmp / "access.log"
        self.log_offset = 0
        self.url = f"sqlite:///{self.tmp / 'bench.db'}"
        pythonpath = os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")]))
        self.env = {
            **os.environ,
            "PYTHONPATH": pythonpath,
            "LIANDONG_DATABASE_URL": self.url,
            "LIANDONG_SECRET_KEY": "bench",
            "LIANDONG_INSTANCE_DIR": str(self.tmp),
            "LIANDONG_UPLOAD_DIR": str(self.tmp / "uploads"),
        }
        # the tree's diagram: which of the later steps of the full path it has
        self.diagram = (tree / "processes" / "debt_case.bpmn").read_text(encoding="utf-8")
        self.run_in_tree([str(BIN / "alembic"), "upgrade", "head"], "migration")
        self.origin = json.loads(
            self.run_in_tree([str(BIN / "python"), "-c", SEED], "seeding").splitlines()[-1]
        )
        foreign = {
            k: v for k, v in self.origin.items() if not Path(v).resolve().is_relative_to(tree.resolve())
        }
        if foreign:
            raise RuntimeError(f"{side} server would not run {tree}'s code: {foreign}")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = [
            str(BIN / "gunicorn"),
            "--workers", str(workers),
            "--threads", str(threads),
            "--bind", f"127.0.0.1:{self.port}",
            "--error-logfile", str(self.tmp / "gunicorn.log"),
            "--access-logfile", str(self.access_log),
            "--access-logformat", f"%({{{CALL_HEADER}}}i)s %(D)s",
            # its own control socket: the default path in $HOME is shared by every gunicorn here
            "--control-socket", str(self.tmp / "gunicorn.ctl"),
            "webapp:create_app()",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=tree, env=self.env)  # noqa: S603 - our own command line
        try:
            self._wait_listening()
        except BaseException:
            self.stop()  # the caller never gets this server to stop
            raise

    def _wait_listening(self) -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.side} gunicorn exited ({self.process.returncode}):\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.side} gunicorn did not start:\n{self.log()}")

    def run_in_tree(self, command: list[str], what: str) -> str:
        options: dict[str, Any] = {"cwd": self.tree, "env": self.env, "capture_output": True, "text": True}
        done = subprocess.run(command, check=False, **options)  # noqa: S603 - our own command lines
        if done.returncode != 0:
            raise RuntimeError(f"{what} failed in {self.tree} ({self.side}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def fire_deadline(self, case_id: int) -> None:
        """The tree's own ``flask timers fire`` with the clock two days on."""
        command = [str(BIN / "python"), "-c", FIRE, "--app", "webapp", "timers", "fire"]
        out = self.run_in_tree(command, "flask timers fire")
        fired = out.partition(":")[2].replace(",", " ").split()
        assert str(case_id) in fired, f"{self.side}: case {case_id} not fired: {out}"

    def has(self, element: str) -> bool:
        """Whether the tree's main diagram has the element."""
        return f'id="{element}"' in self.diagram

    def log(self) -> str:
        path = self.tmp / "gunicorn.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"

    def stop(self) -> None:
        process: subprocess.Popen[bytes] | None = getattr(self, "process", None)  # None: not started
        if process is None or process.poll() is not None:
            return
        try:
            super().stop()
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def full_case(clients: dict[str, Client], n: int, server: TreeServer) -> float:
    """http_case's full path with the tasks found through the inbox pages and the deadline fired
    by the tree's CLI; returns the milliseconds the firing took (left out of the case's time)."""
    bank, office = clients["bank_icbc"], clients["office"]

    def complete(unit: str, case_id: int, data: dict[str, Any]) -> None:
        _, page = clients[unit].expect(200, "GET", "/inbox", label="inbox read (finding the task)")
        tasks = [t for t, c in INBOX_ROW.findall(page) if int(c) == case_id]
        assert len(tasks) == 1, f"{server.side}: {unit}'s inbox lists {len(tasks)} tasks of case {case_id}"
        clients[unit].expect(302, "POST", f"/tasks/{tasks[0]}", data, label="complete a task")

    case_id = _report(bank, n)
    complete("office", case_id, {"review_decision": "confirm", "classification": "evasion"})
    if server.has("notify_banks"):  # beside the path, done before the deadline
        complete("regulator", case_id, {"notice_date": "2026-03-03", "notice_document_no": "N"})
    if server.has("lookup_holdings"):
        complete("market", case_id, {"holdings_found": "none"})
    complete("office", case_id, {"interview_date": "2026-03-02", "attendees": "x", "rectification_days": "1"})
    start = STOPWATCH["now"]()
    server.fire_deadline(case_id)
    fired = (STOPWATCH["now"]() - start) * 1000
    if server.has("assess_rectification"):
        complete("office", case_id, {"assessment": "full"})
    for unit, measure in SANCTIONS.items():
        complete(unit, case_id, {"measures": measure})
    office.expect(200, "GET", "/inbox", label="inbox read")
    office.expect(200, "GET", f"/cases/{case_id}", label="status read (case page)")
    bank.expect(
        302, "POST", f"/cases/{case_id}/settlement", {"certificate_no": "JQ"}, label="report settlement"
    )
    complete("office", case_id, {"certificate_decision": "verified"})
    for unit in SANCTIONS:
        complete(unit, case_id, {"lift_confirmed": "on"})
    return fired


def peer(clients: dict[str, Client], n: int, server: TreeServer) -> float:
    peer_case(clients, n, server)
    return 0.0


SHAPES: dict[str, Callable[[dict[str, Client], int, TreeServer], float]] = {"peer": peer, "full": full_case}
USERS = {
    "peer": ["bank_icbc", "office"],
    "full": list(dict.fromkeys(["bank_icbc", "office", "regulator", *SANCTIONS])),
}


class Side:
    """One server with its logged-in browsers and the number of its next case."""

    def __init__(self, server: TreeServer) -> None:
        self.server = server
        self.clients: dict[str, Client] = {}
        self.next_case = 1

    def run_case(self, shape: str, timings: Timings) -> None:
        for user in USERS[shape]:
            if user not in self.clients:
                self.clients[user] = Client(self.server.port, user, timings)
            self.clients[user].timings = timings
        start = STOPWATCH["now"]()
        untimed = SHAPES[shape](self.clients, self.next_case, self.server)
        elapsed = (STOPWATCH["now"]() - start) * 1000
        self.next_case += 1
        timings.cases.append(elapsed - untimed)
        if untimed:
            timings.add(FIRE_LABEL, untimed)


# results[shape][round][side]
Results = dict[str, list[dict[str, Timings]]]


def abba(first: str, count: int) -> list[str]:
    """``count`` cases per side, ABBA: first, other, other, first, first, other, ..."""
    other = SIDES[1] if first == SIDES[0] else SIDES[0]
    return [first if i % 4 in (0, 3) else other for i in range(2 * count)]


def measure(args: argparse.Namespace, sides: dict[str, Side], shapes: list[str]) -> Results:
    results: Results = {shape: [] for shape in shapes}
    for shape in shapes:
        for side in SIDES:  # warm-up: imports, caches and specs in the workers; not kept
            for _ in range(args.warmup):
                sides[side].run_case(shape, Timings())
            sides[side].server.server_times()
    for round_ in range(args.rounds):
        first = SIDES[round_ % 2]
        for shape in shapes:
            timings = {side: Timings() for side in SIDES}
            for side in abba(first, args.cases):
                sides[side].run_case(shape, timings[side])
            for side in SIDES:
                timings[side].server = sides[side].server.server_times()
            results[shape].append(timings)
            _print_round(shape, round_, first, timings)
    return results


def _values(timings: Timings, label: str) -> list[float]:
    return timings.cases if label == WHOLE else timings.calls.get(label, [])


def _labels(rounds: list[dict[str, Timings]]) -> list[str]:
    labels = [label for r in rounds for side in SIDES for label in r[side].calls]
    ordered = [label for label in dict.fromkeys(labels) if label != FIRE_LABEL]
    return [*ordered, WHOLE, *([FIRE_LABEL] if FIRE_LABEL in labels else [])]


def _print_round(shape: str, round_: int, first: str, timings: dict[str, Timings]) -> None:
    print(f"{shape} shape, run {round_ + 1} ({first} first):", flush=True)
    for label in _labels([timings]):
        cells = []
        p50s = []
        for side in SIDES:
            values = _values(timings[side], label)
            if not values:
                cells.append(f"{side} -")
                continue
            p50s.append(statistics.median(values))
            inside = timings[side].server.get(label)
            server = f", in gunicorn {statistics.median(inside):.1f}" if inside else ""
            cells.append(f"{side} p50 {p50s[-1]:.1f} p95 {_p95(values):.1f} ({len(values)}{server})")
        ratio = f"  ratio {p50s[1] / p50s[0]:.2f}" if len(p50s) == 2 else ""
        print(f"  {label}: {'; '.join(cells)}{ratio}")


def _ratio(rounds: list[dict[str, Timings]], label: str) -> float | None:
    ratios = []
    for r in rounds:
        before, now = _values(r["before"], label), _values(r["now"], label)
        if before and now:
            ratios.append(statistics.median(now) / statistics.median(before))
    return statistics.median(ratios) if ratios else None


def table(args: argparse.Namespace, results: Results, before: str, now: str) -> str:
    runs = range(1, args.rounds + 1)
    head = " | ".join(f"before run {k} | now run {k}" for k in runs)
    lines = [
        f"Interleaved before/after over HTTP: before = {before}, now = {now}. Two gunicorn servers "
        "side by side (2 workers × 2 threads each, gthread), each on its own SQLite file migrated and "
        "seeded by its own code; one client (`http.client`, keep-alive, CSRF on) runs the cases in "
        f"ABBA order, {args.cases} cases per server and run, {args.warmup} warm-up case(s) on each first, "
        f"the first server swapped each run; {setup.machine()}.",
        "",
        f"| call | {head} | ratio now/before (median of rounds) |",
        "|---|" + "---|" * (2 * args.rounds + 1),
    ]
    for shape, rounds in results.items():
        lines.append(f"| **{shape} shape** |" + " |" * (2 * args.rounds + 1))
        for label in _labels(rounds):
            cells = []
            for r in rounds:
                for side in SIDES:
                    values = _values(r[side], label)
                    cells.append(f"{statistics.median(values):.1f}" if values else "-")
            ratio = _ratio(rounds, label)
            name = f"**{label}**" if label == WHOLE else label
            lines.append(f"| {name} | {' | '.join(cells)} | {f'{ratio:.2f}' if ratio else '-'} |")
    lines += [
        "",
        "p50 in ms at the client, from the request sent to the response read. Ratio below 1: now is "
        "faster. Whole case: one case's wall time for the client"
        + (
            ", the deadline's subprocess (`flask timers fire` with the clock moved on) left out; "
            "the full path finds its tasks through the units' inbox pages (timed)."
            if "full" in results
            else "."
        ),
    ]
    return "\n".join(lines)


def describe_now() -> str:
    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--", "webapp", "migrations", "processes", "forms")
    return f"the working tree at `{head}`" + (" with uncommitted changes" if dirty else "")


def check_translations() -> None:
    messages = ROOT / "webapp" / "translations" / "zh" / "LC_MESSAGES"
    mo, po = messages / "messages.mo", messages / "messages.po"
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        print(
            "warning: this checkout's messages.mo is missing or older than messages.po "
            "(run .venv/bin/pybabel compile -q -d webapp/translations)",
            file=sys.stderr,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, metavar="REV", help="the earlier commit")
    parser.add_argument("--cases", type=int, default=40, help="cases per server and run")
    parser.add_argument("--rounds", type=int, default=2, help="runs, the first server swapped each run")
    parser.add_argument("--shape", choices=["peer", "full", "both"], default="peer")
    parser.add_argument("--warmup", type=int, default=3, help="untimed cases per server and shape first")
    parser.add_argument(
        "--write", action="store_true", help=f"write the section {TITLE!r} of docs/PERFORMANCE.md"
    )
    args = parser.parse_args()
    # a terminated run still stops its servers and removes its worktree (the finally blocks)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    before = (
        f"`{git('rev-parse', '--short', args.before)}` (of {git('log', '-1', '--format=%cs', args.before)})"
    )
    now = describe_now()
    check_translations()
    shapes = ["peer", "full"] if args.shape == "both" else [args.shape]
    servers: list[TreeServer] = []
    with worktree(args.before) as tree:
        try:
            servers.append(TreeServer("before", tree))
            servers.append(TreeServer("now", ROOT))
            for server in servers:
                print(
                    f"{server.side}: port {server.port}, webapp from {Path(server.origin['webapp']).parent}"
                )
            results = measure(args, {s.side: Side(s) for s in servers}, shapes)
        except BaseException:
            for server in servers:  # their folders are kept: database, access log
                print(
                    f"--- {server.side} gunicorn log ({server.tmp / 'gunicorn.log'}):\n{server.log()}",
                    file=sys.stderr,
                )
            raise
        finally:
            for server in servers:
                server.stop()
    body = table(args, results, before, now)
    print()
    print(body)
    for server in servers:
        shutil.rmtree(server.tmp, ignore_errors=True)
    if args.write:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
