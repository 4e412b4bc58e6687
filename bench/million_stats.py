# ruff: noqa: S608 - the index names dropped for the "before" runs come from this file's constant
"""The statistics pages with a million cases in PostgreSQL (goal: each ≤ 300 ms p95).

Uses the database of ``bench/million.py`` (generated there, with loans, repayments,
sanctions, the history's events and the supervisors' reminders), then times the query
functions of each page as its view calls them, each request with a fresh session:

- ``/stats/``: ``figures`` with the page's tables and unit lists (``webapp/stats/views.py``);
- ``/stats/cycle-times``: ``step_times`` and ``case_times``;
- ``/stats/assessment``: ``ranking``;
- the blacklist look-up (``webapp/lookups/answers.py`` ``look_up``, committed as the view
  does): one identifier, and a batch of 10,000 identifiers and names;
- a bulletin's contents (``webapp/bulletins/service.py`` ``compose``).

Scenarios: the office (all units), one unit, one bank; a month and a year. Writes p50/p95
to docs/PERFORMANCE.md and one ``EXPLAIN (ANALYZE, BUFFERS)`` of each statement of a page to
docs/PRODUCTION.md ("Statistics with a million cases").

    .venv/bin/python bench/million_stats.py [--runs 40] [--before REV]

``--before REV`` measures the same scenarios also with the statistics modules of commit
REV and without the indexes of migration 0021 (dropped inside a transaction that is rolled
back), the two interleaved run by run, and adds the ratio to the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib.util
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from freezegun import freeze_time
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import million, setup  # noqa: E402
from bench.report import write_section  # noqa: E402
from webapp.bulletins import service as bulletins  # noqa: E402
from webapp.deadlines.calendar import LOCAL  # noqa: E402
from webapp.lookups import answers  # noqa: E402
from webapp.models import Debtor, Unit, User  # noqa: E402
from webapp.stats import assessment, cycle_times, figures, rollups, tables, totals  # noqa: E402
from webapp.stats.cycle_times import Period  # noqa: E402
from webapp.templating import STAGES, unit_name  # noqa: E402

GOAL_MS = 300
MILLION_PLANS = "## Query plans with a million cases"
# the plans written: statements that took this long at least, lines cut at this length
PLAN_MIN_MS = 10
LINE_MAX = 300
QUESTIONS: dict[tuple[int, int], list[Any]] = {}
# the indexes this round added (migration 0027), dropped (in a rolled-back transaction) for the
# "before" runs unless --keep-indexes
NEW_INDEXES = ("ix_cases_debtor_name",)
MODULES = {
    "figures": "webapp/stats/figures.py",
    "cycle_times": "webapp/stats/cycle_times.py",
    "assessment": "webapp/stats/assessment.py",
    "answers": "webapp/lookups/answers.py",
    "bulletins": "webapp/bulletins/service.py",
}


class Code:
    """The statistics modules a run calls: the working tree's, or those of a commit (with that
    commit's daily rollups module, its tables mapped by the working tree's)."""

    def __init__(self, rev: str | None) -> None:
        self.rev = rev
        self.figures, self.cycle_times, self.assessment = figures, cycle_times, assessment
        self.answers, self.bulletins, self.rollups = answers, bulletins, rollups
        if rev is None:
            return
        self.rollups = _module_at(rev, "rollups", "webapp/stats/rollups.py", ROLLUP_MODELS)
        package = sys.modules["webapp.stats"]
        sys.modules["webapp.stats.rollups"] = package.rollups = self.rollups  # type: ignore[attr-defined]
        try:
            loaded = {name: _module_at(rev, name, path) for name, path in MODULES.items()}
        finally:
            sys.modules["webapp.stats.rollups"] = package.rollups = rollups  # type: ignore[attr-defined]
        self.figures, self.cycle_times = loaded["figures"], loaded["cycle_times"]
        self.assessment, self.answers = loaded["assessment"], loaded["answers"]
        self.bulletins = loaded["bulletins"]
        # the old bulletin composes the old figures
        self.bulletins.figures = self.figures.figures


# the mapped classes of the rollups module, which a commit's copy imports instead of mapping
# its tables a second time
ROLLUP_MODELS = ("StatsDay", "RollupState")


def _without_classes(source: str, names: tuple[str, ...]) -> str:
    """The source with the classes ``names`` imported from the working tree's module."""
    lines, out, skipping = source.splitlines(), [], False
    for line in lines:
        if any(line.startswith(f"class {n}(") for n in names):
            skipping = True
            out.append(f"from webapp.stats.rollups import {line[6:].split('(')[0]}")
            continue
        if skipping and line and not line[0].isspace():
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out)


