"""The statistics' totals (webapp/stats/totals.py) and the assessment's daily rollups
(webapp/stats/rollups.py): every page gives the same figures whether the history is folded or
not, for all units, a unit and a bank; a change after a fold is counted at once and folded by
the worker's next pass; a unit joining a case brings the case's earlier facts into its
figures; a fold in another process leaves totals that ``flask stats check`` finds equal to a
count of every case."""

from __future__ import annotations

import datetime as dt
from typing import Any

from freezegun import freeze_time

from tests.processes_support import Deployment
from tests.support import hide_as_imported, open_task_id, report_payload
from tests.test_assessment import _rows as assessment_rows
from tests.test_stats import SUMMARY, history, table, url  # noqa: F401 - the fixture, used by name
from webapp.deadlines.calendar import LOCAL

MARCH_ASSESSMENT = "/stats/assessment?from=2026-03-01&to=2026-03-31"
STATS_TABLES = ("summary", "weeks", "measures", "stages", "ages", "overdue")
OFFICE = "县打击逃废金融债务工作领导小组办公室（县地方金融监督管理局）"
# whose figures are compared: all units, units that join cases at different steps, a bank
SCOPES = ({}, {"unit": "publicity"}, {"unit": "police"}, {"bank": "bank_icbc"})


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of March 2026 in Shanghai, as the clock gives it (UTC)."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=LOCAL).astimezone(dt.UTC)


