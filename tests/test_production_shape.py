"""Whole cases run the way production runs them: each step in another process.

Production has two gunicorn workers and a timer worker (``flask worker``), and a case's
steps land wherever they land: nothing of a step may depend on what an earlier step left in
a process's memory. The rest of the suite runs every step in the pytest process, so these
tests drive cases from outside it:

- ``test_main_path``, ``test_plan_path``, ``test_closing_path`` and ``test_officials_path``:
  every step in a fresh Python process,
  through the JSON API (``create_app()`` and Flask's test client in that process) or the CLI;
  deadlines are fired by ``flask worker --once`` in a process whose clock is moved past them;
- ``test_whole_case_over_http``: gunicorn (2 workers, 2 threads) and the timer worker (its
  clock two days ahead, so a one-day deadline is due at once), a case driven over real HTTP;
  ``test_plan_and_closing_over_http`` the same for a repayment plan and a closing.

After every step the case must move on: an open task, a pending timer, or closed.
SQLite and PostgreSQL (``LIANDONG_TEST_PG_URL``; databases named ``LIANDONG_TEST_PG_PRODSHAPE_DB``
with a suffix, by default the suite's ``LIANDONG_TEST_PG_DB`` + ``_prodshape``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from tests.conftest import PG_DB
from tests.processes_support import (
    CaseState,
    Deployment,
    Driver,
    HttpDriver,
    Server,
    SubprocessDriver,
    case_state,
    explained,
    free_port,
    start,
    wait_until_ready,
)
from tests.support import SANCTION_MEASURES, credit_code, report_payload

PG_ADMIN_URL = os.environ.get("LIANDONG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# named after the suite's own test database (LIANDONG_TEST_PG_DB): runs that share the server
# under different names do not drop each other's databases here either
PG_PREFIX = os.environ.get("LIANDONG_TEST_PG_PRODSHAPE_DB") or (PG_DB + "_prodshape")
# each cooperating unit's first restriction on a judgment defaulter (webapp/data/restrictions.toml)
DEFAULTER_MEASURES = {
    entry["unit"]: entry["measures"][0]["code"]
    for entry in tomllib.loads(
        (Path(__file__).resolve().parent.parent / "webapp" / "data" / "restrictions.toml").read_text(
            encoding="utf-8"
        )
    )["sanction"]
}
# the sanctioning units of an enterprise reported by one bank (bank_icbc)
SANCTIONERS = ["bank_icbc", "court", "finance", "land_housing", "market", "ndrc", "publicity"]
_copies = itertools.count(1)


# ---------------------------------------------------------------------------------------------
# databases: one migrated and seeded per backend and module, a copy of it per test
# ---------------------------------------------------------------------------------------------
def _pg_admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _pg_create(name: str, template: str | None = None) -> str:
    """The URL of a fresh database ``name`` (a copy of ``template``)."""
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else "")))
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _pg_drop(name: str) -> None:
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        admin.dispose()


@dataclass
class Template:
    backend: str
    deployment: Deployment


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """A database migrated by ``alembic upgrade head`` with users and tokens (in subprocesses)."""
    tmp = tmp_path_factory.mktemp(f"prodshape-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'template.db'}"
    else:
        try:
            url = _pg_create(f"{PG_PREFIX}_template")
        except OperationalError:
            message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: production-shape tests on it SKIPPED"
            if os.environ.get("CI") == "true":  # CI has PostgreSQL: its absence is a failure there
                pytest.fail(message.replace("SKIPPED", "cannot run"))
            pytest.skip(message)
    deployment = Deployment(url, tmp)
    deployment.migrate()
    deployment.seed()
    yield Template(request.param, deployment)
    if request.param == "postgresql":
        _pg_drop(f"{PG_PREFIX}_template")


@pytest.fixture
def deployment(template: Template, tmp_path: Path) -> Iterator[Deployment]:
    """This test's own copy of the seeded database."""
    if template.backend == "sqlite":
        source = Path(make_url(template.deployment.url).database or "")
        target = tmp_path / "case.db"
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
        yield Deployment(f"sqlite:///{target}", tmp_path, dict(template.deployment.tokens))
        return
    name = f"{PG_PREFIX}_{next(_copies)}"
    url = _pg_create(name, template=f"{PG_PREFIX}_template")
    yield Deployment(url, tmp_path, dict(template.deployment.tokens))
    _pg_drop(name)


