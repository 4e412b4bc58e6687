"""The case list searched by a part of the debtor's name (/cases?q=...)."""

from __future__ import annotations

import re

from tests.support import report_payload


def listed(page: str) -> list[int]:
    return sorted(int(n) for n in re.findall(r'href="/cases/(\d+)"', page))


def test_search_by_part_of_the_name_and_status(app, browser):
    bank = browser("bank_icbc")
    first = bank.report(report_payload(1, name="城关伟业科技有限公司"))
    second = bank.report(report_payload(2, name="永安伟业贸易有限公司"))
    other = bank.report(report_payload(3, name="张100%_真名"))
    office = browser("office")
    assert listed(office.get("/cases?q=伟业").get_data(as_text=True)) == [first, second]
    assert listed(office.get("/cases?q=城关伟业").get_data(as_text=True)) == [first]
    assert listed(office.get("/cases?q=伟业&status=closed").get_data(as_text=True)) == []
    # % and _ are matched as typed, not as wildcards
    assert listed(office.get("/cases?q=100%25_").get_data(as_text=True)) == [other]
    assert listed(office.get("/cases?q=%25").get_data(as_text=True)) == [other]
    assert listed(office.get("/cases?q=_").get_data(as_text=True)) == [other]