def cli(app: Any, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def pages(browser: Any) -> dict[str, Any]:
    """What the office sees of March on /stats/ (per scope, and from 10 March) and on the
    assessment page."""
    office = browser("office")
    stats = office.get(url()).get_data(as_text=True)
    scores = office.get(MARCH_ASSESSMENT).get_data(as_text=True)
    scoped = {}
    for scope in SCOPES:
        for args in (scope, {**scope, "from": "2026-03-10"}):
            page = office.get(url(**args)).get_data(as_text=True)
            scoped[tuple(sorted(args.items()))] = {name: table(page, name) for name in STATS_TABLES}
    # the cycle times (all units), of March and of a period ending mid-March
    for args in ("from=2026-03-01&to=2026-03-31", "from=2026-02-20&to=2026-03-12"):
        scoped[("cycle-times", args)] = office.get(f"/stats/cycle-times.csv?{args}").get_data(as_text=True)
    return {
        "tables": {name: table(stats, name) for name in STATS_TABLES},
        "scoped": scoped,
        "assessment": assessment_rows(scores),
        "notes": ['id="rollup-note"' in stats, 'id="rollup-note"' in scores],
        "scores": scores,
    }


def same_as_live(app: Any, browser: Any) -> dict[str, Any]:
    """The pages as they are, equal to those counted with nothing folded; folded again after."""
    shown = pages(browser)
    assert "the totals match every case" in cli(app, "stats", "check")
    cli(app, "stats", "drop-rollups")
    live = pages(browser)
    assert shown["scoped"] == live["scoped"]
    assert shown["assessment"] == live["assessment"]
    cli(app, "stats", "fold")
    return shown


def test_the_pages_are_the_same_folded_and_live(app, browser, history):  # noqa: F811
    live = pages(browser)
    assert live["tables"]["summary"][1:] == [list(r) for r in SUMMARY]
    assert live["notes"] == [False, False]  # nothing folded: no note
    output = cli(app, "stats", "rebuild-rollups")
    assert "3 cases folded into the totals" in output
    # the clock stands at 20 May 2026 10:00 in Shanghai: every day through 19 May is folded
    assert "the rollups run through 2026-05-19" in output
    folded = pages(browser)
    assert folded["scoped"] == live["scoped"]
    assert folded["assessment"] == live["assessment"]
    # the statistics are exact at every moment: no note; the assessment says what it summed
    assert folded["notes"] == [False, True]
    assert "2026-05-20 10:00 汇总" in folded["scores"]
    assert "the totals match every case" in cli(app, "stats", "check")
    # dropped: counted from the cases again, the same figures
    assert "rollups dropped" in cli(app, "stats", "drop-rollups")
    again = pages(browser)
    assert again["notes"] == [False, False]
    assert again["scoped"] == live["scoped"] and again["assessment"] == live["assessment"]


def test_a_wrong_total_is_found_by_the_check(app, history):  # noqa: F811
    from sqlalchemy import update

    from webapp.stats.totals import StatsTotal

    cli(app, "stats", "fold")
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(
            update(StatsTotal)
            .where(StatsTotal.scope == "*", StatsTotal.figure == "reported")
            .values(n=StatsTotal.n + 1)
        )
        session.commit()
    result = app.test_cli_runner().invoke(args=["stats", "check"])
    assert result.exit_code == 1
    assert "1 totals differ" in result.output and "* reported 2026-03-02" in result.output
    cli(app, "stats", "rebuild-rollups")
    assert "the totals match every case" in cli(app, "stats", "check")


def overdue_row(tables: dict[str, list[list[str]]], unit: str) -> list[str]:
    rows = {row[0]: row[1:] for row in tables["overdue"][1:]}
    return rows[unit]


def test_the_worker_folds_each_change_and_the_pages_stay_exact(app, users, browser):
    """Three reports on Monday 2 March; the office's reviews were due on 9 March 23:59:59 and
    are done late, on 16 and 17 March at 10:00 (the second rejects the report); the supervisor
    reminds the regulator on 17 March, and the bank reports the rejected debtor again on 18
    March. The worker folds what changed at each pass; between passes the pages count the
    changes since. At every step the pages (March, and 10 to 31 March, for all units, units
    and a bank) equal those counted with nothing folded, and a debtor reported twice counts
    once in a period."""
    bank, office = browser("bank_icbc"), browser("office")

    with freeze_time(local(2, 9)) as clock:
        cases = {n: bank.report(report_payload(n)) for n in (1, 2, 3)}
        clock.move_to(local(16, 10))
        office.complete(cases[1], "review", review_decision="confirm", classification="evasion")
        # 17 March, 00:20: the worker's timers lane folds the cases and every day through 16 March
        clock.move_to(local(17, 0, 20))
        cli(app, "worker", "--once", "--lane", "timers")
        clock.move_to(local(17, 10))
        office.complete(cases[2], "review", review_decision="reject", reject_reason="材料不全")
        task = open_task_id(app, cases[1], "notify_banks")
        response = browser("supervisor").post(
            "/supervision/remind", data={"task_ids": [task], "note": "请尽快"}
        )
        assert response.status_code == 302
        first = same_as_live(app, browser)
        assert first["notes"] == [False, True]
        assert "截至 2026-03-16 的已办任务" in first["scores"]
        # two reviews late by 6 d 10 h 0 min 1 s and 7 d 10 h 0 min 1 s: one folded, one live
        scores = {row[1]: row[2:] for row in first["assessment"]}
        assert scores[OFFICE][:5] == ["2", "0", "2", "6.92", "0"]
        assert scores["金融监管局监管组"][4] == "1"  # the reminder, live
        assert overdue_row(first["tables"], OFFICE)[3:5] == ["2", "2"]
        summary = dict(first["tables"]["summary"][1:])
        assert (summary["上报债务人"], summary["认定"], summary["不予认定"]) == ("3", "1", "1")
        # the margin: at 00:10 the day that just ended is not folded yet
        clock.move_to(local(18, 0, 10))
        cli(app, "worker", "--once", "--lane", "timers")
        assert "截至 2026-03-16 的已办任务" in pages(browser)["scores"]
        clock.move_to(local(18, 0, 20))
        cli(app, "worker", "--once", "--lane", "timers")
        second = same_as_live(app, browser)
        assert "截至 2026-03-17 的已办任务" in second["scores"]
        assert second["tables"]["summary"] == first["tables"]["summary"]
        # the rejected debtor reported again on 18 March (counted before any fold), then folded
        clock.move_to(local(18, 10))
        again = report_payload(2)
        again["loans"][0]["contract_no"] = "C-2-2"  # a new loan: the old contract was reported
        bank.report(again)
        third = same_as_live(app, browser)
        summary = dict(third["tables"]["summary"][1:])
        assert summary["上报债务人"] == "3"  # in March: three debtors, one of them twice
        later = third["scoped"][(("from", "2026-03-10"),)]
        assert dict(later["summary"][1:])["上报债务人"] == "1"  # from 10 March: once
        weeks = {row[0]: row[1] for row in third["tables"]["weeks"][1:]}
        assert (weeks["2026-03-02"], weeks["2026-03-16"]) == ("3", "1")
        clock.move_to(local(19, 0, 20))
        cli(app, "worker", "--once", "--lane", "timers")
        fourth = same_as_live(app, browser)
        assert fourth["scoped"] == third["scoped"]


def test_a_unit_joining_a_folded_case_brings_its_earlier_figures(app, browser):
    """The police join the sanctioned case only at the referral, after everything before was
    folded: their figures then hold the case's report, confirmation, interview and sanctions
    (all from before they joined), counted before the worker's next pass and after it."""
    from tests.support import case_row, confirm, interview_form

    bank, office = browser("bank_icbc"), browser("office")
    with freeze_time(local(2, 9)) as clock:
        case_id = bank.report(report_payload(1))
        confirm(browser, case_id)
        office.complete(case_id, "interview", **interview_form(3))
        clock.move_to(local(4, 10))
        cli(app, "stats", "fold")
        police = browser("office").get(url(unit="police")).get_data(as_text=True)
        assert dict(table(police, "summary")[1:])["上报债务人"] == "0"
        clock.move_to(case_row(app, case_id).next_timer_at + dt.timedelta(seconds=1))
        cli(app, "timers", "fire")
        office.complete(
            case_id,
            "assess_rectification",
            assessment="partial",
            partial_units=["creditor_bank", "publicity"],
            partial_measures=["no_new_credit", "notify_employer"],
        )
        bank.complete(case_id, "apply_sanction", measures=["no_new_credit"])
        browser("publicity").complete(case_id, "apply_sanction", measures=["notify_employer"])
        clock.tick(dt.timedelta(hours=1))
        office.complete(case_id, "decide_referral", referral_decision="police", referral_reason="涉嫌拒执")
        shown = same_as_live(app, browser)
        police = dict(shown["scoped"][(("unit", "police"),)]["summary"][1:])
        assert (police["上报债务人"], police["认定"], police["约谈（谈话）次数"], police["移送"]) == (
            "1",
            "1",
            "1",
            "1",
        )
        clock.tick(dt.timedelta(minutes=5))
        cli(app, "worker", "--once", "--lane", "timers")
        assert same_as_live(app, browser)["scoped"] == shown["scoped"]


def test_a_fold_in_another_process(app, browser, history, tmp_path):  # noqa: F811
    """The worker is another process: its fold, then a check by a third, against this
    database; the figures the pages give stay those written by hand."""
    deployment = Deployment(app.config["DATABASE_URL"], tmp_path)
    out = deployment.flask("stats", "fold")
    assert "3 cases and" in out
    out = deployment.flask("stats", "check")
    assert "the totals match every case" in out and "folded through event" in out
    page = browser("office").get(url()).get_data(as_text=True)
    assert table(page, "summary")[1:] == [list(r) for r in SUMMARY]


def test_no_fold_passes_a_case_an_import_hides(app, browser, history, users):  # noqa: F811
    """A case an import still hides counts nowhere; its events are not folded (nor anything
    after it was opened) until the import shows it, and then they are folded with it."""
    from sqlalchemy import update

    from webapp.models import ImportBatch

    # the sanctioned case, opened on 2 March, as an import's
    batch_id = hide_as_imported(app, users["bank_icbc"], history["sanctioned"])
    live = pages(browser)
    summary = dict(live["tables"]["summary"][1:])
    assert (summary["上报债务人"], summary["约谈（谈话）次数"], summary["惩戒案件"]) == ("2", "0", "0")
    # the worker folds nothing from 2 March on
    output = cli(app, "stats", "fold")
    assert "0 cases and" in output and "the rollups run through 2026-03-01" in output
    hidden = pages(browser)
    assert hidden["scoped"] == live["scoped"] and hidden["assessment"] == live["assessment"]
    # the import is done: the case is seen, and folded with the rest
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(update(ImportBatch).where(ImportBatch.id == batch_id).values(hides_cases=False))
        session.commit()
    for _ in range(3):  # 79 days, a month a pass
        cli(app, "worker", "--once", "--lane", "timers")
    shown = pages(browser)
    assert "截至 2026-03-31 的已办任务" in shown["scores"]
    assert shown["tables"]["summary"][1:] == [list(r) for r in SUMMARY]
    assert "the totals match every case" in cli(app, "stats", "check")
    cli(app, "stats", "drop-rollups")
    assert pages(browser)["scoped"] == shown["scoped"]


def test_two_workers_folding_at_once_fold_each_case_once(app, history, tmp_path):  # noqa: F811
    """Two processes fold at the same moment: one folds the three cases, the other waits for
    its lock and finds nothing left; the totals equal a recount."""
    import re
    import subprocess

    from tests.processes_support import PYTHON, ROOT

    deployment = Deployment(app.config["DATABASE_URL"], tmp_path)
    command = [PYTHON, "-m", "flask", "--app", "webapp", "stats", "fold"]
    workers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, env=deployment.env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    folded = sorted(int(re.search(r"(\d+) cases and", out).group(1)) for out, _err in outputs)  # type: ignore[union-attr]
    assert folded == [0, 3]
    assert "the totals match every case" in deployment.flask("stats", "check")


def test_a_repayment_paid_before_its_loan_was_reported(app, browser):
    """The bank reports a debtor on 2 March and, once listed, a repayment paid on 20 February
    (after the loan fell overdue, before the report): a period counts it as recovered only
    when it holds both days (the loan is reported by its end, the payment made in it); the
    amount outstanding at the end of March is the debt less it. The same folded or not."""
    from tests.support import confirm

    bank = browser("bank_icbc")
    with freeze_time(local(2, 9)):
        case_id = bank.report(report_payload(1))
        confirm(browser, case_id)
        response = bank.post(
            f"/cases/{case_id}/repayments",
            data={"contract_no": "C-1-1", "amount": "500.00", "paid_on": "2026-02-20"},
        )
        assert response.status_code == 302, response.get_data(as_text=True)[-500:]
    office = browser("office")

    def money(first: str, last: str) -> tuple[str, str]:
        page = office.get(url(**{"from": first, "to": last})).get_data(as_text=True)
        summary = dict(table(page, "summary")[1:])
        return summary["回收金额（元）"], summary["期末未还金额（元）"]

    for _folded in (False, True):
        assert money("2026-02-01", "2026-02-28") == ("0.00", "0.00")
        assert money("2026-03-01", "2026-03-31") == ("0.00", "1005500.00")
        assert money("2026-02-15", "2026-03-31") == ("500.00", "1005500.00")
        weeks = office.get(url(**{"from": "2026-02-15", "to": "2026-03-08"})).get_data(as_text=True)
        assert [row[3] for row in table(weeks, "weeks")[1:]] == ["0.00"] * 4  # from Monday 9 February
        cli(app, "stats", "fold")
    assert "the totals match every case" in cli(app, "stats", "check")


def test_a_history_far_ahead_of_the_totals_is_said_and_the_worker_catches_up(
    app,
    browser,
    history,  # noqa: F811
    monkeypatch,
):
    """A history the worker has not folded yet (after the migration, or a drop) and too long
    for a page to count itself: the page says the statistics are being prepared and how far
    (503), the worker's pass does not fail on the bulletins due meanwhile, and folds; then
    the page has its figures and the bulletins are made."""
    from webapp.stats import totals

    monkeypatch.setattr(totals, "PAGE_EVENTS_MAX", 10)
    monkeypatch.setattr(totals, "EVENTS_PER_PASS", 40)
    office = browser("office")
    waiting = office.get(url())
    assert waiting.status_code == 503
    page = waiting.get_data(as_text=True)
    assert "统计数据正在汇总（已完成 0%），请几分钟后再试。" in page and "暂时无法使用" in page
    assert office.get("/bulletins/").status_code == 200  # the list of bulletins is not a figure
    passes = 0
    while office.get(url()).status_code == 503:
        cli(app, "worker", "--once", "--lane", "timers")
        passes += 1
        assert passes < 10
    assert passes >= 1
    page = office.get(url()).get_data(as_text=True)
    assert table(page, "summary")[1:] == [list(r) for r in SUMMARY]
    cli(app, "worker", "--once", "--lane", "timers")
    assert "联动通〔2026〕" in office.get("/bulletins/").get_data(as_text=True)
