"""The statistics page (/stats/) against a history whose figures are known by hand: three
debtors reported in March 2026, one rejected, two confirmed; one of them interviewed, its
deadline passed, sanctioned by two units (one measure each), partly repaid (12,345.00) and
referred to the police, who accepted it; the other settled and delisted. Every figure is
checked on the page, in the CSV and in the XLSX, for the office and for units that see only
their own."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from decimal import Decimal

import pytest
from freezegun import freeze_time
from openpyxl import load_workbook

from tests.support import case_row, confirm, hide_as_imported, interview_form, report_payload

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # Monday 09:00 in Shanghai
MARCH = {"period": "custom", "from": "2026-03-01", "to": "2026-03-31"}
LOAN = Decimal("1006000.00")  # principal 1,000,000 and interest 6,000 (report_payload)

# (figure, value) as the summary table gives them, written by hand from the history
SUMMARY = [
    ("上报债务人", "3"),
    ("认定", "2"),
    ("不予认定", "1"),
    ("约谈（谈话）次数", "1"),
    ("整改期限届满", "1"),
    ("惩戒案件", "1"),
    ("实施措施", "2"),
    ("移送", "1"),
    ("移送答复", "1"),
    ("已结清并移出黑名单", "1"),
    ("移出黑名单（各种原因）", "1"),
    ("上报金额（元）", "3018000.00"),
    # the settled loan, and the repayment on the loan still owed
    ("回收金额（元）", "1018345.00"),
    ("期末未还金额（元）", "993655.00"),
]


@pytest.fixture
def history(app, browser):
    bank, office = browser("bank_icbc"), browser("office")
    with freeze_time(START) as clock:
        sanctioned = bank.report(report_payload(1))
        settled = bank.report(report_payload(2))
        rejected = bank.report(report_payload(3))
        office.complete(rejected, "review", review_decision="reject", reject_reason="证据不足")
        confirm(browser, sanctioned)
        confirm(browser, settled)
        office.complete(sanctioned, "interview", **interview_form(3))
        clock.tick(dt.timedelta(days=2))
        response = bank.post(
            f"/cases/{sanctioned}/repayments",
            data={"contract_no": "C-1-1", "amount": "12345.00", "paid_on": "2026-03-04"},
        )
        assert response.status_code == 302
        clock.move_to(case_row(app, sanctioned).next_timer_at + dt.timedelta(seconds=1))
        assert app.test_cli_runner().invoke(args=["timers", "fire"]).exit_code == 0
        office.complete(
            sanctioned,
            "assess_rectification",
            assessment="partial",
            partial_units=["creditor_bank", "publicity"],
            partial_measures=["no_new_credit", "notify_employer"],
        )
        bank.complete(sanctioned, "apply_sanction", measures=["no_new_credit"])
        browser("publicity").complete(sanctioned, "apply_sanction", measures=["notify_employer"])
        # the second case is settled the next week
        clock.move_to(dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC))
        bank.settle(settled, "JQ-2")
        office.complete(settled, "verify_settlement", certificate_decision="verified")
        assert case_row(app, settled).outcome == "delisted"
        # the sanctioned case is referred to the police, who accept it (one referral, one answer)
        office.complete(sanctioned, "decide_referral", referral_decision="police", referral_reason="涉嫌拒执")
        browser("police").complete(
            sanctioned,
            "answer_referral",
            referral_answer="filed",
            answer_document_no="A1",
            answer_date="2026-03-10",
        )
        assert case_row(app, rejected).outcome == "rejected"
        # the police's outcome was due 60 days after 10 March
        clock.move_to(dt.datetime(2026, 5, 20, 2, 0, tzinfo=dt.UTC))
        yield {"sanctioned": sanctioned, "settled": settled, "rejected": rejected}


def table(page: str, name: str) -> list[list[str]]:
    """A table of the page as rows of cell texts (the header first)."""
    found = re.search(rf'<table[^>]*id="table-{name}".*?</table>', page, re.S)
    assert found, name
    rows = re.findall(r"<tr>(.*?)</tr>", found.group(0), re.S)
    cells = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S) for r in rows]
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in row] for row in cells]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200 and response.content_type.startswith("text/csv")
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def xlsx_rows(response) -> list[list[object]]:
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.get_data()))
    return [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]


def url(path: str = "/stats/", **args: str) -> str:
    return path + "?" + "&".join(f"{k}={v}" for k, v in {**MARCH, **args}.items())


def test_office_sees_every_figure_on_the_page_and_in_the_files(app, browser, history):
    office = browser("office")
    page = office.get(url()).get_data(as_text=True)
    assert "2026-03-01 – 2026-03-31" in page
    assert table(page, "summary")[1:] == [list(r) for r in SUMMARY]
    # the cycle times and the assessment of the same period are one click away
    assert 'href="/stats/cycle-times?from=2026-03-01&amp;to=2026-03-31"' in page
    assert 'href="/stats/assessment?from=2026-03-01&amp;to=2026-03-31"' in page
    weeks = [
        ["2026-02-23", "0", "0", "0.00"],
        ["2026-03-02", "3", "0", "12345.00"],
        ["2026-03-09", "0", "1", "1006000.00"],
        ["2026-03-16", "0", "0", "0.00"],
        ["2026-03-23", "0", "0", "0.00"],
        ["2026-03-30", "0", "0", "0.00"],
    ]
    assert table(page, "weeks")[1:] == weeks
    assert table(page, "measures")[1:] == [["工商银行县支行", "1", "1"], ["县委宣传部", "1", "1"]]
    assert table(page, "stages")[1:] == [["移送", "1"]]
    # the one open case was opened 79 days before the clock's day
    assert table(page, "ages")[1:] == [["< 7", "0"], ["7-30", "0"], ["30-90", "1"], ["> 90", "0"]]
    overdue = {row[0]: row[1:] for row in table(page, "overdue")[1:]}
    office_unit = "县打击逃废金融债务工作领导小组办公室（县地方金融监督管理局）"
    # nothing open; completed in March: three reviews, the interview, the assessment, the
    # settlement's verification and the referral decision, none late
    assert overdue[office_unit] == ["0", "0", "", "7", "0", "0.0"]
    # the police: the outcome open and past due, the acceptance done in time
    assert overdue["县公安局"] == ["1", "1", "100.0", "1", "0", "0.0"]
    # the charts have their data and their place, each beside its table
    for chart in ("chart-trend", "chart-recovered", "chart-stages", "chart-overdue"):
        assert f'id="{chart}" role="img"' in page
    assert "vendor/echarts/echarts.min.js" in page

    summary = csv_rows(office.get(url("/stats/export.csv", table="summary")))
    assert summary[1:15] == [list(r) for r in SUMMARY]
    assert ["期间", "2026-03-01 – 2026-03-31"] in summary
    assert csv_rows(office.get(url("/stats/export.csv", table="weeks")))[1:7] == weeks

    rows = xlsx_rows(office.get(url("/stats/export.xlsx", table="summary")))
    assert rows[0] == ["指标", "数值"]
    # the figures are numbers in the workbook (a spreadsheet sums them), not text
    assert all(isinstance(v, int | float) for _label, v in rows[1:])
    assert [[label, Decimal(str(v)).quantize(Decimal("0.01"))] for label, v in rows[1:]] == [
        [label, Decimal(value).quantize(Decimal("0.01"))] for label, value in SUMMARY
    ]
    weekly = xlsx_rows(office.get(url("/stats/export.xlsx", table="weeks")))
    assert [r[0] for r in weekly[1:]] == [w[0] for w in weeks]
    assert [(r[1], r[2], float(r[3])) for r in weekly[1:3]] == [(0, 0, 0.0), (3, 0, 12345.0)]
    assert float(weekly[3][3]) == 1006000.0
    assert office.get(url("/stats/export.pdf")).status_code == 404
    assert office.get(url("/stats/export.csv", table="nope")).status_code == 404


def test_a_filter_by_bank_or_unit(app, browser, history):
    office = browser("office")
    page = office.get(url(bank="bank_abc")).get_data(as_text=True)
    assert table(page, "summary")[1] == ["上报债务人", "0"]
    page = office.get(url(unit="publicity")).get_data(as_text=True)
    summary = dict(table(page, "summary")[1:])
    assert (summary["上报债务人"], summary["认定"], summary["不予认定"], summary["已结清并移出黑名单"]) == (
        "1",
        "1",
        "0",
        "0",
    )
    assert table(page, "measures")[1:] == [["县委宣传部", "1", "1"]]
    # a unit and a bank at once: one scope only, the page says so and shows the unit's
    both = office.get(url(unit="publicity", bank="bank_abc")).get_data(as_text=True)
    assert "请选择一个单位或一家银行，不能同时选择。" in both
    assert dict(table(both, "summary")[1:])["上报债务人"] == "1"


def test_units_see_only_their_own_figures(app, browser, history):
    # a unit that took part in one case: that case's figures, whatever it asks for
    publicity = browser("publicity")
    page = publicity.get(url(unit="office")).get_data(as_text=True)
    summary = dict(table(page, "summary")[1:])
    assert (summary["上报债务人"], summary["认定"], summary["惩戒案件"]) == ("1", "1", "1")
    assert table(page, "measures")[1:] == [["县委宣传部", "1", "1"]]
    assert 'name="unit"' not in page  # no filter to choose
    assert "/stats/assessment?" in page and "/stats/cycle-times" not in page  # its own score only
    rows = csv_rows(publicity.get(url("/stats/export.csv", table="summary", bank="bank_icbc")))
    assert rows[1] == ["上报债务人", "1"]
    # a bank: the cases it reported
    page = browser("bank_icbc").get(url(bank="bank_abc")).get_data(as_text=True)
    assert table(page, "summary")[1:] == [list(r) for r in SUMMARY]
    page = browser("bank_abc").get(url()).get_data(as_text=True)
    assert all(v in ("0", "0.00") for _label, v in table(page, "summary")[1:])


def test_periods_and_a_wrong_range(app, browser, history):
    office = browser("office")
    with freeze_time(dt.datetime(2026, 3, 11, 2, 0, tzinfo=dt.UTC)):
        week = office.get("/stats/?period=week").get_data(as_text=True)
        assert "2026-03-09 – 2026-03-11" in week
        assert dict(table(week, "summary")[1:])["已结清并移出黑名单"] == "1"
        quarter = office.get("/stats/?period=quarter").get_data(as_text=True)
        assert "2026-01-01 – 2026-03-11" in quarter
        assert dict(table(quarter, "summary")[1:])["上报债务人"] == "3"
        wrong = office.get("/stats/?period=custom&from=2026-03-31&to=2026-03-01").get_data(as_text=True)
        assert "开始在前" in wrong and "2026-03-01 – 2026-03-11" in wrong


@pytest.mark.parametrize("by_ids", [True, False], ids=["hidden-by-ids", "hidden-by-subquery"])
def test_a_case_an_import_still_hides_counts_nowhere(app, browser, history, users, monkeypatch, by_ids):
    """The figures keep tables other than ``cases`` to the cases in sight by case id (no join):
    the ids of the hidden cases, or past ``HIDDEN_LIST_MAX`` the subquery; both hide alike."""

    from webapp.stats import figures

    if not by_ids:
        monkeypatch.setattr(figures, "HIDDEN_LIST_MAX", 0)
    office = browser("office")
    police = "县公安局"
    assessment = url("/stats/assessment.csv")
    assert police in office.get(assessment).get_data(as_text=True)
    hide_as_imported(app, users["bank_icbc"], history["sanctioned"])
    page = office.get(url()).get_data(as_text=True)
    # the sanctioned case gone: its report, interview, deadline, sanctions, referral, answer,
    # its loan and the repayment on it; the settled and the rejected cases stay
    assert table(page, "summary")[1:] == [
        ["上报债务人", "2"],
        ["认定", "1"],
        ["不予认定", "1"],
        ["约谈（谈话）次数", "0"],
        ["整改期限届满", "0"],
        ["惩戒案件", "0"],
        ["实施措施", "0"],
        ["移送", "0"],
        ["移送答复", "0"],
        ["已结清并移出黑名单", "1"],
        ["移出黑名单（各种原因）", "1"],
        ["上报金额（元）", "2012000.00"],
        ["回收金额（元）", "1006000.00"],
        ["期末未还金额（元）", "0.00"],
    ]
    assert table(page, "measures")[1:] == [["无"]]  # the empty table's one row says "none"
    assert police not in {row[0] for row in table(page, "overdue")[1:]}
    assert table(page, "stages")[1:] == [["无"]]
    # the assessment and the cycle times leave out the hidden case's tasks too
    assert police not in office.get(assessment).get_data(as_text=True)
    cycle = office.get(url("/stats/cycle-times.csv")).get_data(as_text=True)
    assert "answer_referral" not in cycle and "review" in cycle
