"""The supervisors' dashboard: open cases counted by stage and age, as the page shows them."""

from __future__ import annotations

import datetime as dt
import re

from freezegun import freeze_time

from tests.support import report_payload

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


def test_open_cases_by_stage_and_age_buckets(app, browser):
    # ages at NOW: the 7-day limit itself falls in "7-30", as does day 29; 45 in "30-90"
    ages = [dt.timedelta(0), dt.timedelta(days=6, hours=23), dt.timedelta(days=7), dt.timedelta(days=29),
            dt.timedelta(days=45), dt.timedelta(days=120)]  # fmt: skip
    for n, age in enumerate(ages, start=1):
        with freeze_time(NOW - age):
            browser("bank_icbc").report(report_payload(n))
    with freeze_time(NOW - dt.timedelta(days=40)):
        case_id = browser("bank_icbc").report(report_payload(9))
        browser("office").complete(case_id, "review", review_decision="reject", reject_reason="重复上报")
    with freeze_time(NOW):
        page = browser("supervisor").get("/supervision/").get_data(as_text=True)
    table = page.split('id="stages"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>[^<]*</td>((?:<td class=\"num\">\d+</td>)+)</tr>", table)
    counts = [[int(n) for n in re.findall(r">(\d+)<", row)] for row in rows]
    assert counts == [[2, 2, 1, 1]]  # one stage (review); the rejected case is closed