def _module_at(rev: str, name: str, path: str, models: tuple[str, ...] = ()) -> ModuleType:
    source = subprocess.run(  # noqa: S603 - git of this checkout, a revision given by the bench's user
        ["git", "show", f"{rev}:{path}"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if models:
        source = _without_classes(source, models)
    spec = importlib.util.spec_from_loader(f"before_{name}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    module.__file__ = str(ROOT / path)  # data files are found beside the module
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)  # noqa: S102 - our own file at a commit
    return module


# the settings of docs/PRODUCTION.md (postgresql.conf) that a session can take: the default JIT
# compiles a statement whose cost estimate passes 100,000 for 0.5 to 1.5 s on this machine
SESSION_SETTINGS = {"jit": "off", "work_mem": "16MB"}


def production_settings(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        for name, value in SESSION_SETTINGS.items():
            cursor.execute(f"SET {name} = '{value}'")
    dbapi_connection.commit()


# --- what each page does -------------------------------------------------------------------


def stats_page(
    code: Code, session: Any, start: dt.date, end: dt.date, unit: str | None, bank: str | None
) -> Any:
    """/stats/: the figures, their tables, and for the office the unit and bank lists."""
    found = code.figures.figures(session, start, end, unit, bank)
    built = tables.build(found, unit_name, lambda s: str(STAGES.get(s, s)))
    if unit is None and bank is None:
        session.execute(select(Unit.code, Unit.kind).order_by(Unit.kind, Unit.code)).all()
    return built


def cycle_page(code: Code, session: Any, period: Period) -> Any:
    steps = code.cycle_times.step_times(session, period)
    # by element: steps whose medians differ by less than the buckets' precision may swap places
    return {s.element_id: s for s in steps}, code.cycle_times.case_times(session, period)


def assessment_page(code: Code, session: Any, period: Period) -> Any:
    return code.assessment.ranking(session, period)


def look_up(code: Code, session: Any, user_id: int, asked: list[dict[str, str]]) -> Any:
    user = session.get(User, user_id)  # as flask-login loads it for the request
    # the questions as ``parse`` makes them (the module's own class), made once per module
    key = (id(code), id(asked))
    if key not in QUESTIONS:
        QUESTIONS[key] = [code.answers.Query(**q) for q in asked]
    questions = QUESTIONS[key]
    batch = len(questions) > 1
    found = code.answers.look_up(session, user, questions, source="file" if batch else "page", batch=batch)
    # the view commits here; a flush writes the same rows, and the "before" runs' dropped indexes
    # must stay uncommitted
    session.flush()
    return found


def bulletin(code: Code, session: Any, first: dt.date, last: dt.date) -> Any:
    at = bulletins.local_start(last + dt.timedelta(days=1))
    return code.bulletins.compose(session, first, last, at)


# --- timing --------------------------------------------------------------------------------


class Statements:
    """Every SELECT a call sent, to EXPLAIN each with its parameters."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[tuple[str, Any]] | None = None
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if self.seen is not None and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.seen.append((statement, parameters))


def _run(app: Any, call: Callable[[Code, Any], Any], code: Code, drop: tuple[str, ...]) -> float:
    maker = app.extensions["db_sessionmaker"]
    with app.test_request_context(), maker() as session:
        if drop:
            # "before": the new indexes gone for this transaction only
            for name in drop:
                session.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
        start = time.perf_counter()
        call(code, session)
        elapsed = (time.perf_counter() - start) * 1000
        session.rollback()
    return elapsed


def _plain(value: Any) -> Any:
    """A result as plain values, to compare the figures of two modules' classes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def deviation(a: Any, b: Any) -> float | None:
    """0.0 when two results are equal, the largest relative difference of their decimals when
    only those differ (the cycle times' percentiles from duration buckets), None otherwise."""
    if isinstance(a, float) and isinstance(b, float):
        return 0.0 if a == b else abs(a - b) / max(abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return None
        parts = [deviation(a[k], b[k]) for k in a]
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return None
        parts = [deviation(x, y) for x, y in zip(a, b, strict=True)]
    else:
        return 0.0 if a == b else None
    return None if None in parts else max(parts, default=0.0)


def same_figures(
    app: Any, call: Callable[[Code, Any], Any], before: Code, after: Code, drop: tuple[str, ...]
) -> tuple[float | None, set[str]]:
    """How far the two codes' figures are apart (``deviation``, and where they differ; the after code with its
    totals), both at the same moment (the open cases' ages and the overdue tasks are counted
    against now)."""
    maker = app.extensions["db_sessionmaker"]
    found = []
    at = dt.datetime.now(dt.UTC)
    for code, dropped in ((before, drop), (after, ())):
        with app.test_request_context(), maker() as session, freeze_time(at):
            for name in dropped:
                session.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
            found.append(_plain(call(code, session)))
            session.rollback()
    value = deviation(found[0], found[1])
    return value, (differing(found[0], found[1]) if value is None else set())


def differing(a: Any, b: Any, path: str = "") -> set[str]:
    """Where two results differ, list positions left out (``weeks.rows[].3``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = {f"{path}.{k}" for k in a.keys() ^ b.keys()}
        for k in a.keys() & b.keys():
            found |= differing(a[k], b[k], f"{path}.{k}")
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        found = set()
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found |= {p.replace(f"{path}[{i}]", f"{path}[]") for p in differing(x, y, f"{path}[{i}]")}
        return found
    return set() if a == b else {path}


def _same_text(value: float | None, where: set[str] | None = None) -> str:
    if value is None:
        return "**no**" + (f" ({', '.join(sorted(where))})" if where else "")
    return "yes" if value == 0 else f"within {value:.2%}"


def explain(
    app: Any, statements: Statements, call: Callable[[Code, Any], Any], code: Code
) -> list[tuple[str, str]]:
    maker = app.extensions["db_sessionmaker"]
    statements.seen = []
    with app.test_request_context(), maker() as session:
        call(code, session)
        session.rollback()
    seen, statements.seen = statements.seen, None
    plans = []
    with app.extensions["db_engine"].connect() as conn:
        for statement, parameters in seen:
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
            plans.append((statement, "\n".join(r[0] for r in rows)))
        conn.rollback()
    return plans


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def scenarios(app: Any) -> list[tuple[str, str, Callable[[Code, Any], Any]]]:
    maker = app.extensions["db_sessionmaker"]
    with maker() as session:
        users = dict(session.execute(select(User.username, User.id)).all())
        # a listed debtor's identifier, and a batch: listed, delisted, never listed, unknown, names
        identifiers = list(
            session.scalars(
                select(Debtor.identifier).where(Debtor.id % 100 == 3).order_by(Debtor.id).limit(9_000)
            )
        )
        names = list(session.scalars(select(Debtor.name).where(Debtor.id % 997 == 5).limit(500)))
        session.rollback()
    # the generated identifiers have no valid check digit: the questions are made as ``parse``
    # makes them once the identifier is checked
    batch = [{"identifier": i} for i in identifiers]
    batch += [{"identifier": f"B{n:017d}"} for n in range(2_000_000, 2_000_500)]
    batch += [{"name": n} for n in names]
    batch = batch[:10_000]
    one = [{"identifier": identifiers[0]}]
    today = dt.datetime.now(LOCAL).date()
    month = tables.this_period("month", today)
    if (month[1] - month[0]).days < 20:  # early in a month: the whole last month
        last = month[0] - dt.timedelta(days=1)
        month = (last.replace(day=1), last)
    year = (today - dt.timedelta(days=364), today)

    def period(days: tuple[dt.date, dt.date]) -> Period:
        return Period(bulletins.local_start(days[0]), bulletins.local_start(days[1] + dt.timedelta(days=1)))

    unit, bank = "court", "bank_icbc"
    result: list[tuple[str, str, Callable[[Code, Any], Any]]] = []
    for label, days in (("month", month), ("year", year)):
        result += [
            ("/stats/", f"all units, {label}", lambda c, s, d=days: stats_page(c, s, *d, None, None)),
            ("/stats/", f"one unit ({unit}), {label}", lambda c, s, d=days: stats_page(c, s, *d, unit, None)),
            ("/stats/", f"one bank ({bank}), {label}", lambda c, s, d=days: stats_page(c, s, *d, None, bank)),
        ]
    for label, days in (
        ("month", month),
        ("90 days (default)", (today - dt.timedelta(days=89), today)),
        ("year", year),
    ):
        span = period(days)
        result.append(("/stats/cycle-times", label, lambda c, s, p=span: cycle_page(c, s, p)))
    for label, days in (("month", month), ("year", year)):
        span = period(days)
        result.append(("/stats/assessment", label, lambda c, s, p=span: assessment_page(c, s, p)))
    result += [
        ("look-up", "one identifier (a bank)", lambda c, s: look_up(c, s, users[bank], one)),
        ("look-up", "batch of 10,000 rows (a bank)", lambda c, s: look_up(c, s, users[bank], batch)),
        ("bulletin", "monthly, compose", lambda c, s, d=month: bulletin(c, s, *d)),
        (
            "bulletin",
            "quarterly, compose",
            lambda c, s: bulletin(c, s, *bulletins.period_of(bulletins.QUARTERLY, month[0])),
        ),
    ]
    return result


def measure(
    app: Any, runs: int, before: str | None, only: str | None, drop: tuple[str, ...] = NEW_INDEXES
) -> tuple[list[dict[str, Any]], list[Any]]:
    after_code = Code(None)
    before_code = Code(before) if before else None
    statements = Statements(app.extensions["db_engine"])
    results, plans = [], []
    for page, label, call in scenarios(app):
        if only and only not in f"{page} {label}":
            continue
        heavy = "10,000" in label
        n = max(5, runs // 4) if heavy else runs
        for _ in range(1):  # warm the cache and the statement compilation
            _run(app, call, after_code, ())
            if before_code:
                _run(app, call, before_code, drop)
        after, old = [], []
        for _ in range(n):
            if before_code:
                old.append(_run(app, call, before_code, drop))
            after.append(_run(app, call, after_code, ()))
        row = {"page": page, "label": label, "after": after, "before": old, "same": None}
        if before_code and page != "look-up":  # a look-up's answer holds its new event's id
            row["same"] = same_figures(app, call, before_code, after_code, drop)
        line = f"  {page} {label}: p50 {statistics.median(after):.0f} ms, p95 {p95(after):.0f} ms"
        if old:
            line += f"  (before: p50 {statistics.median(old):.0f}, p95 {p95(old):.0f})"
        if before_code and page != "look-up":
            line += f"  same figures: {_same_text(*row['same'])}"
        print(line, flush=True)
        results.append(row)
        plans.append((page, label, explain(app, statements, call, after_code)))
    return results, plans


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--before", help="a commit: its statistics modules, without this round's indexes")
    parser.add_argument(
        "--keep-indexes",
        action="store_true",
        help="the --before runs keep the indexes of migration 0021 (a commit that had them)",
    )
    parser.add_argument(
        "--refold", action="store_true", help="fold the daily rollups again with the --before commit's module"
    )
    parser.add_argument("--only", help="scenarios whose page and label hold this text")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--plans-only", action="store_true", help="write the plans to PRODUCTION.md only")
    args = parser.parse_args()
    app = million.prepare(args.cases, False)
    event.listen(app.extensions["db_engine"], "connect", production_settings)
    # the worker folds each closed day into the daily rollups (webapp/stats/rollups.py) and each
    # changed case into the totals (webapp/stats/totals.py): as a running app has them. A commit
    # compared with folds its own figures into the rollups (the working tree's are among them).
    with app.app_context(), app.extensions["db_sessionmaker"]() as session:
        start = time.perf_counter()
        fold = rollups
        if args.before:
            fold = Code(args.before).rollups
            if args.refold:
                rollups.drop(session)
        days = fold.fold_due(session, max_days=None)
        through, _at = rollups.state(session)
        print(f"rollups: {days} days folded in {time.perf_counter() - start:.1f} s, through {through}")
        start = time.perf_counter()
        cases = 0
        while folded := totals.fold_due(session):
            cases += folded
        print(f"totals: {cases} cases folded in {time.perf_counter() - start:.1f} s")
    drop = () if args.keep_indexes else NEW_INDEXES
    if args.plans_only:
        statements = Statements(app.extensions["db_engine"])
        _write_plans(
            [
                (page, label, explain(app, statements, call, Code(None)))
                for page, label, call in scenarios(app)
                if not args.only or args.only in f"{page} {label}"
            ]
        )
        return
    results, plans = measure(app, args.runs, args.before, args.only, drop)
    if not args.no_write:
        write(app, args.runs, args.before, results, plans, drop)


def _sizes(app: Any) -> str:
    names = ("cases", "tasks", "case_events", "loans", "repayments", "sanctions", "notifications")
    with app.extensions["db_engine"].connect() as conn:
        counts = {
            n: conn.scalar(text(f"SELECT reltuples::bigint FROM pg_class WHERE relname = '{n}'"))
            for n in names
        }
    return ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items())


def write(
    app: Any,
    runs: int,
    before: str | None,
    results: list[dict[str, Any]],
    plans: list[Any],
    drop: tuple[str, ...] = NEW_INDEXES,
) -> None:
    machine = (
        f"{setup.machine()}, PostgreSQL 15 (default settings: shared_buffers 128 MB; each session with "
        "jit = off and work_mem = 16MB, as docs/PRODUCTION.md sets them)"
    )
    head = "| page | scenario | p50 ms | p95 ms | runs |"
    rule = "|---|---|---|---|---|"
    if before:
        head += f" before ({before}) p50 | before p95 | p95 before/after | same figures |"
        rule += "---|---|---|---|"
    rows = []
    for r in results:
        a = r["after"]
        line = f"| {r['page']} | {r['label']} | {statistics.median(a):.0f} | {p95(a):.0f} | {len(a)} |"
        if before:
            b = r["before"]
            same = _same_text(*r["same"]) if r["page"] != "look-up" else "–"
            line += f" {statistics.median(b):.0f} | {p95(b):.0f} | {p95(b) / p95(a):.1f}× | {same} |"
        rows.append(line)
    # a batch look-up is a file the worker answers with its progress shown, not a page
    pages = [r for r in results if "10,000" not in r["label"]]
    worst = max(p95(r["after"]) for r in pages) if pages else 0.0
    body = "\n".join(
        [
            f"The database of `bench/million.py` (about {_sizes(app)}, estimated by PostgreSQL): "
            "events, loans, repayments, sanctions and reminders spread over three years.",
            "",
            "Each figure is a page's query functions called as its view calls them, with a fresh session: "
            "`/stats/` is `figures` with the page's tables (and the unit list for the office), "
            "`/stats/cycle-times` `step_times` and `case_times`, `/stats/assessment` `ranking`, the look-up "
            "`look_up` and its commit, the bulletin `compose` (figures, lagging units, stalled cases). "
            f"{machine}."
            + (
                f" Before/after: the statistics modules of commit {before}"
                + (
                    " without the indexes of this round (" + ", ".join(drop) + ", dropped in a transaction "
                    "rolled back after the run)"
                    if drop
                    else " (same indexes; it reads no rollups)"
                )
                + ", against the working tree (the daily rollups folded through yesterday), the two "
                "interleaved run by run."
                if before
                else ""
            ),
            "",
            head,
            rule,
            *rows,
            "",
            f"Goal: each page ≤ {GOAL_MS} ms p95; slowest page's p95 here {worst:.0f} ms (the "
            "10,000-row look-up is a file, not a page). Plans: "
            "[PRODUCTION.md](PRODUCTION.md#statistics-with-a-million-cases).",
        ]
    )
    print(body)
    write_section("Statistics with a million cases (bench/million_stats.py)", body)
    _write_plans(plans)


def _short(text_: str) -> str:
    """Lines cut at ``LINE_MAX`` characters (a look-up's IN list of 500 identifiers)."""
    return "\n".join(line if len(line) <= LINE_MAX else line[:LINE_MAX] + " …" for line in text_.splitlines())


def _write_plans(plans: list[Any]) -> None:
    doc = ROOT / "docs" / "PRODUCTION.md"
    marker = "## Statistics with a million cases"
    text_ = doc.read_text(encoding="utf-8")
    if marker not in text_:
        # before bench/million.py's plans, which that script rewrites to the end of the file
        text_ = text_.replace(MILLION_PLANS, f"{marker}\n\n{MILLION_PLANS}", 1)
    before_part, _sep, rest = text_.partition(marker)
    # the section runs to the next second-level heading
    tail = ""
    if rest:
        following = rest.find("\n## ")
        tail = rest[following:] if following >= 0 else ""
    parts = [
        before_part.rstrip(),
        "",
        marker,
        "",
        f"Written by `bench/million_stats.py` ({dt.date.today().isoformat()}): every statement of one "
        "request of each scenario of the table in PERFORMANCE.md, with its parameters as the app sent them. "
        "The look-up batch's statements repeat per 500 questions: the first of each kind is shown; "
        f"statements under {PLAN_MIN_MS} ms are counted, not shown, and lines are cut at {LINE_MAX} "
        "characters.",
    ]
    on_stats_page: set[str] = set()
    for page, label, statements in plans:
        parts += ["", f"### {page}: {label}"]
        shown: set[str] = set()
        if page == "bulletin":  # the figures' statements are those of /stats/, all units
            shown |= on_stats_page
            parts += ["", "The figures' statements are those of `/stats/`, all units, above."]
        elif page == "/stats/":
            on_stats_page.update(statement for statement, _plan in statements)
        quick = 0
        for statement, plan in statements:
            if statement in shown:
                continue
            shown.add(statement)
            took = re.search(r"Execution Time: ([0-9.]+) ms", plan)
            if took and float(took.group(1)) < PLAN_MIN_MS:
                quick += 1
                continue
            parts += ["", "```sql", _short(statement.strip()), "```", "", "```", _short(plan), "```"]
        if quick:
            parts += ["", f"{quick} more statements ran under {PLAN_MIN_MS} ms each (plans not shown)."]
    doc.write_text("\n".join(parts) + tail + ("\n" if not tail.endswith("\n") else ""), encoding="utf-8")


if __name__ == "__main__":
    main()
