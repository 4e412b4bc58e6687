"""The judgment-defaulter process (seed 004) through the pages, on both databases: the court
lists a defaulter, every cooperating unit applies the restrictions of its field in parallel,
the police answer a refusal-to-execute referral in writing, and the court's record of the
judgment fulfilled takes the defaulter off the list with every restriction lifted."""

from __future__ import annotations

import tomllib
from typing import Any

from flask import Flask
from sqlalchemy import select

from tests.support import ROOT, case_row, credit_code, open_tasks, report_payload
from webapp.models import CaseEvent, CaseLink, Sanction
from webapp.taskforms.keywords import today

RESTRICTIONS = tomllib.loads((ROOT / "webapp" / "data" / "restrictions.toml").read_text(encoding="utf-8"))
UNITS = [entry["unit"] for entry in RESTRICTIONS["sanction"]]
FIRST_MEASURE = {entry["unit"]: entry["measures"][0]["code"] for entry in RESTRICTIONS["sanction"]}


def listing_form(n: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "enforcement_no": f"（2026）冀0125执{n}号",
        "debtor_kind": "enterprise",
        "name": f"失信企业{n}有限公司",
        "identifier": credit_code(n),
        "legal_representative": "张三",
        "amount_owed": "125000.50",
        "duty": "支付货款及利息",
        "listed_on": today().isoformat(),
        **extra,
    }


def list_defaulter(browser, n: int = 1, **extra: Any) -> int:
    response = browser("court").post("/defaulters/new", data=listing_form(n, **extra))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def _kinds(app: Flask, case_id: int) -> list[str]:
    with app.extensions["db_sessionmaker"]() as session:
        stmt = select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
        return list(session.scalars(stmt))


def test_listing_opens_a_task_for_every_unit_of_the_catalogue(app, browser):
    case_id = list_defaulter(browser)
    case = case_row(app, case_id)
    assert case.blacklisted and case.status == "open" and case.stage == "sanction"
    expected = sorted(
        [("apply_restriction", u) for u in UNITS] + [("record_exit", "court"), ("refer_refusal", "court")]
    )
    assert open_tasks(app, case_id) == expected
    page = browser("court").get(f"/cases/{case_id}").get_data(as_text=True)
    assert "失信被执行人联合惩戒" in page  # the case's process, on its page


def test_each_unit_applies_its_restrictions_then_the_exit_lifts_them_all(app, browser):
    case_id = list_defaulter(browser)
    for unit in UNITS:
        task_page = browser(unit).get("/inbox").get_data(as_text=True)
        assert "实施失信惩戒" in task_page
        browser(unit).complete(
            case_id, "apply_restriction", measures=[FIRST_MEASURE[unit]], document_no=f"{unit}-1"
        )
    with app.extensions["db_sessionmaker"]() as session:
        applied = {
            s.unit_code: s.measures
            for s in session.scalars(select(Sanction).where(Sanction.case_id == case_id))
        }
    assert applied == {u: [FIRST_MEASURE[u]] for u in UNITS}
    case = case_row(app, case_id)
    assert case.stage == "listed" and case.published_at is not None  # publicity's media exposure
    public = app.test_client().get("/public/blacklist").get_data(as_text=True)
    assert "失信企业1有限公司" in public

    browser("court").complete(
        case_id,
        "record_exit",
        exit_reason="fulfilled",
        exit_document_no="（2026）冀0125执1号之一",
        exit_date=today().isoformat(),
    )
    case = case_row(app, case_id)
    assert not case.blacklisted and case.published_at is None and case.closing_reason == "fulfilled"
    assert open_tasks(app, case_id) == sorted(("lift_restriction", u) for u in UNITS)
    assert "失信企业1有限公司" not in app.test_client().get("/public/blacklist").get_data(as_text=True)
    for unit in UNITS:
        browser(unit).complete(case_id, "lift_restriction", lift_confirmed=True)
    case = case_row(app, case_id)
    assert case.status == "closed" and case.outcome == "delisted"
    with app.extensions["db_sessionmaker"]() as session:
        assert all(
            s.lifted_at is not None
            for s in session.scalars(select(Sanction).where(Sanction.case_id == case_id))
        )
    kinds = _kinds(app, case_id)
    assert kinds.count("sanction_applied") == len(UNITS) and kinds.count("sanction_lifted") == len(UNITS)
    assert kinds.index("blacklist_entered") < kinds.index("sanction_applied") < kinds.index("blacklist_left")


def test_exit_while_restrictions_are_pending_cancels_them_and_lifts_only_those_applied(app, browser):
    case_id = list_defaulter(browser)
    browser("market").complete(case_id, "apply_restriction", measures=["jd_no_legal_representative"])
    browser("ndrc").complete(case_id, "apply_restriction", no_measure=True, no_measure_reason="无在批项目")
    browser("court").complete(
        case_id,
        "record_exit",
        exit_reason="revoked",
        exit_document_no="撤销决定书1号",
        exit_date=today().isoformat(),
    )
    assert open_tasks(app, case_id) == [("lift_restriction", "market")]
    browser("market").complete(case_id, "lift_restriction", lift_confirmed=True)
    case = case_row(app, case_id)
    assert case.status == "closed" and case.closing_reason == "revoked"
    assert _kinds(app, case_id).count("task_cancelled") == len(UNITS) - 2 + 1  # + the court's refer_refusal


