"""The daily rollups of the statistics (webapp/stats/rollups.py): the pages give the same
figures whether the closed days are folded or counted live, across a day boundary, with the
worker folding each day once; the page says through which day it summed the rollups."""

from __future__ import annotations

import datetime as dt
from typing import Any

from freezegun import freeze_time

from tests.support import open_task_id, report_payload
from tests.test_assessment import _rows as assessment_rows
from tests.test_stats import history, table, url  # noqa: F401 - the fixture, used by name
from webapp.deadlines.calendar import LOCAL

MARCH_ASSESSMENT = "/stats/assessment?from=2026-03-01&to=2026-03-31"
STATS_TABLES = ("summary", "weeks", "measures", "stages", "ages", "overdue")
OFFICE = "县打击逃废金融债务工作领导小组办公室（县地方金融监督管理局）"


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of March 2026 in Shanghai, as the clock gives it (UTC)."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=LOCAL).astimezone(dt.UTC)


def cli(app: Any, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def pages(browser: Any) -> dict[str, Any]:
    """What the office sees of March on /stats/ and on the assessment page."""
    office = browser("office")
    stats = office.get(url()).get_data(as_text=True)
    scores = office.get(MARCH_ASSESSMENT).get_data(as_text=True)
    # a period starting in the middle: what happened before it is not counted in it
    later = office.get(url(**{"from": "2026-03-10"})).get_data(as_text=True)
    return {
        "tables": {name: table(stats, name) for name in STATS_TABLES},
        "later": {name: table(later, name) for name in STATS_TABLES},
        "assessment": assessment_rows(scores),
        "notes": ['id="rollup-note"' in stats, 'id="rollup-note"' in scores],
        "stats": stats,
        "scores": scores,
    }


def test_the_pages_are_the_same_folded_and_live(app, browser, history):  # noqa: F811
    live = pages(browser)
    assert live["notes"] == [False, False]  # nothing folded: no note
    output = cli(app, "stats", "rebuild-rollups")
    # the clock stands at 20 May 2026 10:00 in Shanghai: every day through 19 May is folded
    assert "the rollups run through 2026-05-19" in output
    folded = pages(browser)
    assert folded["tables"] == live["tables"]
    assert folded["assessment"] == live["assessment"]
    assert folded["notes"] == [True, True]
    assert "截至 2026-03-31 的已办任务" in folded["stats"]
    assert "2026-05-20 10:00 汇总" in folded["stats"]
    # a unit's figures are about the cases it takes part in now: counted live, no note
    publicity = browser("publicity").get(url()).get_data(as_text=True)
    assert 'id="rollup-note"' not in publicity
    # dropped: live again, the same figures
    assert "rollups dropped" in cli(app, "stats", "drop-rollups")
    again = pages(browser)
    assert again["notes"] == [False, False]
    assert again["tables"] == live["tables"] and again["assessment"] == live["assessment"]


def overdue_row(tables: dict[str, list[list[str]]], unit: str) -> list[str]:
    rows = {row[0]: row[1:] for row in tables["overdue"][1:]}
    return rows[unit]


def test_the_worker_folds_each_closed_day_and_the_open_one_stays_live(app, users, browser):
    """Three reports on Monday 2 March; the office's reviews were due on 9 March 23:59:59 and
    are done late, on 16 and 17 March at 10:00 (the second rejects the report); the supervisor
    reminds the regulator on 17 March, and the bank reports the rejected debtor again on 18
    March. The worker folds 16 March just after midnight; 17 March is counted live until it
    folds that day too, and so on. At every step the pages (March, and 10 to 31 March) equal
    those counted live, and a debtor reported twice counts once in a period."""
    bank, office = browser("bank_icbc"), browser("office")

    def same_as_live() -> dict[str, Any]:
        shown = pages(browser)
        cli(app, "stats", "drop-rollups")
        live = pages(browser)
        assert shown["tables"] == live["tables"]
        assert shown["later"] == live["later"]
        assert shown["assessment"] == live["assessment"]
        # folded again as the worker had it
        cli(app, "stats", "fold")
        return shown

    with freeze_time(local(2, 9)) as clock:
        cases = {n: bank.report(report_payload(n)) for n in (1, 2, 3)}
        clock.move_to(local(16, 10))
        office.complete(cases[1], "review", review_decision="confirm", classification="evasion")
        # 17 March, 00:20: the worker's timers lane folds every day through 16 March
        clock.move_to(local(17, 0, 20))
        cli(app, "worker", "--once", "--lane", "timers")
        clock.move_to(local(17, 10))
        office.complete(cases[2], "review", review_decision="reject", reject_reason="材料不全")
        task = open_task_id(app, cases[1], "notify_banks")
        response = browser("supervisor").post(
            "/supervision/remind", data={"task_ids": [task], "note": "请尽快"}
        )
        assert response.status_code == 302
        first = same_as_live()
        assert first["notes"] == [True, True]
        assert "截至 2026-03-16 的已办任务" in first["stats"]
        # two reviews late by 6 d 10 h 0 min 1 s and 7 d 10 h 0 min 1 s: one folded, one live
        scores = {row[1]: row[2:] for row in first["assessment"]}
        assert scores[OFFICE][:5] == ["2", "0", "2", "6.92", "0"]
        assert scores["金融监管局监管组"][4] == "1"  # the reminder, live
        assert overdue_row(first["tables"], OFFICE)[3:5] == ["2", "2"]
        # the margin: at 00:10 the day that just ended is not folded yet
        clock.move_to(local(18, 0, 10))
        cli(app, "worker", "--once", "--lane", "timers")
        assert "截至 2026-03-16 的已办任务" in pages(browser)["stats"]
        clock.move_to(local(18, 0, 20))
        cli(app, "worker", "--once", "--lane", "timers")
        second = same_as_live()
        assert "截至 2026-03-17 的已办任务" in second["stats"]
        assert second["tables"] == first["tables"]
        # the flows of the period are those of the day before (the overdue open tasks are a
        # stock at the period's end, or now: one more fell due overnight)
        assert [row[:7] for row in second["assessment"]] == [row[:7] for row in first["assessment"]]
        # the rejected debtor reported again on 18 March (live), then folded on 19 March
        clock.move_to(local(18, 10))
        again = report_payload(2)
        again["loans"][0]["contract_no"] = "C-2-2"  # a new loan: the old contract was reported
        bank.report(again)
        third = same_as_live()
        summary = dict(third["tables"]["summary"][1:])
        assert summary["上报债务人"] == "3"  # in March: three debtors, one of them twice
        assert dict(third["later"]["summary"][1:])["上报债务人"] == "1"  # from 10 March: once
        weeks = {row[0]: row[1] for row in third["tables"]["weeks"][1:]}
        assert (weeks["2026-03-02"], weeks["2026-03-16"]) == ("3", "1")
        clock.move_to(local(19, 0, 20))
        cli(app, "worker", "--once", "--lane", "timers")
        fourth = same_as_live()
        assert "截至 2026-03-18 的已办任务" in fourth["stats"]
        assert fourth["tables"]["summary"] == third["tables"]["summary"]
        assert fourth["tables"]["weeks"] == third["tables"]["weeks"]
        assert fourth["later"]["summary"] == third["later"]["summary"]


def test_no_day_is_folded_while_an_import_hides_a_case_opened_on_it(app, browser, history, users):  # noqa: F811
    """A case an import still hides counts nowhere; its rows are stamped from its opening on, so
    the days from then on wait until the import shows it, and then they are folded with it."""
    from sqlalchemy import update

    from tests.test_stats import SUMMARY
    from webapp.models import Case, ImportBatch

    with app.extensions["db_sessionmaker"]() as session:
        batch = ImportBatch(
            unit_code="bank_icbc",
            user_id=users["bank_icbc"],
            filename="ledger.csv",
            sha256="0" * 64,
            file_format="csv",
            header_language="zh",
            status="importing",
            hides_cases=True,
        )
        session.add(batch)
        session.flush()
        # the sanctioned case, opened on 2 March, as an import's
        session.execute(update(Case).where(Case.id == history["sanctioned"]).values(import_batch_id=batch.id))
        session.commit()
        batch_id = batch.id
    live = pages(browser)
    summary = dict(live["tables"]["summary"][1:])
    assert (summary["上报债务人"], summary["约谈（谈话）次数"], summary["惩戒案件"]) == ("2", "0", "0")
    # the worker folds nothing from 2 March on
    assert "the rollups run through 2026-03-01" in cli(app, "stats", "fold")
    hidden = pages(browser)
    assert hidden["tables"] == live["tables"] and hidden["assessment"] == live["assessment"]
    # the import is done: the case is seen, and the days are folded with it
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(update(ImportBatch).where(ImportBatch.id == batch_id).values(hides_cases=False))
        session.commit()
    for _ in range(3):  # 79 days, a month a pass
        cli(app, "worker", "--once", "--lane", "timers")
    shown = pages(browser)
    assert "截至 2026-03-31 的已办任务" in shown["stats"]
    assert shown["tables"]["summary"][1:] == [list(r) for r in SUMMARY]
    cli(app, "stats", "drop-rollups")
    assert pages(browser)["tables"] == shown["tables"]
