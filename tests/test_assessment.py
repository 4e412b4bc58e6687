"""Unit assessment: the history of tests/test_cycle_times.py (known due dates, one late review,
one reminder, tasks left overdue) scored with the weights of data/assessment.toml and ranked,
on the page and in the CSV; the office and auditors see every unit, a unit only its own row."""

from __future__ import annotations

import re

from tests.test_cycle_times import _csv_rows, history
from webapp.stats import assessment

MARCH = "/stats/assessment?from=2026-03-01&to=2026-03-31"


def _rows(page: str) -> list[list[str]]:
    body = re.search(r'<table class="list" id="assessment">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]


def test_the_weights_are_data_and_the_formula_is_theirs():
    assert assessment.weights() == {
        "base": 40.0,
        "on_time": 0.6,
        "lateness": 2.0,
        "reminder": 5.0,
        "overdue_open": 3.0,
    }
    # everything in time, never reminded, nothing overdue: 100; bounded below by 0
    assert assessment.score(4, 4, 0.0, 0, 0) == 100.0
    assert assessment.score(0, 0, 0.0, 30, 0) == 0.0


def test_ranking_on_the_page_and_in_the_csv(app, users, browser):
    history(app, browser)
    # The office's review of case 3 was due on Monday 9 March 23:59:59 (Shanghai; five working
    # days from Monday 2 March) and done on 16 March 09:00: 6 days 9 h 0 min 1 s late. At the
    # period's end its two interviews and the market regulator's two look-ups are open and overdue.
    lateness = 6 + (9 * 3600 + 1) / 86400
    office_score = round(40 + 0.6 * 100 * 2 / 3 - 2 * lateness - 3 * 2, 1)
    assert office_score == 61.2
    expected = [
        # rank, unit, completed, on time, late, lateness, reminders, overdue open, score
        ["1", "金融监管局监管组", "2", "2", "0", "0.00", "1", "0", "95.0"],  # 40 + 60 - 5
        ["2", "县市场监管局", "0", "0", "0", "0.00", "0", "2", "94.0"],  # 40 + 60 - 6
        [
            "3",
            "县打击逃废金融债务工作领导小组办公室（县地方金融监督管理局）",
            "3",
            "2",
            "1",
            "6.38",
            "0",
            "2",
            "61.2",
        ],
    ]
    for name in ("office", "auditor"):
        page = browser(name).get(MARCH).get_data(as_text=True)
        assert _rows(page) == expected, name
    rows = _csv_rows(browser("office").get(MARCH.replace("assessment?", "assessment.csv?")))
    assert rows[0] == [
        "排名",
        "单位",
        "已办结",
        "按期",
        "逾期",
        "平均逾期天数",
        "收到督办",
        "逾期未办任务",
        "得分",
    ]
    assert rows[1:] == expected

    # a unit sees its own row, with its rank among all
    market = browser("market")
    assert _rows(market.get(MARCH).get_data(as_text=True)) == [expected[1]]
    assert _csv_rows(market.get(MARCH.replace("assessment?", "assessment.csv?")))[1:] == [expected[1]]
    bank = browser("bank_icbc").get(MARCH).get_data(as_text=True)
    assert 'id="assessment"' not in bank and "本期间没有单位办理任务或收到督办" in bank

    # up to 4 March: the office's two reviews in time, nothing overdue yet, the reminder later
    short = browser("office").get("/stats/assessment?from=2026-03-01&to=2026-03-04").get_data(as_text=True)
    assert _rows(short) == [["1", expected[2][1], "2", "2", "0", "0.00", "0", "0", "100.0"]]
