"""Deadlines firing: how late after its due time a timer fires with the worker running, and
how many due timers one worker pass fires per second. Figures go to docs/PERFORMANCE.md.

    .venv/bin/python bench/timers.py [cases_for_lateness] [cases_for_throughput]
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from freezegun import freeze_time
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import setup  # noqa: E402
from bench.report import write_section  # noqa: E402
from tests.conftest import migrate  # noqa: E402
from tests.support import Browser, confirm, interview_form, report_payload, seed_users  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.cases import timers  # noqa: E402
from webapp.deadlines import worker  # noqa: E402
from webapp.models import Case, CaseEvent  # noqa: E402

STOPWATCH = {"now": time.perf_counter}  # a dict value: freezegun leaves it alone


def _app(tag: str):
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / f'{tag}.db'}"
    migrate(url)
    app = create_app({"DATABASE_URL": url, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "bench"})
    seed_users(app)
    return app


def _cases(app, count: int, created_at: dt.datetime, first: int) -> list[int]:
    """Cases waiting on a one-day rectification deadline, opened at ``created_at``."""
    ids = []
    with freeze_time(created_at, tick=True):
        bank, office = Browser(app, "bank_icbc"), Browser(app, "office")
        # the regulator's and the market regulator's tasks beside the path are done before the
        # deadline: the case then waits on the deadline alone
        side = lambda username: Browser(app, username)  # noqa: E731
        for n in range(first, first + count):
            case_id = bank.report(report_payload(n))
            confirm(side, case_id)
            office.complete(case_id, "interview", **interview_form(1))
            ids.append(case_id)
    return ids


def lateness(count: int) -> tuple[list[float], int]:
    app = _app("late")
    # opened a day ago, less a few seconds: the deadlines fall due over the next seconds
    opened = dt.datetime.now(dt.UTC) - dt.timedelta(days=1) + dt.timedelta(seconds=6)
    ids = _cases(app, count, opened, 1)
    stop = threading.Event()

    def loop() -> None:
        with app.app_context():
            while not stop.is_set():
                worker.run_once()
                stop.wait(1.0)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    deadline = time.time() + 60
    maker = app.extensions["db_sessionmaker"]
    while time.time() < deadline:
        with maker() as session:
            if session.scalar(select(Case.id).where(Case.id.in_(ids), Case.stage == "rectification")) is None:
                break
        time.sleep(0.2)
    stop.set()
    thread.join()
    with maker() as session:
        # a passed deadline leaves the case to the office's assessment
        stages = set(session.scalars(select(Case.stage).where(Case.id.in_(ids))))
        assert stages == {"assessment"}, stages
        fired = {
            e.case_id: e for e in session.scalars(select(CaseEvent).where(CaseEvent.kind == "timer_fired"))
        }
        lags = []
        for case_id in ids:
            event = fired[case_id]
            due = dt.datetime.fromisoformat(event.data["due_at"])
            lags.append((event.created_at - due).total_seconds())
    return lags, len(fired)


def throughput(count: int) -> tuple[float, int]:
    app = _app("many")
    _cases(app, count, dt.datetime.now(dt.UTC) - dt.timedelta(days=3), 1)
    with app.app_context():
        from webapp.db import get_session

        start = STOPWATCH["now"]()
        report = timers.fire_due(get_session())
        elapsed = STOPWATCH["now"]() - start
    with app.extensions["db_sessionmaker"]() as session:
        stages = set(session.scalars(select(Case.stage)))
    assert stages == {"assessment"}, stages
    return len(report.fired) / elapsed, len(report.fired)


def main(late_count: int, many_count: int) -> None:
    lags, fired = lateness(late_count)
    rate, many = throughput(many_count)
    machine = setup.machine()
    p95 = sorted(lags)[int(0.95 * (len(lags) - 1))]
    body = "\n".join(
        [
            f"SQLite, one worker (`flask worker`, a pass every second) beside the app; {machine}.",
            "",
            f"- Lateness: {late_count} rectification deadlines falling due within seconds of each other, "
            f"{fired} fired: median {statistics.median(lags):.2f} s, p95 {p95:.2f} s, "
            f"max {max(lags):.2f} s after the due time (goal: within 5 s).",
            f"- Throughput: one pass over {many} overdue deadlines (as after downtime) fired "
            f"{rate:.0f} cases/s, "
            "each in its own transaction (load, fire, project, save, events).",
        ]
    )
    print(body)
    write_section("Deadlines firing (bench/timers.py)", body)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50, int(sys.argv[2]) if len(sys.argv) > 2 else 300)
