"""The political-legal committee's view of referred cases (seed 000 §五5), through HTTP: the
list and its filters, the chain with the written answers, and the case page it may read."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from freezegun import freeze_time
from sqlalchemy import select, update
from werkzeug.serving import make_server

from tests.support import PASSWORD, interview_form, open_task_id, report_payload
from tests.test_browser import AXE, _launch
from tests.test_completion_statements import counted
from webapp.catalog import load
from webapp.models import Task

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
POLICE_ANSWER = {
    "referral_answer": "not_filed",
    "answer_document_no": "公(2026)17号",
    "answer_date": "2026-03-01",
    "answer_reasons": "证据不足",
}
COURT_ANSWER = {
    "referral_answer": "filed",
    "answer_document_no": "(2026)皖执9号",
    "answer_date": "2026-03-02",
}


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


def _fire_timers(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["timers", "fire"])
    assert result.exit_code == 0, result.output


def _open(app: Flask, case_id: int, element: str) -> list[str]:
    """The units with an open ``element`` task on the case."""
    with app.extensions["db_sessionmaker"]() as session:
        return sorted(
            session.scalars(
                select(Task.unit_code).where(
                    Task.case_id == case_id, Task.element_id == element, Task.status == "open"
                )
            )
        )


def _to_referral_decision(app: Flask, browser, clock, n: int) -> int:
    """A reported case through review, interview, a passed deadline (and its assessment,
    where the diagram has one) and every sanction, at the office's referral decision."""
    clock.move_to(START + dt.timedelta(days=n))
    office = browser("office")
    case_id = browser("bank_icbc").report(report_payload(n))
    office.complete(case_id, "review", review_decision="confirm", classification="evasion")
    office.complete(case_id, "interview", **interview_form(10))
    clock.move_to(START + dt.timedelta(days=n + 10, seconds=1))
    _fire_timers(app)
    if _open(app, case_id, "assess_rectification"):
        office.complete(case_id, "assess_rectification", assessment="full")
    catalogue = load(app.config["PROCESSES_DIR"])
    units = _open(app, case_id, "apply_sanction")
    assert units, "no sanction opened"
    for unit in units:
        measures = [m.code for m in catalogue.measures_for(unit, "bank" if unit.startswith("bank") else "")]
        browser(unit).complete(case_id, "apply_sanction", measures=measures[:1], document_no=f"{unit}-{n}")
    assert _open(app, case_id, "decide_referral") == ["office"]
    return case_id


def _refer(browser, clock, case_id: int, target: str) -> None:
    clock.tick(dt.timedelta(minutes=5))  # each step at its own time, as in life
    browser("office").complete(
        case_id, "decide_referral", referral_decision=target, referral_reason="涉嫌犯罪"
    )


def _text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_committee_sees_the_referred_case_and_its_chain(app, browser, clock):
    case_id = _to_referral_decision(app, browser, clock, 1)
    unreferred = browser("bank_icbc").report(report_payload(2))
    committee = browser("political_legal")
    # not referred yet: neither in the list nor readable
    assert f"#{case_id}" not in _text(committee.get("/referrals/"))
    assert committee.get(f"/cases/{case_id}").status_code == 404
    assert committee.get(f"/referrals/{case_id}").status_code == 404

    _refer(browser, clock, case_id, "police")
    page = _text(committee.get("/referrals/"))
    assert f'href="/referrals/{case_id}"' in page and "测试债务人1" in page
    assert "县公安局" in page  # referred to, and the current step's unit
    assert f"#{unreferred}" not in page
    clock.tick(dt.timedelta(minutes=5))
    browser("police").complete(case_id, "answer_referral", **POLICE_ANSWER)

    chain = _text(committee.get(f"/referrals/{case_id}"))
    # the office's decision, then the police's written answer with the form's field titles
    assert chain.index("决定移送") < chain.index("书面答复移送")
    for text in ("书面答复文书编号", "公(2026)17号", "不予立案", "证据不足", "2026-03-01", "涉嫌犯罪"):
        assert text in chain, text
    listing = _text(committee.get("/referrals/"))
    assert "不予立案" in listing  # the last answer
    # the identifier is masked in the list, as everywhere
    identifier = report_payload(1)["identifier"]
    assert identifier not in listing and identifier[:4] + "*" * 10 + identifier[-4:] in listing

    # the case page, read only: a referred case, and nothing else
    case_page = _text(committee.get(f"/cases/{case_id}"))
    assert "测试债务人1" in case_page
    assert committee.get(f"/cases/{case_id}/diagram.bpmn").status_code == 200
    assert committee.get(f"/cases/{unreferred}").status_code == 404
    assert committee.get(f"/referrals/{unreferred}").status_code == 404
    assert committee.post(f"/cases/{case_id}/settlement", data={"certificate_no": "X"}).status_code == 403
    assert committee.post(f"/cases/{case_id}/reveal", data={"reason": "核对信息"}).status_code == 403
    assert f"#{unreferred}" not in _text(committee.get("/cases"))

    # in English on request
    committee.get("/lang/en")
    chain = _text(committee.get(f"/referrals/{case_id}"))
    assert "Written answer document number" in chain and "Not filed" in chain
    assert "Referred cases" in _text(committee.get("/referrals/"))


