"""Scenario 2: one step's cost against the number of steps the case has completed (issue 7).

    .venv/bin/python bench/step_cost.py [cases]      (or: python -m bench step_cost)

Two loops of the main diagram let a case pile up history:

- settlement rejected: the bank reports the loan settled, the office finds the certificate
  invalid (``verify_settlement``) and the case goes back to review; the measured step is
  that verification, with 1, 2, 10, 50 and 100 verifications done before it (the case has
  run one settlement report more than that too);
- referral: ``decide_referral`` (court) and the court's ``answer_referral`` (not filed: back
  to the office) repeat; the case gets there after review, the regulator's and the market
  regulator's tasks beside the path, interview, the deadline, the office's assessment and 7
  sanctions (12 tasks), so it is measured with 12, 50 and 100 completed tasks.

For each point: the engine's parts of the step on the stored state (load, complete, save
= snapshot and dump; median of 10 runs each, nothing written), the state's size, and the
whole step as a page request (Flask test client, SQLite: lock, validate, engine, projection,
events, commit) with its SQL statement count, p50 over the cases. Goal: a step at 50
completed steps costs at most 1.5x a step at 2.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freezegun import freeze_time
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import setup  # noqa: E402
from bench.report import write_section  # noqa: E402
from tests.support import (  # noqa: E402
    SANCTION_MEASURES,
    Browser,
    flatten_report,
    open_task_id,
    report_payload,
)
from webapp import catalog, engine  # noqa: E402
from webapp.cases.versions import definition_of  # noqa: E402
from webapp.models import Case, ProcessVersion  # noqa: E402

STOPWATCH = {"now": time.perf_counter}  # out of freezegun's reach (see whole_case.py)
SANCTIONS = SANCTION_MEASURES
REJECT = {"certificate_decision": "rejected", "verification_notes": "印章不符"}
DECIDE = {"referral_decision": "court", "referral_reason": "涉嫌拒不执行"}
# not filed: the office decides again (a filed case would go on to the court's judgment)
ANSWER = {
    "referral_answer": "not_filed",
    "answer_document_no": "(2026)1号",
    "answer_date": "2026-04-10",
    "answer_reasons": "证据不足",
}
ENGINE_RUNS = 10


@dataclass
class Point:
    steps: int
    load: list[float] = field(default_factory=list)
    complete: list[float] = field(default_factory=list)
    save: list[float] = field(default_factory=list)
    size: list[int] = field(default_factory=list)
    request: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)


class Bench:
    def __init__(self) -> None:
        self.app, _tmp = setup.fresh_app(WTF_CSRF_ENABLED=False)
        self.people = {u: Browser(self.app, u) for u in ["office", "regulator", *SANCTIONS]}
        self.lanes = catalog.load(self.app.config["PROCESSES_DIR"]).dynamic_lanes
        self.sql = 0

        @event.listens_for(self.app.extensions["db_engine"], "before_cursor_execute")
        def _count(*_args: Any) -> None:
            self.sql += 1

        self.reported = 0

    def report(self) -> int:
        self.reported += 1
        response = self.people["bank_icbc"].post(
            "/report", data=flatten_report(report_payload(self.reported))
        )
        assert response.status_code == 302, response.status_code
        return int(response.headers["Location"].rsplit("/", 1)[1])

    def complete(self, user: str, case_id: int, element: str, data: dict[str, Any]) -> None:
        task_id = open_task_id(self.app, case_id, element, unit=user)
        response = self.people[user].post(f"/tasks/{task_id}", data=data)
        assert response.status_code == 302, (element, response.status_code)

    def settle(self, case_id: int) -> None:
        response = self.people["bank_icbc"].post(
            f"/cases/{case_id}/settlement", data={"certificate_no": "JQ"}
        )
        assert response.status_code == 302, response.status_code

    def measure(self, point: Point, user: str, case_id: int, element: str, data: dict[str, Any]) -> None:
        """The engine's parts on the stored state (not written), then the step as a request."""
        task_id = open_task_id(self.app, case_id, element, unit=user)
        with self.app.extensions["db_sessionmaker"]() as session:
            case = session.get(Case, case_id)
            assert case is not None
            version = session.get(ProcessVersion, case.process_version_id)
            assert version is not None
            definition, state = definition_of(version), case.state
        load, complete, save = [], [], []
        for _ in range(ENGINE_RUNS):
            t0 = STOPWATCH["now"]()
            run = engine.CaseRun.load(definition, state)
            t1 = STOPWATCH["now"]()
            run.complete(task_id, data)
            t2 = STOPWATCH["now"]()
            run.snapshot(self.lanes)
            run.dump()
            t3 = STOPWATCH["now"]()
            load.append((t1 - t0) * 1000)
            complete.append((t2 - t1) * 1000)
            save.append((t3 - t2) * 1000)
        point.load.append(statistics.median(load))
        point.complete.append(statistics.median(complete))
        point.save.append(statistics.median(save))
        point.size.append(len(state.encode()))
        self.sql = 0
        start = STOPWATCH["now"]()
        response = self.people[user].post(f"/tasks/{task_id}", data=data)
        point.request.append((STOPWATCH["now"]() - start) * 1000)
        point.statements.append(self.sql)
        assert response.status_code == 302, (element, response.status_code)