# ---------------------------------------------------------------------------------------------
# a case driven step by step; the case must move on after every step
# ---------------------------------------------------------------------------------------------
class CaseDriver:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.deployment = driver.deployment
        self.case_id = 0
        self.timings: list[tuple[str, float]] = []

    def _act(self, label: str, user: str, action: dict[str, Any], expect: int = 200) -> dict[str, Any]:
        started = time.monotonic()
        answer = self.driver.act({"token": self.deployment.tokens[user], **action})
        self.timings.append((label, time.monotonic() - started))
        assert answer["status"] == expect, (
            f"{label} as {user}: HTTP {answer['status']}, expected {expect}: {answer['body']}\n"
            f"{answer.get('stderr', '')[-4000:]}"
        )
        return answer

    def state(self, after: str) -> CaseState:
        """The case after a step: it has a next step or is closed, and no incident."""
        state = case_state(self.deployment.url, self.case_id)
        if not state.moves_on():
            check = self.deployment.run("-m", "flask", "--app", "webapp", "cases", "check")
            raise AssertionError(
                f"case stalled after {after}: {state.describe()}\n"
                f"`flask cases check` exited {check.returncode}: "
                f"{check.stdout.strip()} {check.stderr[-2000:]}"
            )
        assert state.incident is None, f"incident after {after}: {state.describe()}"
        return state

    def report(self, user: str, payload: dict[str, Any]) -> CaseState:
        answer = self._act("report", user, {"action": "report", "payload": payload}, expect=201)
        self.case_id = answer["body"]["case"]["id"]
        return self.state(f"the report by {user}")

    def complete(self, user: str, element: str, label: str = "", **data: Any) -> CaseState:
        label = label or f"{element} by {user}"
        action = {"action": "complete", "case_id": self.case_id, "element": element, "data": data}
        answer = self._act(label, user, action)
        assert answer["body"]["case"]["id"] == self.case_id
        return self.state(label)

    def list_defaulter(self, payload: dict[str, Any]) -> CaseState:
        answer = self._act("listing", "court", {"action": "list_defaulter", "payload": payload}, expect=201)
        self.case_id = answer["body"]["case"]["id"]
        return self.state("the court's listing")

    def settle(self, user: str, certificate_no: str) -> CaseState:
        body = {"certificate_no": certificate_no}
        answer = self._act("settlement", user, {"action": "settle", "case_id": self.case_id, "body": body})
        assert answer["body"]["all_settled"] is True, answer["body"]
        return self.state(f"the settlement reported by {user}")

    def close(self, user: str, label: str, **body: Any) -> CaseState:
        answer = self._act(label, user, {"action": "close", "case_id": self.case_id, "body": body})
        assert answer["body"]["case"]["id"] == self.case_id
        return self.state(label)

    def pass_deadline(self, label: str) -> CaseState:
        due = case_state(self.deployment.url, self.case_id).next_timer_at
        assert due is not None, f"no pending timer before {label}"
        started = time.monotonic()
        self.driver.pass_deadline(self.case_id, due)
        self.timings.append((label, time.monotonic() - started))
        return self.state(label)

    def shown(self, user: str) -> dict[str, Any]:
        body: dict[str, Any] = self._act("show", user, {"action": "show", "case_id": self.case_id})["body"]
        return body

    def checked(self) -> None:
        """The app's own checks agree: no stalled case nor incident, the history chain intact."""
        out = self.deployment.flask("cases", "check")
        assert out.strip() == "0 stalled, 0 incidents", out
        out = self.deployment.flask("audit", "verify", "--case", str(self.case_id))
        assert out.strip().endswith(": 0 altered"), out

    def report_timings(self) -> None:
        total = sum(s for _, s in self.timings)
        print(f"{len(self.timings)} steps in {total:.1f} s")
        for label, seconds in self.timings:
            print(f"  {seconds:5.2f} s  {label}")


# the regulator's and the market regulator's tasks that open beside the path on a confirmation
NOTICE_TASKS = [("lookup_holdings", "market"), ("notify_banks", "regulator")]


def notices(case: CaseDriver) -> CaseState:
    """The regulator passes the listing to the banks, the market regulator looks up holdings."""
    case.complete(
        "regulator", "notify_banks", notice_date="2026-03-03", notice_document_no="金监通〔2026〕1号"
    )
    return case.complete("market", "lookup_holdings", holdings_found="none")