def test_refusal_to_execute_police_answer_in_writing_then_prosecution_and_judgment(app, browser):
    case_id = list_defaulter(browser)
    court = browser("court")
    court.complete(case_id, "refer_refusal", expect=422, refer_decision="refer")  # facts and letter needed
    court.complete(
        case_id,
        "refer_refusal",
        refer_decision="refer",
        refusal_facts="有能力履行而转移财产",
        referral_document_no="移送函1号",
    )
    assert ("police_filing", "police") in open_tasks(app, case_id)
    police = browser("police")
    # a refusal to file is answered with its reasons
    police.complete(
        case_id,
        "police_filing",
        expect=422,
        filing_result="not_filed",
        filing_document_no="不立案通知1号",
        filing_date=today().isoformat(),
    )
    police.complete(
        case_id,
        "police_filing",
        filing_result="filed",
        filing_document_no="立案决定书1号",
        filing_date=today().isoformat(),
    )
    police.complete(
        case_id,
        "police_outcome",
        police_result="transferred",
        document_no="起诉意见书1号",
        decision_date=today().isoformat(),
    )
    browser("procuratorate").complete(
        case_id,
        "prosecution_decision",
        prosecution_result="prosecuted",
        document_no="起诉书1号",
        decision_date=today().isoformat(),
    )
    assert ("court_judgment", "court") in open_tasks(app, case_id)
    court.complete(
        case_id,
        "court_judgment",
        judgment_no="(2026)冀0125刑初3号",
        judgment_date=today().isoformat(),
        judgment_result="enforced_in_full",
        amount_enforced=125000.5,
    )
    assert [e for e, _unit in open_tasks(app, case_id) if e != "apply_restriction"] == ["record_exit"]
    with app.extensions["db_sessionmaker"]() as session:
        answers = [
            e.data["answer"]
            for e in session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "referral_answered")
            )
        ]
    assert answers == ["filed", "transferred", "prosecuted", "enforced_in_full"]
    # the political-legal committee sees the chain of written answers
    page = browser("political_legal").get("/referrals/").get_data(as_text=True)
    assert f"/cases/{case_id}" in page or f"#{case_id}" in page


def test_a_defaulter_on_an_open_debt_case_is_linked_not_merged(app, browser):
    debt_case = browser("bank_icbc").report(report_payload(7))
    case_id = list_defaulter(browser, 7, identifier=credit_code(7))
    assert debt_case != case_id
    with app.extensions["db_sessionmaker"]() as session:
        links = [(link.case_id, link.linked_case_id) for link in session.scalars(select(CaseLink))]
    assert links == [(case_id, debt_case)]
    assert "case_linked" in _kinds(app, case_id) and "case_linked" in _kinds(app, debt_case)
    assert case_row(app, debt_case).status == "open" and case_row(app, debt_case).stage == "review"


def test_the_same_enforcement_case_is_not_listed_twice(app, browser):
    list_defaulter(browser)
    response = browser("court").post("/defaulters/new", data=listing_form(1))
    assert response.status_code == 409
    assert "已" in response.get_data(as_text=True) or "already" in response.get_data(as_text=True)


def test_only_the_court_lists_defaulters(app, browser):
    assert browser("bank_icbc").get("/defaulters/new").status_code == 403
    assert browser("office").post("/defaulters/new", data=listing_form(2)).status_code == 403


def test_replay_exports_api_and_chain_work_for_a_defaulter_case(app, browser):
    case_id = list_defaulter(browser, 3)
    browser("market").complete(case_id, "apply_restriction", measures=["jd_no_legal_representative"])
    auditor = browser("auditor")
    replay = auditor.get(f"/audit/cases/{case_id}?step=2")
    assert replay.status_code == 200 and "apply_restriction" in replay.get_data(as_text=True)
    exported = auditor.get(f"/audit/cases/{case_id}/export.json").get_json()
    assert [e["kind"] for e in exported["events"]][:2] == ["reported", "blacklist_entered"]
    assert "jd_no_legal_representative" in auditor.get(f"/audit/cases/{case_id}/export.csv").get_data(
        as_text=True
    )
    assert auditor.get(f"/audit/cases/{case_id}/print").status_code == 200
    verified = auditor.get(f"/audit/verify?case={case_id}")
    assert verified.status_code == 200
    # the case's own diagram on its page
    diagram = browser("court").get(f"/cases/{case_id}/diagram.bpmn").get_data(as_text=True)
    assert 'id="judgment_defaulter"' in diagram and "apply_restriction" in diagram


def test_a_bank_looking_up_a_listed_defaulter_sees_what_every_bank_applies(app, browser):
    case_id = list_defaulter(browser, 4)
    browser("regulator").complete(case_id, "apply_restriction", measures=["jd_all_banks_refuse"])
    page = browser("bank_abc").post("/lookups/", data={"identifier": credit_code(4)}).get_data(as_text=True)
    assert "在黑名单中" in page
    assert "不开新户、不发放贷款" in page  # a measure of every bank's field (seed 004 §三(十七))
    assert f"/cases/{case_id}" not in page  # the bank takes no part in the case
