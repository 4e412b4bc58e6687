"""Cycle times per step and per case, and their heatmap page: a history written by hand with
known durations (the clock moved between opening and completing), checked on the page, the CSV
and the access rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from freezegun import freeze_time

from tests.support import open_task_id, report_payload

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # Monday 09:00 in Shanghai
MARCH = "/stats/cycle-times?from=2026-03-01&to=2026-03-31"


def history(app: Any, browser: Any) -> dict[str, int]:
    """Three reports at T0. The office reviews them after 1, 2 and 14 days (the third rejected,
    which closes its case); the regulator passes the two confirmed ones to the banks at T0 + 5
    days (after 4 and 3 days). A supervisor reminds the regulator once, at T0 + 3 days."""
    bank, office, regulator = browser("bank_icbc"), browser("office"), browser("regulator")
    with freeze_time(T0) as clock:
        cases = {n: bank.report(report_payload(n)) for n in (1, 2, 3)}
        clock.move_to(T0 + dt.timedelta(days=1))
        office.complete(cases[1], "review", review_decision="confirm", classification="evasion")
        clock.move_to(T0 + dt.timedelta(days=2))
        office.complete(cases[2], "review", review_decision="confirm", classification="evasion")
        clock.move_to(T0 + dt.timedelta(days=3))
        task = open_task_id(app, cases[1], "notify_banks")
        response = browser("supervisor").post(
            "/supervision/remind", data={"task_ids": [task], "note": "请尽快"}
        )
        assert response.status_code == 302
        clock.move_to(T0 + dt.timedelta(days=5))
        for n in (1, 2):
            regulator.complete(
                cases[n], "notify_banks", notice_date="2026-03-07", notice_document_no=f"金监通〔2026〕{n}号"
            )
        clock.move_to(T0 + dt.timedelta(days=14))
        office.complete(cases[3], "review", review_decision="reject", reject_reason="材料不全")
    return cases


def _csv_rows(response: Any) -> list[list[str]]:
    import csv
    import io

    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def _cells(page: str, element: str) -> list[str]:
    """The cells of the table row of ``element`` (tags stripped)."""
    import re

    row = re.search(rf'<tr data-element="{element}">(.*?)</tr>', page, re.S)
    assert row, element
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def _heat(page: str) -> dict[str, Any]:
    import html
    import json
    import re

    found = re.search(r'data-heat="([^"]*)"', page)
    assert found
    return dict(json.loads(html.unescape(found.group(1))))


def test_cycle_times_per_step_and_case(app, users, browser):
    history(app, browser)
    office = browser("office")
    page = office.get(MARCH).get_data(as_text=True)
    # review: 1, 2 and 14 days; notify_banks: 4 and 3 days (percentile_cont's interpolation)
    assert _cells(page, "review") == ["审核上报", "3", "2.0", "11.6"]
    assert _cells(page, "notify_banks") == ["通知各银行机构", "2", "3.5", "3.9"]
    assert page.index('data-element="notify_banks"') < page.index('data-element="review"')  # slowest first
    # the rejected case closed after 14 days; the other two are still open
    assert 'id="case-p50">14.0<' in page and 'id="case-p90">14.0<' in page and 'data-count="1"' in page
    # the heatmap's data: the slowest median red (level 4), review at 2/3.5 of it (level 2)
    assert _heat(page) == {
        "notify_banks": {"level": 4, "label": "中位 3.5 天"},
        "review": {"level": 2, "label": "中位 2.0 天"},
    }
    assert 'class="swatch heat-4"></span> 通知各银行机构' in page

    rows = _csv_rows(office.get(MARCH.replace("cycle-times?", "cycle-times.csv?")))
    assert rows == [
        ["流程元素", "环节", "已办结", "中位数（天）", "第90百分位（天）"],
        ["notify_banks", "通知各银行机构", "2", "3.5", "3.9"],
        ["review", "审核上报", "3", "2.0", "11.6"],
        ["", "从上报到移出名单（案件）", "1", "14.0", "14.0"],
    ]

    # a shorter period (days in Shanghai's time): the reviews after 1 and 2 days only
    short = office.get("/stats/cycle-times?from=2026-03-01&to=2026-03-04").get_data(as_text=True)
    assert _cells(short, "review") == ["审核上报", "2", "1.5", "1.9"]
    assert 'data-element="notify_banks"' not in short and "本期间没有结束的案件" in short
    # the diagram the heatmap is drawn on
    diagram = office.get("/stats/cycle-times/diagram.bpmn")
    assert diagram.status_code == 200 and b'id="notify_banks"' in diagram.data


def test_cycle_times_are_for_the_office_and_auditors(app, users, browser):
    for name in ("office", "supervisor", "auditor"):
        assert browser(name).get(MARCH).status_code == 200, name
        assert browser(name).get("/stats/cycle-times/diagram.bpmn").status_code in (200, 404), name
    for name in ("bank_icbc", "regulator"):
        assert browser(name).get(MARCH).status_code == 403, name
        assert browser(name).get("/stats/cycle-times.csv").status_code == 403, name
        assert browser(name).get("/stats/cycle-times/diagram.bpmn").status_code == 403, name
    assert app.test_client().get(MARCH).status_code == 302


def test_percentiles_from_buckets_are_within_half_a_bucket():
    """Many durations: the buckets' percentiles within 1 % of the exact ones (the page shows
    tenths of a day); a few distinct durations, each alone in its bucket: exact."""
    import random

    from webapp.stats import facts
    from webapp.stats.cycle_times import bucket_percentile, percentile

    rng = random.Random(20)  # noqa: S311 - test data, not secrets
    for _trial in range(20):
        values = [rng.lognormvariate(12, 1.5) for _ in range(rng.randint(50, 3000))]
        buckets: dict[int, list[int]] = {}
        for v in values:
            row = buckets.setdefault(facts.bucket(v), [0, 0])
            row[0] += 1
            row[1] += round(v)
        counted = {b: (n, s) for b, (n, s) in buckets.items()}
        for fraction in (0.5, 0.9):
            exact, found = percentile(values, fraction), bucket_percentile(counted, fraction)
            assert abs(found - exact) <= 0.01 * exact, (fraction, exact, found)
    few = [86400.0, 2 * 86400.0, 14 * 86400.0]
    alone = {facts.bucket(v): (1, round(v)) for v in few}
    assert bucket_percentile(alone, 0.9) == percentile(few, 0.9)
