"""Blacklist look-ups (issue 20): listed, delisted or not; the measures of the looking unit's
field only; the case only to a unit taking part; one-off on the page, a list by CSV or XLSX,
the API; each look-up an event in the looking unit's chain, the identifier not in clear."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from flask import Flask
from freezegun import freeze_time
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from tests.support import (
    assess,
    case_row,
    confirm,
    credit_code,
    identity_number,
    interview_form,
    open_tasks,
    report_payload,
)
from tests.test_browser import live_url as live_url  # the fixture, used by name
from tests.test_browser import pytestmark as needs_chromium
from webapp.audit.chain import verify_chain
from webapp.cases.identifiers import mask
from webapp.models import CaseEvent

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
LISTED, DELISTED, REVIEW, UNKNOWN = 1, 2, 3, 9


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


def _scene(app: Flask, browser, clock) -> dict[int, int]:
    """Debtor 1 listed on 2026-03-02 with sanctions of icbc (the creditor bank) and the court;
    debtor 2 listed and delisted after a verified settlement; debtor 3 reported, at review."""
    bank = browser("bank_icbc")
    listed = bank.report(report_payload(LISTED))
    confirm(browser, listed)
    browser("office").complete(listed, "interview", **interview_form(30))
    clock.tick(dt.timedelta(days=31))
    app.test_cli_runner().invoke(args=["timers", "fire"])
    assess(browser, listed)
    bank.complete(listed, "apply_sanction", measures=["no_new_credit", "no_new_accounts"])
    browser("court").complete(listed, "apply_sanction", measures=["exit_ban"])

    delisted = bank.report(report_payload(DELISTED))
    confirm(browser, delisted)
    bank.settle(delisted)
    browser("office").complete(delisted, "verify_settlement", certificate_decision="verified")
    clock.tick(dt.timedelta(days=1))
    review = bank.report(report_payload(REVIEW))
    assert case_row(app, listed).blacklisted
    assert not case_row(app, delisted).blacklisted and case_row(app, delisted).delisted_at
    assert not case_row(app, review).blacklisted, open_tasks(app, review)
    return {LISTED: listed, DELISTED: delisted, REVIEW: review}


def _unit_events(app: Flask, unit: str) -> list[CaseEvent]:
    with app.extensions["db_sessionmaker"]() as session:
        chain = f"unit:{unit}"
        assert verify_chain(session, chain).ok
        return list(
            session.scalars(select(CaseEvent).where(CaseEvent.chain == chain).order_by(CaseEvent.seq))
        )


def _api(app: Flask, username: str, body: object) -> tuple[int, dict]:
    token = app.test_cli_runner().invoke(args=["tokens", "issue", username]).output.strip()
    response = app.test_client().post(
        "/api/v1/lookups", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code, response.get_json()


def _answer_section(page: str) -> str:
    start = page.index('id="lookup-answer"')
    return page[start : page.index("</section>", start)]


BANK_MEASURES = ["停止开设新账户", "停止办理新的贷款和授信"]


def test_the_answer_says_listed_since_when_and_the_measures_of_the_units_field(app, browser, clock):
    cases = _scene(app, browser, clock)
    outsider = browser("bank_abc")
    response = outsider.post("/lookups/", data={"identifier": credit_code(LISTED)})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    answer = _answer_section(page)
    assert "在黑名单中" in answer and "2026-03-02" in answer
    # the bank measures in force, in the catalogue's order; not the court's exit ban
    assert answer.index(BANK_MEASURES[0]) < answer.index(BANK_MEASURES[1])
    assert "限制出国出境" not in answer
    # a bank outside the case learns nothing of the case: no link, no loan, no stage
    assert f"/cases/{cases[LISTED]}" not in page and "C-1-1" not in page
    assert credit_code(LISTED) not in page and mask(credit_code(LISTED)) in page

    # the court sees its own measure, and the case it takes part in
    court = _answer_section(
        browser("court").post("/lookups/", data={"identifier": credit_code(LISTED)}).get_data(as_text=True)
    )
    assert "限制出国出境" in court and BANK_MEASURES[0] not in court
    assert f'href="/cases/{cases[LISTED]}"' in court
    # the creditor bank takes part too
    own = _answer_section(
        browser("bank_icbc")
        .post("/lookups/", data={"identifier": credit_code(LISTED)})
        .get_data(as_text=True)
    )
    assert f'href="/cases/{cases[LISTED]}"' in own and BANK_MEASURES[0] in own

    delisted = _answer_section(
        outsider.post("/lookups/", data={"identifier": credit_code(DELISTED)}).get_data(as_text=True)
    )
    assert "已移出黑名单" in delisted and "2026-04-02" in delisted and "本单位适用" not in delisted
    # a debtor under review is no business of the looking unit: "not listed", as an unknown one
    for n in (REVIEW, UNKNOWN):
        answer = _answer_section(
            outsider.post("/lookups/", data={"identifier": credit_code(n)}).get_data(as_text=True)
        )
        assert "不在黑名单中" in answer and "测试债务人" not in answer
    by_name = _answer_section(
        outsider.post("/lookups/", data={"name": " 测试债务人1 "}).get_data(as_text=True)
    )
    assert "在黑名单中" in by_name and mask(credit_code(LISTED)) in by_name
    assert "不在黑名单中" in _answer_section(
        outsider.post("/lookups/", data={"name": "测试债务人"}).get_data(as_text=True)
    )

    bad = outsider.post("/lookups/", data={"identifier": "91340320000001001X"})
    assert bad.status_code == 422 and "不是有效的居民身份证号码或统一社会信用代码" in bad.get_data(
        as_text=True
    )
    assert outsider.post("/lookups/", data={}).status_code == 422
    assert browser("auditor").get("/lookups/").status_code == 403


def test_each_look_up_is_an_event_of_the_looking_unit_with_the_identifier_masked(app, browser, clock):
    _scene(app, browser, clock)
    person = identity_number(5)
    outsider = browser("bank_abc")
    outsider.post("/lookups/", data={"identifier": credit_code(LISTED)})
    outsider.post("/lookups/", data={"identifier": person})
    outsider.post("/lookups/", data={"name": "测试债务人1"})
    outsider.post("/lookups/", data={"identifier": "123"})  # refused: not recorded
    events = _unit_events(app, "bank_abc")
    assert [e.kind for e in events] == ["blacklist_lookup"] * 3
    assert [e.data["status"] for e in events] == ["listed", "not_listed", "listed"]
    assert events[0].data["identifier"] == mask(credit_code(LISTED))
    assert events[1].data["identifier"] == mask(person) and len(events[1].data["identifier_hash"]) == 64
    assert events[2].data["name"] == "测试债务人1"
    assert all(e.actor_id and e.unit_code == "bank_abc" and e.created_at for e in events)
    stored = json.dumps([e.data for e in events], ensure_ascii=False)
    assert credit_code(LISTED) not in stored and person not in stored
    assert _unit_events(app, "bank_icbc") == []


def _csv(rows: list[list[str]]) -> bytes:
    return "\r\n".join(",".join(r) for r in rows).encode("utf-8")


def _xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _result(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.data)).active
    return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_a_list_is_answered_row_by_row_in_a_result_file(app, browser, clock, file_format):
    cases = _scene(app, browser, clock)
    rows = [
        ["证件号码/统一社会信用代码", "名称"],
        [credit_code(LISTED), ""],
        [credit_code(DELISTED), ""],
        [credit_code(REVIEW), ""],
        ["12345", ""],
        ["", "测试债务人1"],
        ["", ""],
        [identity_number(UNKNOWN), "忽略的名称"],
        ["", "=cmd|' /C calc'!A0"],
    ]
    data = _csv(rows) if file_format == "csv" else _xlsx(rows)
    court = browser("court")
    response = court.post(
        "/lookups/batch",
        data={"file": (io.BytesIO(data), f"list.{file_format}")},
        content_type="multipart/form-data",
    )
    listed = mask(credit_code(LISTED))
    case = str(cases[LISTED])
    assert _result(response) == [
        [
            "行号",
            "查询内容",
            "查询结果",
            "债务人",
            "列入时间",
            "移出时间",
            "本单位适用的惩戒措施",
            "案件",
            "错误",
        ],
        ["1", listed, "在黑名单中", f"测试债务人1 {listed}", "2026-03-02", "", "限制出国出境", case, ""],
        [
            "2",
            mask(credit_code(DELISTED)),
            "已移出黑名单",
            f"测试债务人2 {mask(credit_code(DELISTED))}",
            "",
            "2026-04-02",
            "",
            "",
            "",
        ],
        ["3", mask(credit_code(REVIEW)), "不在黑名单中", "", "", "", "", "", ""],
        ["4", "", "", "", "", "", "", "", "证件号码为 18 位（居民身份证号码或统一社会信用代码）。"],
        [
            "5",
            "测试债务人1",
            "在黑名单中",
            f"测试债务人1 {listed}",
            "2026-03-02",
            "",
            "限制出国出境",
            case,
            "",
        ],
        ["6", mask(identity_number(UNKNOWN)), "不在黑名单中", "", "", "", "", "", ""],
        ["7", "'=cmd|' /C calc'!A0", "不在黑名单中", "", "", "", "", "", ""],
    ]
    (event,) = _unit_events(app, "court")
    assert event.kind == "blacklist_lookup_batch"
    assert event.data == {"source": "file", "count": 7, "invalid": 1, "listed": 2}


def test_a_file_that_cannot_be_read_is_refused_as_a_whole(app, browser):
    bank = browser("bank_abc")
    for content in (b"", _csv([["foo", "bar"], ["1", "2"]]), _csv([["名称"]])):
        response = bank.post(
            "/lookups/batch",
            data={"file": (io.BytesIO(content), "l.csv")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 422
    too_many = _csv([["名称"]] + [[f"名{i}"] for i in range(10_001)])
    response = bank.post(
        "/lookups/batch", data={"file": (io.BytesIO(too_many), "l.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 422 and "10,000" in response.get_data(as_text=True)
    assert _unit_events(app, "bank_abc") == []
    template = bank.get("/lookups/template.xlsx")
    assert _result(template) == [["证件号码/统一社会信用代码", "名称"]]


def test_the_api_answers_one_or_a_list(app, browser, clock):
    cases = _scene(app, browser, clock)
    status, body = _api(app, "bank_abc", {"identifier": credit_code(LISTED)})
    assert status == 200
    assert body["status"] == "listed" and body["query"] == mask(credit_code(LISTED))
    (match,) = body["matches"]
    assert match["measures"] == ["no_new_accounts", "no_new_credit"] and match["case_id"] is None
    assert match["listed_since"].startswith("2026-03-02")
    status, body = _api(app, "bank_icbc", {"identifier": credit_code(LISTED)})
    assert body["matches"][0]["case_id"] == cases[LISTED]

    status, body = _api(
        app,
        "bank_abc",
        {"lookups": [{"identifier": credit_code(DELISTED)}, {"name": "无此人"}, {"identifier": "x"}, "bad"]},
    )
    assert status == 200
    results = body["results"]
    assert [r["status"] for r in results] == ["delisted", "not_listed", None, None]
    assert results[2]["error"] and results[3]["error"]
    assert results[0]["matches"][0]["delisted_at"].startswith("2026-04-0")
    assert _api(app, "bank_abc", {"identifier": "12"})[0] == 422
    assert _api(app, "bank_abc", {"lookups": []})[0] == 422
    assert _api(app, "bank_abc", {"lookups": [{"name": "a"}] * 10_001})[0] == 422
    assert _api(app, "auditor", {"name": "测试债务人1"})[0] == 403
    events = _unit_events(app, "bank_abc")
    assert [e.kind for e in events] == ["blacklist_lookup", "blacklist_lookup_batch"]
    assert events[1].data == {"source": "api", "count": 4, "invalid": 2, "listed": 0}
    assert credit_code(LISTED) not in json.dumps([e.data for e in events])


@needs_chromium
def test_the_look_up_and_the_case_search_fit_a_phone(app, users, live_url):
    from playwright.sync_api import sync_playwright

    from tests.support import Browser
    from tests.test_browser import _launch
    from tests.test_browser_phone import _check, _phone

    make = lambda name: Browser(app, name)  # noqa: E731
    case_id = make("bank_icbc").report(report_payload(LISTED))
    confirm(make, case_id)
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page, errors = _phone(browser, live_url, "bank_abc")
            _check(page, "/lookups/")
            page.fill("#identifier", credit_code(LISTED))
            page.click("#lookup button[type=submit]")
            page.wait_for_selector("#lookup-answer")
            assert "在黑名单中" in page.inner_text("#lookup-answer")
            _check(page, "/lookups/")
            office, office_errors = _phone(browser, live_url, "office")
            _check(office, "/cases?stage=review&amount_min=1000&from=2026-01-01")
            assert office.locator("#identifier-search").is_visible()
            assert errors == [] and office_errors == []
        finally:
            browser.close()