def main_path(case: CaseDriver, n: int, days: int = 1) -> None:
    """Report, review (and the notices beside the path), interview, deadline, the office's
    assessment (sanction in full), joint sanction, referral to the police and its
    answer, settlement, verification, every sanction lifted: closed and delisted."""
    state = case.report("bank_icbc", report_payload(n))
    assert state.open_tasks == [("review", "office")]

    state = case.complete("office", "review", review_decision="confirm", classification="evasion")
    assert (
        state.open_tasks
        == [
            ("interview", "office"),
            *NOTICE_TASKS,
        ]
        and state.blacklisted
    )
    state = notices(case)
    assert state.open_tasks == [("interview", "office")]

    state = case.complete(
        "office",
        "interview",
        interview_date="2026-03-02",
        attendees="办公室、债权银行",
        commitments="按期还款",
        rectification_days=days,
    )
    assert state.open_tasks == [] and state.stage == "rectification"
    due = state.next_timer_at
    assert due is not None and due > dt.datetime.now(dt.UTC) + dt.timedelta(days=days, minutes=-5)

    if isinstance(case.driver, SubprocessDriver):
        # an hour before the deadline the worker fires nothing (and the moved clock is the one used)
        out = case.deployment.flask("worker", "--once", at=(due - dt.timedelta(hours=1)).isoformat())
        assert out.startswith("fired 0, failed 0"), out
        assert case.state("a worker pass before the deadline").next_timer_at == due

    state = case.pass_deadline("the rectification deadline, fired by the worker")
    assert state.stage == "assessment" and state.next_timer_at is None
    assert state.open_tasks == [("assess_rectification", "office")]

    state = case.complete("office", "assess_rectification", assessment="full")
    assert state.stage == "sanction" and state.next_timer_at is None
    assert state.open_tasks == sorted(("apply_sanction", unit) for unit in SANCTIONERS)

    for i, unit in enumerate(SANCTIONERS, start=1):
        label = f"apply_sanction by {unit} ({i} of {len(SANCTIONERS)})"
        state = case.complete(
            unit, "apply_sanction", label, measures=[SANCTION_MEASURES[unit]], document_no=f"{unit}-{n}"
        )
        left = sorted(("apply_sanction", u) for u in SANCTIONERS[i:])
        assert state.open_tasks == (left or [("decide_referral", "office")]), f"after {label}: {state}"

    state = case.complete(
        "office", "decide_referral", referral_decision="police", referral_reason="涉嫌骗取贷款"
    )
    assert state.open_tasks == [("answer_referral", "police")]
    state = case.complete(
        "police",
        "answer_referral",
        referral_answer="not_filed",
        answer_document_no=f"公(2026){n}号",
        answer_date="2026-04-10",
        answer_reasons="证据不足",
    )
    assert state.open_tasks == [("decide_referral", "office")]

    state = case.settle("bank_icbc", f"JQ-2026-{n}")
    assert state.open_tasks == [("verify_settlement", "office")] and state.stage == "delisting"

    state = case.complete("office", "verify_settlement", certificate_decision="verified")
    assert not state.blacklisted
    assert state.open_tasks == sorted(("lift_sanction", unit) for unit in SANCTIONERS)

    for i, unit in enumerate(SANCTIONERS, start=1):
        state = case.complete(
            unit, "lift_sanction", f"lift_sanction by {unit} ({i} of {len(SANCTIONERS)})", lift_confirmed=True
        )
    assert (state.status, state.outcome, state.blacklisted) == ("closed", "delisted", False)
    assert state.open_tasks == [] and state.next_timer_at is None

    shown = case.shown("office")
    assert (shown["status"], shown["outcome"], shown["blacklisted"]) == ("closed", "delisted", False)
    assert sorted(s["unit"] for s in shown["sanctions"]) == sorted(SANCTIONERS)
    assert all(s["lifted_at"] for s in shown["sanctions"]), shown["sanctions"]
    assert all(loan["settled_at"] for loan in shown["loans"])


def to_assessment(case: CaseDriver, n: int, classification: str = "evasion") -> CaseState:
    """Report, confirmation, the notices beside the path, interview, a one-day deadline passed."""
    case.report("bank_icbc", report_payload(n))
    case.complete("office", "review", review_decision="confirm", classification=classification)
    notices(case)
    case.complete(
        "office",
        "interview",
        interview_date="2026-03-02",
        attendees="办公室、债权银行",
        commitments="按期还款",
        rectification_days=1,
    )
    state = case.pass_deadline("the rectification deadline, fired by the worker")
    assert state.open_tasks == [("assess_rectification", "office")]
    return state


