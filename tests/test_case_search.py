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
    # a bank sees the cases it takes part in, found by name the same way
    assert listed(browser("bank_abc").get("/cases?q=伟业").get_data(as_text=True)) == []
    assert listed(bank.get("/cases?q=伟").get_data(as_text=True)) == [first, second]


def test_a_debtor_reported_again_under_a_new_name_is_found_by_it_in_every_case(app, browser):
    bank, office = browser("bank_icbc"), browser("office")
    old = bank.report(report_payload(7, name="旧名称贸易有限公司"))
    office.complete(old, "review", review_decision="reject", reject_reason="材料不全")
    loans = [{**report_payload(7)["loans"][0], "contract_no": "C-7-2"}]
    new = bank.report(report_payload(7, name="新名称贸易有限公司", loans=loans))
    assert new != old
    assert listed(office.get("/cases?q=新名称").get_data(as_text=True)) == [old, new]
    assert listed(office.get("/cases?q=旧名称").get_data(as_text=True)) == []