def test_office_and_auditors_see_it_banks_and_referral_units_do_not(app, browser, clock):
    case_id = _to_referral_decision(app, browser, clock, 3)
    _refer(browser, clock, case_id, "court")
    for user in ("office", "supervisor", "auditor", "admin", "political_legal"):
        page = _text(browser(user).get("/referrals/"))
        assert f'href="/referrals/{case_id}"' in page, user
        assert 'href="/referrals/"' in page  # the nav link
        assert browser(user).get(f"/referrals/{case_id}").status_code == 200
    for user in ("bank_icbc", "bank_abc", "court", "police"):
        assert browser(user).get("/referrals/").status_code == 403, user
        assert browser(user).get(f"/referrals/{case_id}").status_code == 403, user
        assert 'href="/referrals/"' not in _text(browser(user).get("/inbox"))
    assert app.test_client().get("/referrals/").status_code == 302


def test_filter_by_the_unit_referred_to(app, browser, clock):
    police_then_court = _to_referral_decision(app, browser, clock, 4)
    court_only = _to_referral_decision(app, browser, clock, 5)
    _refer(browser, clock, police_then_court, "police")
    clock.tick(dt.timedelta(minutes=5))
    browser("police").complete(police_then_court, "answer_referral", **POLICE_ANSWER)
    _refer(browser, clock, police_then_court, "court")
    _refer(browser, clock, court_only, "court")
    clock.tick(dt.timedelta(minutes=5))
    browser("court").complete(court_only, "answer_referral", **COURT_ANSWER)
    committee = browser("political_legal")

    def listed(query: str) -> set[int]:
        page = _text(committee.get(f"/referrals/{query}"))
        return {n for n in (police_then_court, court_only) if f'href="/referrals/{n}"' in page}

    assert listed("") == {police_then_court, court_only}
    assert listed("?target=police") == {police_then_court}
    assert listed("?target=court") == {police_then_court, court_only}
    assert listed("?target=discipline") == set()
    assert listed("?target=nonsense") == {police_then_court, court_only}
    # a page reads as many statements for two cases (and their chains) as for one
    with counted(app) as one:
        committee.get("/referrals/?target=police")
    with counted(app) as two:
        committee.get("/referrals/?target=court")
    assert len(one) == len(two), two
    chain = _text(committee.get(f"/referrals/{police_then_court}"))
    assert chain.count("书面答复移送") == 2 and "公(2026)17号" in chain
    assert "(2026)皖执9号" in _text(committee.get(f"/referrals/{court_only}"))