def lighter_sanction(case: CaseDriver, n: int) -> CaseState:
    """The office sanctions lightly: the creditor bank and publicity, one chosen measure each."""
    case.complete(
        "office",
        "assess_rectification",
        assessment="partial",
        partial_units=["creditor_bank", "publicity"],
        partial_measures=["no_new_credit", "notify_employer"],
    )
    case.complete("bank_icbc", "apply_sanction", measures=["no_new_credit"], document_no=f"bank-{n}")
    state = case.complete("publicity", "apply_sanction", measures=["notify_employer"], document_no=f"pub-{n}")
    assert state.open_tasks == [("decide_referral", "office")]
    return state


PLAN = [{"due_on": "2027-01-10", "amount": 100000}, {"due_on": "2027-02-10", "amount": 200000}]


def plan_path(case: CaseDriver, n: int) -> None:
    """Sanctioned lightly, a forged certificate reopens the case; the office sends it to
    negotiation; a repayment plan with a missed instalment the office finds no breach; the last
    instalment settles; verification asks both sanctioning units to lift: closed, delisted."""
    to_assessment(case, n)
    lighter_sanction(case, n)
    state = case.settle("bank_icbc", f"FAKE-{n}")
    assert state.open_tasks == [("verify_settlement", "office")]
    state = case.complete(
        "office", "verify_settlement", certificate_decision="rejected", verification_notes="伪造"
    )
    assert state.open_tasks == [("review", "office")] and state.blacklisted
    case.complete("office", "review", review_decision="confirm", classification="negotiation")
    notices(case)
    state = case.complete("bank_icbc", "negotiation", negotiation_outcome="agreement", instalments=PLAN)
    assert state.open_tasks == [("confirm_instalment", "bank_icbc")] and state.stage == "repayment_plan"
    case.complete("bank_icbc", "confirm_instalment", instalment_status="missed", instalment_notes="未到账")
    state = case.complete(
        "office", "confirm_missed", breach_confirmed="not_breach", breach_reason="银行系统延迟入账"
    )
    assert state.open_tasks == [("confirm_instalment", "bank_icbc")]
    case.complete(
        "bank_icbc", "confirm_instalment", instalment_status="paid", paid_amount=100000, paid_on="2026-03-02"
    )
    state = case.complete(
        "bank_icbc",
        "confirm_instalment",
        "the last instalment, with the settlement certificate",
        instalment_status="paid",
        paid_amount=200000,
        paid_on="2026-03-02",
        settlement_certificate_no=f"JQ-PLAN-{n}",
    )
    assert state.open_tasks == [("verify_settlement", "office")]
    state = case.complete("office", "verify_settlement", certificate_decision="verified")
    assert not state.blacklisted
    assert state.open_tasks == [("lift_sanction", "bank_icbc"), ("lift_sanction", "publicity")]
    case.complete("bank_icbc", "lift_sanction", lift_confirmed=True)
    state = case.complete("publicity", "lift_sanction", lift_confirmed=True)
    assert (state.status, state.outcome, state.blacklisted) == ("closed", "delisted", False)
    shown = case.shown("office")
    assert all(loan["settlement_certificate_no"] == f"JQ-PLAN-{n}" for loan in shown["loans"]), shown["loans"]
    assert all(s["lifted_at"] for s in shown["sanctions"]), shown["sanctions"]


def closing_path(case: CaseDriver, n: int) -> None:
    """Sanctioned lightly and referred to the police; the bank writes the loan off and the
    office closes the case: the police's open task goes, both units lift: closed, not delisted."""
    to_assessment(case, n)
    lighter_sanction(case, n)
    state = case.complete(
        "office", "decide_referral", referral_decision="police", referral_reason="涉嫌骗取贷款"
    )
    assert state.open_tasks == [("answer_referral", "police")]
    state = case.close(
        "office",
        "closing (written off)",
        closing_reason="written_off",
        bank_confirmation_no=f"工银核〔2026〕{n}号",
        closing_notes="银行已核销",
    )
    assert not state.blacklisted and state.stage == "delisting"
    assert state.open_tasks == [("lift_sanction", "bank_icbc"), ("lift_sanction", "publicity")]
    case.complete("bank_icbc", "lift_sanction", lift_confirmed=True)
    state = case.complete("publicity", "lift_sanction", lift_confirmed=True)
    assert (state.status, state.outcome, state.blacklisted) == ("closed", "closed", False)
    shown = case.shown("bank_icbc")
    assert shown["closing_reason"] == "written_off"
    assert all(s["lifted_at"] for s in shown["sanctions"]), shown["sanctions"]