def settlement_loop(bench: Bench, cases: int, marks: list[int]) -> list[Point]:
    ids = [bench.report() for _ in range(cases)]
    points, done = [], 0
    for mark in marks:
        for _ in range(done, mark):
            for case_id in ids:
                bench.settle(case_id)
                bench.complete("office", case_id, "verify_settlement", REJECT)
        point = Point(mark)
        for case_id in ids:
            bench.settle(case_id)
            bench.measure(point, "office", case_id, "verify_settlement", REJECT)
        points.append(point)
        done = mark + 1
    return points


def referral_loop(bench: Bench, cases: int, marks: list[int]) -> list[Point]:
    ids = []
    for _ in range(cases):
        case_id = bench.report()
        bench.complete(
            "office", case_id, "review", {"review_decision": "confirm", "classification": "evasion"}
        )
        # beside the path, done before the deadline
        bench.complete(
            "regulator", case_id, "notify_banks", {"notice_date": "2026-03-03", "notice_document_no": "N"}
        )
        bench.complete("market", case_id, "lookup_holdings", {"holdings_found": "none"})
        bench.complete(
            "office",
            case_id,
            "interview",
            {"interview_date": "2026-03-02", "attendees": "x", "rectification_days": "1"},
        )
        ids.append(case_id)
    with freeze_time(dt.datetime.now(dt.UTC) + dt.timedelta(days=2)):
        assert bench.app.test_cli_runner().invoke(args=["timers", "fire"]).exit_code == 0
    for case_id in ids:
        bench.complete("office", case_id, "assess_rectification", {"assessment": "full"})
        for unit, measure in SANCTIONS.items():
            bench.complete(unit, case_id, "apply_sanction", {"measures": measure})
    done = 5 + len(SANCTIONS)  # tasks completed so far; decide_referral is next
    assert marks[0] >= done, (marks, done)

    def step(n: int) -> tuple[str, str, dict[str, Any]]:
        # the loop alternates: even counts after the way in decide, odd ones answer
        return (
            ("office", "decide_referral", DECIDE)
            if (n - done) % 2 == 0
            else ("court", "answer_referral", ANSWER)
        )

    points, start = [], done
    for mark in marks:
        for n in range(start, mark):
            for case_id in ids:
                user, element, data = step(n)
                bench.complete(user, case_id, element, data)
        point = Point(mark)
        user, element, data = step(mark)
        for case_id in ids:
            bench.measure(point, user, case_id, element, data)
        points.append(point)
        start = mark + 1
    return points


def table(title: str, points: list[Point]) -> list[str]:
    med: Callable[[list[float]], float] = statistics.median
    rows = [
        f"| {p.steps} | {med(p.load):.2f} | {med(p.complete):.2f} | {med(p.save):.2f} | "
        f"{med(p.size) / 1024:.1f} | {med(p.request):.1f} | {max(p.request):.1f} | {med(p.statements):.0f} |"
        for p in points
    ]
    return [
        f"{title}:",
        "",
        "| completed steps | load ms | complete ms | save ms | state KB | whole step p50 ms | max ms | SQL |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def engine_total(point: Point) -> float:
    """Median over the cases of load + complete + save."""
    return statistics.median(
        [a + b + c for a, b, c in zip(point.load, point.complete, point.save, strict=True)]
    )


def main(cases: int) -> None:
    bench = Bench()
    settlement = settlement_loop(bench, cases, [1, 2, 10, 50, 100])
    referral = referral_loop(bench, cases, [12, 50, 100])
    by_steps = {p.steps: p for p in settlement}
    at2, at50 = statistics.median(by_steps[2].request), statistics.median(by_steps[50].request)
    engine_at2, engine_at50 = engine_total(by_steps[2]), engine_total(by_steps[50])
    ratio, engine_ratio = at50 / at2, engine_at50 / engine_at2
    machine = setup.machine()
    body = "\n".join(
        [
            f"{cases} cases per loop, SQLite, Flask test client, one process; {machine}. The engine",
            f"columns are medians of {ENGINE_RUNS} runs on the stored state; the whole step is the page",
            "request of the same step (lock, validate, engine, projection, events, commit), p50 over the",
            "cases.",
            "",
            *table(
                "Settlement rejected and reviewed again (the step: `verify_settlement`; the case also ran "
                "one settlement report per step)",
                settlement,
            ),
            *table("Referral loop (the step: `decide_referral` or `answer_referral`)", referral),
            f"Goal: a step at 50 completed steps at most 1.5x a step at 2. Whole step: "
            f"{at50:.1f} / {at2:.1f} ms = {ratio:.2f}x; engine (load + complete + save): "
            f"{engine_at50:.2f} / {engine_at2:.2f} ms = {engine_ratio:.2f}x: "
            f"{'met' if ratio <= 1.5 else 'NOT met'}.",
        ]
    )
    print(body)
    write_section("One step's cost against the case's history (bench/step_cost.py)", body)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