def test_overdue_flag_and_filter(app, browser, clock):
    late = _to_referral_decision(app, browser, clock, 6)
    on_time = _to_referral_decision(app, browser, clock, 7)
    _refer(browser, clock, late, "police")
    _refer(browser, clock, on_time, "discipline")
    task_id = open_task_id(app, late, "answer_referral")
    with app.extensions["db_sessionmaker"]() as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        session.execute(update(Task).where(Task.id == task_id).values(due_at=past))
        future = dt.datetime.now(dt.UTC) + dt.timedelta(days=20)
        other = open_task_id(app, on_time, "answer_referral")
        session.execute(update(Task).where(Task.id == other).values(due_at=future))
        session.commit()
    committee = browser("political_legal")
    page = _text(committee.get("/referrals/"))
    assert f'href="/referrals/{late}"' in page and f'href="/referrals/{on_time}"' in page
    row = page[page.index(f'href="/referrals/{late}"') - 200 : page.index(f'href="/referrals/{late}"')]
    assert 'class="overdue"' in row
    row = page[page.index(f'href="/referrals/{on_time}"') - 200 : page.index(f'href="/referrals/{on_time}"')]
    assert 'class="overdue"' not in row
    overdue_only = _text(committee.get("/referrals/?overdue=1"))
    assert f'href="/referrals/{late}"' in overdue_only and f'href="/referrals/{on_time}"' not in overdue_only
    assert "逾期" in overdue_only
    assert 'class="overdue"' in _text(committee.get(f"/referrals/{late}"))


def test_steps_after_the_answer_join_the_chain(app, browser, clock):
    # the steps the diagram adds after a filed answer (their element property stage =
    # "referral") join the chain without code; the unit referred to stays the police
    police = _to_referral_decision(app, browser, clock, 8)
    tax = _to_referral_decision(app, browser, clock, 9)
    _refer(browser, clock, police, "police")
    clock.tick(dt.timedelta(minutes=5))
    browser("police").complete(police, "answer_referral", **{**POLICE_ANSWER, "referral_answer": "filed"})
    clock.tick(dt.timedelta(minutes=5))
    browser("police").complete(
        police,
        "police_outcome",
        police_result="transferred",
        document_no="公移诉(2026)3号",
        decision_date="2026-03-02",
    )
    assert _open(app, police, "prosecution_decision") == ["procuratorate"]
    _refer(browser, clock, tax, "tax")
    committee = browser("political_legal")
    chain = _text(committee.get(f"/referrals/{police}"))
    assert chain.index("书面答复移送") < chain.index("侦查结果") < chain.index("审查起诉")
    assert "公移诉(2026)3号" in chain and "侦查结论" in chain and "县人民检察院" in chain
    listing = _text(committee.get("/referrals/"))
    row = listing[listing.index(f'href="/referrals/{police}"') :].split("</tr>")[0]
    assert "审查起诉" in row and "县人民检察院" in row  # the current step and its unit
    row = listing[listing.index(f'href="/referrals/{tax}"') :].split("</tr>")[0]
    assert "税务稽查" in row and "县税务局" in row

    def listed(query: str) -> set[int]:
        page = _text(committee.get(f"/referrals/{query}"))
        return {n for n in (police, tax) if f'href="/referrals/{n}"' in page}

    assert listed("?target=police") == {police}
    assert listed("?target=tax") == {tax}
    assert listed("?target=court") == set()
    # the procuratorate takes part now, the committee still sees the case page
    assert committee.get(f"/cases/{police}").status_code == 200


@pytest.fixture
def live_url(app) -> Iterator[str]:
    if app.config["BACKEND"] != "sqlite":
        pytest.skip("browser tests run once, on SQLite")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed: SKIPPED")
def test_on_a_phone_nothing_scrolls_sideways_and_axe_finds_nothing(app, browser, live_url):
    from playwright.sync_api import sync_playwright

    with freeze_time(START) as clock:  # the browser runs on the real clock
        case_id = _to_referral_decision(app, browser, clock, 10)
        _refer(browser, clock, case_id, "police")
        clock.tick(dt.timedelta(minutes=5))
        browser("police").complete(case_id, "answer_referral", **POLICE_ANSWER)
    with sync_playwright() as pw:
        chromium = _launch(pw)
        try:
            # axe is injected as an inline script, which the app's CSP would refuse
            context = chromium.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
            page = context.new_page()
            page.goto(f"{live_url}/login")
            page.fill("#username", "political_legal")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            for path in ("/referrals/", f"/referrals/{case_id}"):
                page.goto(f"{live_url}{path}")
                assert page.locator(f"a[href='/referrals/{case_id}'], #chain").count() == 1, path
                assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
                page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
                violations = page.evaluate("async () => (await axe.run()).violations.map(v => v.id)")
                assert violations == [], (path, violations)
        finally:
            chromium.close()