def defaulter_path(case: CaseDriver, n: int) -> None:
    """Issue 21's second process: the court lists a judgment defaulter, every cooperating unit
    applies its restrictions, the police answer a refusal-to-execute referral in writing, the
    court records the judgment fulfilled and every unit lifts: closed and delisted."""
    state = case.list_defaulter(
        {
            "enforcement_no": f"（2026）冀0125执{n}号",
            "debtor_kind": "enterprise",
            "name": f"失信企业{n}",
            "identifier": credit_code(n),
            "amount_owed": 50000,
            "duty": "支付货款",
            "listed_on": "2026-03-02",
        }
    )
    assert state.blacklisted
    units = sorted(u for element, u in state.open_tasks if element == "apply_restriction")
    assert units == sorted(DEFAULTER_MEASURES)
    for unit in units:
        state = case.complete(unit, "apply_restriction", measures=[DEFAULTER_MEASURES[unit]])
    assert state.stage == "listed"
    state = case.complete(
        "court",
        "refer_refusal",
        refer_decision="refer",
        refusal_facts="转移财产",
        referral_document_no="移1号",
    )
    assert ("police_filing", "police") in state.open_tasks
    case.complete(
        "police",
        "police_filing",
        filing_result="not_filed",
        filing_reasons="已部分履行",
        filing_document_no="不立1号",
        filing_date="2026-03-02",
    )
    state = case.complete(
        "court", "record_exit", exit_reason="fulfilled", exit_document_no="执结1号", exit_date="2026-03-02"
    )
    assert not state.blacklisted and state.stage == "delisting"
    assert sorted(u for _e, u in state.open_tasks) == units
    for unit in units:
        state = case.complete(unit, "lift_restriction", lift_confirmed=True)
    assert (state.status, state.outcome, state.blacklisted) == ("closed", "delisted", False)


def test_defaulter_path(deployment: Deployment) -> None:
    """The judgment-defaulter process, every step in a fresh process."""
    case = CaseDriver(SubprocessDriver(deployment))
    try:
        defaulter_path(case, n=28)
        case.checked()
    finally:
        case.report_timings()


def test_main_path(deployment: Deployment) -> None:
    """Every step of the main path in a fresh process, deadlines fired by the worker command."""
    case = CaseDriver(SubprocessDriver(deployment))
    try:
        main_path(case, n=21)
        case.checked()
    finally:
        case.report_timings()


def test_plan_path(deployment: Deployment) -> None:
    """Issue 18's repayment plan on a reopened, sanctioned case, every step in a fresh process."""
    case = CaseDriver(SubprocessDriver(deployment))
    try:
        plan_path(case, n=24)
        case.checked()
    finally:
        case.report_timings()


def test_closing_path(deployment: Deployment) -> None:
    """Issue 18's closing without settlement, every step in a fresh process."""
    case = CaseDriver(SubprocessDriver(deployment))
    try:
        closing_path(case, n=25)
        case.checked()
    finally:
        case.report_timings()


def test_officials_path(deployment: Deployment) -> None:
    """A public official: organisation talk by the employer, repayment deadline, three stops five
    nots, discipline referral, a monitoring period fired by ``flask timers fire``, settlement."""
    case = CaseDriver(SubprocessDriver(deployment))
    try:
        state = case.report("bank_icbc", report_payload(22, kind="official"))
        assert state.open_tasks == [("review", "office")]
        state = case.complete("office", "review", review_decision="confirm", classification="official_talk")
        assert (
            state.open_tasks == sorted([("official_talk", "employer_education"), *NOTICE_TASKS])
            and state.blacklisted
        )
        state = notices(case)
        assert state.open_tasks == [("official_talk", "employer_education")]

        state = case.complete(
            "employer_education",
            "official_talk",
            talk_date="2026-03-03",
            talker="局长",
            commitments="一个月内还清",
            rectification_days=1,
        )
        assert state.open_tasks == [] and state.stage == "rectification" and state.next_timer_at

        state = case.pass_deadline("the repayment deadline, fired by the worker")
        assert state.open_tasks == [("three_stops", "organization")]
        state = case.complete(
            "organization",
            "three_stops",
            measures=["stop_post", "stop_pay", "no_promotion"],
            monthly_withholding=3500,
            document_no="组(2026)1号",
        )
        assert state.open_tasks == [("answer_referral", "discipline")]
        state = case.complete(
            "discipline",
            "answer_referral",
            referral_answer="filed",
            answer_document_no="纪(2026)3号",
            answer_date="2026-04-01",
        )
        assert state.open_tasks == [("decide_referral", "office")]

        # the office keeps monitoring; the monitoring period brings the case back to it
        state = case.complete("office", "decide_referral", referral_decision="monitor")
        assert state.open_tasks == [] and state.stage == "monitoring"
        due = state.next_timer_at
        assert due is not None and due > dt.datetime.now(dt.UTC) + dt.timedelta(days=80)
        started = time.monotonic()
        out = deployment.flask("timers", "fire", at=(due + dt.timedelta(minutes=1)).isoformat())
        case.timings.append(
            ("the monitoring period, fired by `flask timers fire`", time.monotonic() - started)
        )
        assert out.strip() == f"fired 1 case(s): {case.case_id}", out
        state = case.state("the monitoring period")
        assert state.open_tasks == [("decide_referral", "office")]

        state = case.settle("bank_icbc", "JQ-OFFICIAL-22")
        assert state.open_tasks == [("verify_settlement", "office")]
        state = case.complete("office", "verify_settlement", certificate_decision="verified")
        assert state.open_tasks == [("lift_sanction", "organization")] and not state.blacklisted
        state = case.complete(
            "organization", "lift_sanction", lift_confirmed=True, lift_document_no="组(2026)2号"
        )
        assert (state.status, state.outcome, state.blacklisted) == ("closed", "delisted", False)
        case.checked()
    finally:
        case.report_timings()


