"""Scenario 4: where a task completion's time goes (issue 7).

    .venv/bin/python bench/time_split.py [cases]      (or: python -m bench time_split)

The completions of the whole case of bench/whole_case.py (review, the regulator's and the
market regulator's tasks beside the path, interview, the office's assessment, 7 sanctions,
verification, 7 lifts: 20 a case) are posted through the Flask test client on SQLite, and
each one's time is split with a stopwatch that charges every moment to the innermost part
running (so the parts add up to the request):

- database: SQL statements at the driver (SQLAlchemy's before/after_cursor_execute) and
  the commit;
- serialization: loading and saving the engine state (``CaseRun.load`` / ``dump``, which
  drops the finished history first);
- engine: SpiffWorkflow running the step (``CaseRun.complete``) and the ``Snapshot`` of
  what it left;
- hashing: sealing the history events (``audit.chain.event_hash``);
- projection: the step's projection (``steps._finish``: effects, task rows, stage, events),
  with the ORM work it does;
- domain and ORM: the rest of the step transaction (visibility, owner and lock checks, the
  form, validation, SQLAlchemy's unit of work);
- request handling: the rest (Werkzeug, Flask, login, session cookie, flash, redirect).
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from freezegun import freeze_time
from sqlalchemy import event
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import setup  # noqa: E402
from bench.report import write_section  # noqa: E402
from tests.support import (  # noqa: E402
    SANCTION_MEASURES,
    Browser,
    case_row,
    flatten_report,
    open_task_id,
    report_payload,
)
from webapp.audit import chain  # noqa: E402
from webapp.cases import steps  # noqa: E402
from webapp.engine import CaseRun  # noqa: E402
from webapp.tasks import views  # noqa: E402

PERF = {"now": time.perf_counter}  # out of freezegun's reach (see whole_case.py)
SANCTIONS = SANCTION_MEASURES
PARTS = (
    "request handling",
    "domain and ORM",
    "projection",
    "engine",
    "serialization",
    "hashing",
    "database",
)


class Split:
    """A stopwatch charging time to the innermost running part (a stack of parts)."""

    def __init__(self) -> None:
        self.active = False
        self.stack: list[str] = []
        self.mark = 0.0
        self.totals: dict[str, float] = defaultdict(float)

    def push(self, part: str) -> None:
        if not self.active:
            return
        now = PERF["now"]()
        if self.stack:
            self.totals[self.stack[-1]] += now - self.mark
        self.stack.append(part)
        self.mark = now

    def pop(self) -> None:
        if not self.active:
            return
        now = PERF["now"]()
        self.totals[self.stack.pop()] += now - self.mark
        self.mark = now

    def measure(self, call: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
        self.totals, self.stack, self.active = defaultdict(float), [], True
        self.push("request handling")
        try:
            result = call()
        finally:
            self.pop()
            self.active = False
        return result, {part: seconds * 1000 for part, seconds in self.totals.items()}


SPLIT = Split()


def charge(owner: Any, name: str, part: str) -> None:
    """Wrap ``owner.name`` (function, method or classmethod) so its time goes to ``part``."""
    original = inspect.getattr_static(owner, name)
    is_classmethod = isinstance(original, classmethod)
    func = original.__func__ if is_classmethod else original

    @functools.wraps(func)
    def timed(*args: Any, **kwargs: Any) -> Any:
        SPLIT.push(part)
        try:
            return func(*args, **kwargs)
        finally:
            SPLIT.pop()

    setattr(owner, name, classmethod(timed) if is_classmethod else timed)


def instrument(app: Any) -> None:
    charge(views, "atomic", "domain and ORM")
    charge(steps, "_finish", "projection")
    charge(CaseRun, "complete", "engine")
    charge(CaseRun, "snapshot", "engine")
    charge(CaseRun, "load", "serialization")
    charge(CaseRun, "dump", "serialization")
    charge(chain, "event_hash", "hashing")
    charge(Session, "commit", "database")
    db = app.extensions["db_engine"]
    event.listen(db, "before_cursor_execute", lambda *_a: SPLIT.push("database"))
    event.listen(db, "after_cursor_execute", lambda *_a: SPLIT.pop())


def main(cases: int) -> None:
    app, _tmp = setup.fresh_app(WTF_CSRF_ENABLED=False)
    instrument(app)
    people = {u: Browser(app, u) for u in ["office", "regulator", *SANCTIONS]}
    splits: list[dict[str, float]] = []
    totals: list[float] = []

    def complete(user: str, case_id: int, element: str, data: dict[str, Any]) -> None:
        task_id = open_task_id(app, case_id, element, unit=user)
        start = PERF["now"]()
        response, split = SPLIT.measure(lambda: people[user].post(f"/tasks/{task_id}", data=data))
        totals.append((PERF["now"]() - start) * 1000)
        assert response.status_code == 302, (element, response.status_code)
        splits.append(split)

    for n in range(cases):
        response = people["bank_icbc"].post("/report", data=flatten_report(report_payload(n + 1)))
        case_id = int(response.headers["Location"].rsplit("/", 1)[1])
        complete("office", case_id, "review", {"review_decision": "confirm", "classification": "evasion"})
        notice = {"notice_date": "2026-03-03", "notice_document_no": "N"}
        complete("regulator", case_id, "notify_banks", notice)
        complete("market", case_id, "lookup_holdings", {"holdings_found": "none"})
        complete(
            "office",
            case_id,
            "interview",
            {"interview_date": "2026-03-02", "attendees": "x", "rectification_days": "1"},
        )
        with freeze_time(dt.datetime.now(dt.UTC) + dt.timedelta(days=2)):
            assert app.test_cli_runner().invoke(args=["timers", "fire"]).exit_code == 0
        complete("office", case_id, "assess_rectification", {"assessment": "full"})
        for unit, measure in SANCTIONS.items():
            complete(unit, case_id, "apply_sanction", {"measures": measure})
        settled = people["bank_icbc"].post(f"/cases/{case_id}/settlement", data={"certificate_no": "JQ"})
        assert settled.status_code == 302, settled.status_code
        complete("office", case_id, "verify_settlement", {"certificate_decision": "verified"})
        for unit in SANCTIONS:
            complete(unit, case_id, "lift_sanction", {"lift_confirmed": "on"})
        case = case_row(app, case_id)
        assert (case.status, case.outcome) == ("closed", "delisted"), (case_id, case.stage, case.outcome)
    write(cases, splits, totals)


def write(cases: int, splits: list[dict[str, float]], totals: list[float]) -> None:
    mean_total = statistics.fmean(totals)
    rows = []
    for part in PARTS:
        values = [s.get(part, 0.0) for s in splits]
        mean = statistics.fmean(values)
        rows.append(f"| {part} | {mean:.2f} | {statistics.median(values):.2f} | {mean / mean_total:.0%} |")
    ordered = sorted(totals)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    machine = setup.machine()
    body = "\n".join(
        [
            f"{len(totals)} task completions ({cases} whole cases as in bench/whole_case.py), Flask test",
            f"client, SQLite, one process; {machine}. Each moment is charged to the innermost",
            "part running, so the parts add up to the request (the stopwatch itself adds a little).",
            "",
            "| part | mean ms | p50 ms | share |",
            "|---|---|---|---|",
            *rows,
            f"| whole request | {mean_total:.2f} | {statistics.median(totals):.2f} | 100% |",
            "",
            f"Whole request p50 {statistics.median(totals):.1f} ms, p95 {p95:.1f} ms. Database: the SQL",
            "statements at the driver and the commit; serialization: the engine state's load and save;",
            "engine: SpiffWorkflow's run and the snapshot; projection: `steps._finish` (effects, task",
            "rows, events); domain and ORM: the rest of the step transaction; request handling:",
            "Werkzeug, Flask, login, cookie, redirect.",
        ]
    )
    print(body)
    write_section("A task completion's time split (bench/time_split.py)", body)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
