"""Instructions per request of the peer-shaped case, counted by valgrind (callgrind).

Wall-clock figures on a shared virtual machine move by ±30 % from one minute to the next;
instruction counts do not (the same code, data and Python give the same count within
0.5 %). This scenario runs the peer's shape (report, inbox, review form, complete, inbox,
complete, case page) through the Flask test client with CSRF on, and counts the
instructions of each kind of request only (``callgrind_control`` switches counting on
around it): the figure that tells whether a change made the hot path cheaper.

    .venv/bin/python -m bench instructions [--cases 3] [--compare REV]

``--compare REV`` measures an earlier commit too (checked out into a temporary git
worktree that shares this checkout's virtual environment), so both rows come from the
same valgrind and Python. Needs valgrind (Debian package ``valgrind``); about a minute
per checkout.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("report", "inbox", "form", "complete", "case page")
PER_CASE = {"report": 1, "inbox": 2, "form": 1, "complete": 2, "case page": 1}
WARM_UP = 5


def child(kind: str, cases: int) -> None:
    """Inside valgrind: run warm-up cases, then count ``kind`` requests of ``cases`` cases."""
    sys.path.insert(0, str(Path.cwd()))
    from bench import setup
    from tests.support import PASSWORD, flatten_report, report_payload

    app, _tmp = setup.fresh_app()
    token = re.compile(r'name="csrf_token" value="([^"]+)"')
    inbox_row = re.compile(r'href="/tasks/([0-9a-f-]{36})".*?href="/cases/(\d+)"', re.S)
    counting = [False]

    def toggle(state: str) -> None:
        command = ["callgrind_control", "-i", state, str(os.getpid())]
        subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - valgrind's own tool

    class User:
        def __init__(self, username: str) -> None:
            self.client = app.test_client()
            self.csrf = token.search(self.client.get("/login").get_data(as_text=True)).group(1)  # type: ignore[union-attr]
            form = {"username": username, "password": PASSWORD, "csrf_token": self.csrf}
            assert self.client.post("/login", data=form).status_code == 302

        def call(self, what: str, method: str, path: str, data: dict | None = None, status: int = 200) -> str:
            if data is not None:
                data = {**data, "csrf_token": self.csrf}
            on = counting[0] and what == kind
            if on:
                toggle("on")
            response = self.client.open(path, method=method, data=data)
            if on:
                toggle("off")
            assert response.status_code == status, (what, response.status_code)
            return str(response.headers.get("Location") or response.get_data(as_text=True))

    bank, office = User("bank_icbc"), User("office")

    def one_case(n: int) -> None:
        location = bank.call("report", "POST", "/report", flatten_report(report_payload(n)), 302)
        case_id = int(location.rstrip("/").rsplit("/", 1)[1])

        def task() -> str:
            page = office.call("inbox", "GET", "/inbox")
            return next(t for t, c in inbox_row.findall(page) if int(c) == case_id)

        first = task()
        office.call("form", "GET", f"/tasks/{first}")
        review = {"review_decision": "confirm", "classification": "evasion"}
        office.call("complete", "POST", f"/tasks/{first}", review, 302)
        interview = {"interview_date": "2026-03-02", "attendees": "x", "rectification_days": "30"}
        office.call("complete", "POST", f"/tasks/{task()}", interview, 302)
        office.call("case page", "GET", f"/cases/{case_id}")

    for n in range(WARM_UP):
        one_case(n)
    counting[0] = True
    for n in range(WARM_UP, WARM_UP + cases):
        one_case(n)


def count(root: Path, kind: str, cases: int) -> float:
    """Instructions of one ``kind`` request (mean over the counted ones), run in ``root``."""
    with tempfile.TemporaryDirectory(prefix="liandong-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "bench" / "instructions.py"),
            "--child", kind, "--cases", str(cases),
        ]  # fmt: skip
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise RuntimeError(f"valgrind run failed in {root}:\n{done.stderr[-3000:]}")
        total = 0
        for path in Path(tmp).glob("callgrind.out*"):  # one file per dump; each ends with its totals
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            counts = [int(ln.split()[1]) for ln in lines if ln.startswith(("summary:", "totals:"))]
            total += max(counts, default=0)
    return total / (cases * PER_CASE[kind])


def worktree(rev: str) -> Path:
    """``rev`` checked out beside this checkout, sharing its virtual environment."""
    path = Path(tempfile.mkdtemp(prefix="liandong-compare-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT, check=True)  # noqa: S603, S607
    (path / ".venv").symlink_to(ROOT / ".venv")
    pybabel = str(ROOT / ".venv" / "bin" / "pybabel")
    subprocess.run([pybabel, "-q", "compile", "-d", "webapp/translations"], cwd=path, check=True)  # noqa: S603
    return path


def measure(root: Path, cases: int) -> dict[str, float]:
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        counts = list(pool.map(lambda k: count(root, k, cases), KINDS))
    return dict(zip(KINDS, counts, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--compare", metavar="REV", help="also measure this earlier commit")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.cases)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian package valgrind)")
    git = ["git", "rev-parse", "--short", "HEAD"]
    head = subprocess.run(git, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()  # noqa: S603
    rows = [(f"this checkout ({head})", measure(ROOT, args.cases))]
    if args.compare:
        other = worktree(args.compare)
        try:
            rows.insert(0, (args.compare, measure(other, args.cases)))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, check=False)  # noqa: S603, S607
    write(args, rows)


def write(args: argparse.Namespace, rows: list[tuple[str, dict[str, float]]]) -> None:
    from bench import setup
    from bench.report import write_section

    lines = [
        "Millions of instructions per request (valgrind's callgrind, counting only the requests of "
        f"one kind; {args.cases} peer-shaped cases after {WARM_UP} warm-up cases), Flask test client, "
        f"CSRF on, SQLite; {setup.machine()}. Deterministic where wall-clock time is not: use it to "
        "compare changes. Syscalls (SQLite's writes, `os.urandom`) are not counted.",
        "",
        "| code | " + " | ".join(KINDS) + " | whole case |",
        "|---|" + "---|" * (len(KINDS) + 1),
    ]
    for label, counts in rows:
        case = sum(counts[k] * PER_CASE[k] for k in KINDS)
        cells = " | ".join(f"{counts[k] / 1e6:.1f}" for k in KINDS)
        lines.append(f"| {label} | {cells} | {case / 1e6:.0f} |")
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Instructions per request (bench/instructions.py)", body)


if __name__ == "__main__":
    if "--child" not in sys.argv:
        sys.path.insert(0, str(ROOT))
    main()