# ---------------------------------------------------------------------------------------------
# the real server: gunicorn and the timer worker
# ---------------------------------------------------------------------------------------------
@dataclass
class Running:
    driver: HttpDriver
    servers: list[Server]


@pytest.fixture
def running(deployment: Deployment) -> Iterator[Running]:
    """gunicorn (2 workers x 2 threads) and ``flask worker`` with its clock two days ahead."""
    port = free_port()
    servers: list[Server] = []
    try:
        servers.append(
            start(
                deployment,
                "gunicorn",
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--threads",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                # which worker process served each request (pid), to show the steps were spread
                "--access-logfile",
                "-",
                "--access-logformat",
                "served-by %(p)s %(m)s %(U)s %(s)s",
                "webapp:create_app()",
            )
        )
        servers.append(
            start(
                deployment,
                "worker",
                "-m",
                "tests.processes_support",
                "clock",
                f"+{2 * 24 * 3600}",
                "--app",
                "webapp",
                "worker",
                "--interval",
                "0.3",
            )
        )
        base = f"http://127.0.0.1:{port}"
        with explained(servers):
            wait_until_ready(servers[0], f"{base}/api/v1/openapi.json")
            _wait_for_output(servers[1], "worker running")
        yield Running(HttpDriver(deployment, base), servers)
    finally:
        for server in servers:
            server.stop()


def _wait_for_output(server: Server, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in server.text():
            return
        if server.process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{server.name} did not say {text!r}\n{server.output()}")


def test_plan_and_closing_over_http(running: Running) -> None:
    """The repayment plan, the closing without settlement and a judgment defaulter's case
    over real HTTP to gunicorn's workers, the deadlines fired by the running worker."""
    with explained(running.servers):
        for path, n in ((plan_path, 26), (closing_path, 27), (defaulter_path, 29)):
            case = CaseDriver(running.driver)
            try:
                path(case, n)
                case.checked()
            finally:
                case.report_timings()
        for server in running.servers:
            assert server.process.poll() is None, f"{server.name} died\n{server.output()}"
            assert "Traceback" not in server.text(), server.output()


def test_whole_case_over_http(running: Running) -> None:
    """The main path over real HTTP to gunicorn's workers, the deadline fired by the worker."""
    case = CaseDriver(running.driver)
    with explained(running.servers):
        try:
            main_path(case, n=23)
            case.checked()
            # the worker folded the case's changes into the statistics' totals as they came
            # (its clock is two days ahead: every event is past the margin); a third process
            # recounts every case and finds the same totals
            out = case.deployment.flask("stats", "check")
            assert "the totals match every case" in out, out
            assert int(out.split("folded through event ")[1].split()[0]) > 0, out
        finally:
            case.report_timings()
            served = Counter(
                line.split()[1]
                for line in running.servers[0].text().splitlines()
                if line.startswith("served-by ")
            )
            print(f"requests by gunicorn worker pid: {dict(served)}")
        for server in running.servers:
            assert server.process.poll() is None, f"{server.name} died\n{server.output()}"
            assert "Traceback" not in server.text(), server.output()
