"""The reporting bank hears of every milestone of its case (issue 19), driven through the
pages as users do: confirmed, deadline set, sanctions started, referred, settled and
delisted, closed — one notification each, in Chinese on its notifications page, and by
e-mail when the bank's user chose it."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from tests.support import SANCTION_MEASURES, case_row, confirm, interview_form, open_tasks, report_payload
from webapp.models import Notification, OutboxMail

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
SANCTIONING = ["bank_icbc", "court", "finance", "land_housing", "market", "ndrc", "publicity"]


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


def fire_timers(app) -> None:
    result = app.test_cli_runner().invoke(args=["timers", "fire"])
    assert result.exit_code == 0, result.output


def notices(app, unit: str) -> list[Notification]:
    with app.extensions["db_sessionmaker"]() as session:
        return list(
            session.scalars(
                select(Notification).where(Notification.unit_code == unit).order_by(Notification.id)
            )
        )


def test_the_reporting_bank_hears_of_every_milestone(app, browser, clock):
    bank, office = browser("bank_icbc"), browser("office")
    response = bank.post("/account/notifications", data={"email": "icbc@example.cn", "notify_by": "each"})
    assert response.status_code == 302
    case_id = bank.report(report_payload(1))
    # a second creditor bank reports the same debtor: its loan joins the case
    other = report_payload(1)
    other["loans"][0]["contract_no"] = "ABC-1"
    assert browser("bank_abc").report(other) == case_id
    confirm(browser, case_id)
    office.complete(case_id, "interview", **interview_form(30))
    clock.move_to(case_row(app, case_id).next_timer_at + dt.timedelta(seconds=1))
    fire_timers(app)
    office.complete(case_id, "assess_rectification", assessment="full")
    sanctioning = [u for e, u in open_tasks(app, case_id) if e == "apply_sanction"]
    assert sorted(sanctioning) == sorted([*SANCTIONING, "bank_abc"])
    for unit in sanctioning:
        measure = SANCTION_MEASURES.get(unit, SANCTION_MEASURES["bank_icbc"])
        browser(unit).complete(case_id, "apply_sanction", measures=[measure])
    office.complete(case_id, "decide_referral", referral_decision="police", referral_reason="涉嫌拒执")
    bank.settle(case_id, "JQ-1")
    browser("bank_abc").settle(case_id, "JQ-2")
    office.complete(case_id, "verify_settlement", certificate_decision="verified")
    for unit in sanctioning:
        browser(unit).complete(case_id, "lift_sanction", lift_confirmed=True)
    assert case_row(app, case_id).status == "closed" and open_tasks(app, case_id) == []

    received = notices(app, "bank_icbc")
    assert [n.kind for n in received] == [
        "case_confirmed",
        "case_deadline_set",
        "case_sanctions_started",
        "case_referred",
        "case_delisted",
        "case_closed",
    ]
    assert all(n.case_id == case_id for n in received)
    assert received[1].params == {"days": 30, "step": "interview", "due": "2026-04-01"}
    assert received[2].params["units"] == 8  # the units asked to apply their measures
    assert received[3].params == {"unit": "police", "units": 1}
    # each creditor bank once; the other units are not told of these milestones
    assert [n.kind for n in notices(app, "bank_abc")] == [n.kind for n in received]
    assert notices(app, "court") == [] and notices(app, "police") == []

    page = bank.get("/notifications").get_data(as_text=True)
    for text in [
        f"您上报的案件 #{case_id} 已认定：恶意逃废债：警示约谈、限期整改。",
        f"案件 #{case_id}：责令债务人 30 日内整改（警示约谈）。 整改期限至 2026-04-01。",
        f"案件 #{case_id} 已启动联合惩戒：8 个单位将实施惩戒措施。",
        f"案件 #{case_id} 已移送处置：移送公安（涉嫌犯罪）。",
        f"案件 #{case_id} 的债务人已移出黑名单：",
        f"案件 #{case_id} 已结案：",
    ]:
        assert text in page, text
    assert "case_confirmed" not in page and "case_closed<" not in page

    # the bank's user chose an e-mail for each: one per milestone, same words
    with app.extensions["db_sessionmaker"]() as session:
        mails = list(session.scalars(select(OutboxMail).order_by(OutboxMail.id)))
    assert [m.notification_id for m in mails] == [n.id for n in received]
    assert mails[3].subject == f"【联动】案件 #{case_id} 已移送处置：移送公安（涉嫌犯罪）。"


def test_extension_and_closing_without_settlement(app, browser, clock):
    """A deadline extended is a milestone too; a closing without settlement with nothing to
    lift closes the case at once: told once (as before), not again as closed or delisted."""
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(2))
    confirm(browser, case_id)
    office.complete(case_id, "interview", **interview_form(30))
    clock.move_to(case_row(app, case_id).next_timer_at + dt.timedelta(seconds=1))
    fire_timers(app)
    office.complete(
        case_id, "assess_rectification", assessment="extend", extension_days=15, extension_reason="已部分还款"
    )
    response = office.post(
        f"/cases/{case_id}/close",
        data={
            "closing_reason": "deceased_dissolved",
            "certificate_no": "注销证明1",
            "closing_notes": "企业已注销",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    kinds = [(n.kind, n.params.get("step")) for n in notices(app, "bank_icbc")]
    assert kinds == [
        ("case_confirmed", None),
        ("case_deadline_set", "interview"),
        ("case_deadline_set", "assess_rectification"),
        ("case_closed_without_settlement", None),
    ]
    page = bank.get("/notifications").get_data(as_text=True)
    assert f"案件 #{case_id}：责令债务人 15 日内整改（延长整改期限）。" in page
    assert f"案件 #{case_id} 已未结清结案" in page


def test_an_officials_case(app, browser, clock):
    """An official's case: the employer's talk sets the deadline, the organisation department's
    三停五不 are the sanctions, the referral to discipline follows without an office decision."""
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(4, kind="official"))
    confirm(browser, case_id, "official_talk")
    browser("employer_education").complete(
        case_id, "official_talk", talk_date="2026-03-02", talker="局长", rectification_days=20
    )
    clock.move_to(START + dt.timedelta(days=21))
    fire_timers(app)
    browser("organization").complete(case_id, "three_stops", measures=["stop_post", "stop_pay"])
    browser("discipline").complete(
        case_id,
        "answer_referral",
        referral_answer="filed",
        answer_document_no="纪3号",
        answer_date="2026-03-02",
    )
    bank.settle(case_id)
    office.complete(case_id, "verify_settlement", certificate_decision="verified")
    browser("organization").complete(case_id, "lift_sanction", lift_confirmed=True)
    received = [(n.kind, n.params) for n in notices(app, "bank_icbc")]
    assert [kind for kind, _params in received] == [
        "case_confirmed",
        "case_deadline_set",
        "case_sanctions_started",
        "case_referred",
        "case_delisted",
        "case_closed",
    ]
    assert received[1][1] == {"days": 20, "step": "official_talk", "due": "2026-03-22"}
    assert received[2][1] == {"unit": "organization", "units": 1}
    assert received[3][1] == {"unit": "discipline", "units": 1}
    page = bank.get("/notifications").get_data(as_text=True)
    assert f"案件 #{case_id}：责令债务人 20 日内整改（组织谈话）。" in page
    assert f"案件 #{case_id} 已移送处置：移送纪委监委（党员、公职人员）。" in page


def test_a_rejected_report_is_told_once(app, browser, clock):
    case_id = browser("bank_icbc").report(report_payload(3))
    browser("office").complete(case_id, "review", review_decision="reject", reject_reason="材料不全")
    assert [n.kind for n in notices(app, "bank_icbc")] == ["case_rejected"]
