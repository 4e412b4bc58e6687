"""Periodic bulletins (通报): made once per ended week by the worker and on demand by the
office, numbered per year, with the period's figures, the lagging units ranked, the stalled
cases and the chosen typical cases; the page, the XLSX, the notices and who may do what."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from freezegun import freeze_time
from openpyxl import load_workbook
from sqlalchemy import select

from tests.support import report_payload
from webapp.models import Bulletin, Notification

OFFICE = "县打击逃废金融债务工作领导小组办公室（县地方金融监督管理局）"
REGULATOR = "金融监管局监管组"
MONDAY = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # Mon 2 Mar 2026, 09:00 in China
WEEK_END = dt.datetime(2026, 3, 16, 1, 0, tzinfo=dt.UTC)  # Mon 16 Mar, 09:00: the week 9–15 Mar ended


def _history(browser) -> dict[str, int]:
    """On 2 Mar two reports (the office's reviews fall due on 9 Mar) and a confirmed one (the
    regulator's notice to the banks due 9 Mar, the market regulator's look-up and the
    office's interview due 16 Mar); on Wed 11 Mar a fourth report, the week's only one."""
    bank = browser("bank_icbc")
    with freeze_time(MONDAY) as clock:
        cases = {"a": bank.report(report_payload(1)), "b": bank.report(report_payload(2))}
        cases["c"] = bank.report(report_payload(3))
        browser("office").complete(cases["c"], "review", review_decision="confirm", classification="evasion")
        clock.move_to(dt.datetime(2026, 3, 11, 2, 0, tzinfo=dt.UTC))
        cases["d"] = bank.report(report_payload(4))
    return cases


def _bulletins(app) -> list[Bulletin]:
    with app.extensions["db_sessionmaker"]() as session:
        return list(session.scalars(select(Bulletin).order_by(Bulletin.id)))


def _worker(app) -> None:
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output


def test_the_worker_makes_each_weekly_bulletin_once(app, browser, monkeypatch):
    monkeypatch.setitem(app.config, "BULLETIN_PERIODS", "weekly")
    cases = _history(browser)
    with freeze_time(WEEK_END) as clock:
        _worker(app)
        _worker(app)  # the week's bulletin is made once
        [weekly] = _bulletins(app)
        assert (weekly.kind, weekly.number, weekly.period_key) == (
            "weekly",
            "联动通〔2026〕1号",
            "weekly:2026-03-09",
        )
        assert weekly.created_by_id is None
        assert weekly.content["figures"]["reported"] == 1
        assert weekly.content["lagging"] == [
            {"unit": "office", "overdue": 2, "oldest_due": "2026-03-09", "days": 7},
            {"unit": "regulator", "overdue": 1, "oldest_due": "2026-03-09", "days": 7},
        ]
        assert [s["case_id"] for s in weekly.content["stalled"]] == [
            cases["a"],
            cases["b"],
            cases["c"],
            cases["d"],
        ]
        clock.move_to(WEEK_END + dt.timedelta(days=7))
        _worker(app)
        first, second = _bulletins(app)
        assert (second.kind, second.number, second.period_key) == (
            "weekly",
            "联动通〔2026〕2号",
            "weekly:2026-03-16",
        )

    # the lagging units and the office are told; the market regulator's task was not late yet
    with app.extensions["db_sessionmaker"]() as session:
        told = sorted(
            (n.unit_code, n.params["number"], n.params["overdue"])
            for n in session.scalars(select(Notification).where(Notification.kind == "bulletin"))
        )
    assert ("office", "联动通〔2026〕1号", 2) in told and ("regulator", "联动通〔2026〕1号", 1) in told
    assert [unit for unit, number, _overdue in told if number == "联动通〔2026〕1号"] == [
        "office",
        "regulator",
    ]
    # a week on, the market regulator's look-up (due 16 Mar) is late too
    assert ("market", "联动通〔2026〕2号", 1) in told
    notices = browser("regulator").get("/notifications").get_data(as_text=True)
    assert "联动通〔2026〕1号" in notices and "1" in notices and f"/bulletins/{first.id}" in notices

    page = browser("regulator").get(f"/bulletins/{first.id}").get_data(as_text=True)
    assert "联动通〔2026〕1号" in page and "2026年3月9日至2026年3月15日" in page
    lagging = page[page.index('id="section-lagging"') : page.index('id="section-stalled"')]
    assert lagging.index(OFFICE) < lagging.index(REGULATOR)
    stalled = page[page.index('id="section-stalled"') : page.index('id="section-typical"')]
    assert f"#{cases['a']}" in stalled and "测试债务人1" in stalled
    assert "<td>报送债务人（户）</td><td>1</td>" in page
    assert 'id="pdf-unavailable"' in page  # no LibreOffice on the test machine

    listing = browser("bank_abc").get("/bulletins/").get_data(as_text=True)
    assert "联动通〔2026〕1号" in listing and "联动通〔2026〕2号" in listing


def test_bulletin_xlsx_golden_content(app, browser, monkeypatch):
    monkeypatch.setitem(app.config, "BULLETIN_PERIODS", "weekly")
    cases = _history(browser)
    with freeze_time(WEEK_END):
        _worker(app)
    [weekly] = _bulletins(app)
    response = browser("auditor").get(f"/bulletins/{weekly.id}.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="bulletin-2026-1.xlsx"'
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [[v for v in row if v is not None] for row in sheet.iter_rows(values_only=True)]
    stage = {cases["a"]: "审核", cases["b"]: "审核", cases["c"]: "警示约谈", cases["d"]: "审核"}
    assert rows == [
        ["联动惩戒工作周报"],
        ["联动通〔2026〕1号"],
        ["统计期间", "2026年3月9日至2026年3月15日"],
        ["印发单位", OFFICE],
        [],
        ["一、本期工作数据"],
        ["项目", "数值"],
        ["报送债务人（户）", 1],
        ["确认列入名单（户）", 0],
        ["审核退回（户）", 0],
        ["约谈（次）", 0],
        ["整改期限届满（件）", 0],
        ["实施联合惩戒（件）", 0],
        ["移送（件）", 0],
        ["移送反馈（件）", 0],
        ["结清并移出名单（户）", 0],
        ["移出名单（户）", 0],
        ["报送金额（元）", "1,006,000.00"],
        ["清收金额（元）", "0.00"],
        ["未清收余额（元）", "4,024,000.00"],
        [],
        ["三、工作滞后单位（按逾期任务数排序）"],
        ["名次", "单位", "逾期任务（件）", "最早应办结日期", "最长逾期（天）"],
        [1, OFFICE, 2, "2026-03-09", 7],
        [2, REGULATOR, 1, "2026-03-09", 7],
        [],
        ["四、久未推进的案件"],
        ["案件", "债务人", "当前阶段", "最近办理日期", "停滞（天）"],
        [f"#{cases['a']}", "测试债务人1", stage[cases["a"]], "2026-03-02", 14],
        [f"#{cases['b']}", "测试债务人2", stage[cases["b"]], "2026-03-02", 14],
        [f"#{cases['c']}", "测试债务人3", stage[cases["c"]], "2026-03-02", 14],
        [f"#{cases['d']}", "测试债务人4", stage[cases["d"]], "2026-03-11", 5],
        [],
        ["五、典型案例"],
        ["案件", "债务人", "当前阶段"],
        ["无"],
    ]


def test_the_office_makes_a_bulletin_on_demand_with_typical_cases(app, browser, monkeypatch):
    monkeypatch.setitem(app.config, "BULLETIN_PERIODS", "")
    cases = _history(browser)
    office = browser("office")
    with freeze_time(WEEK_END):
        _worker(app)  # no periodic bulletins configured
        assert _bulletins(app) == []
        form = office.get("/bulletins/").get_data(as_text=True)
        assert 'id="bulletin-form"' in form and f'value="{cases["c"]}"' in form
        refused = office.post(
            "/bulletins/", data={"start": "2026-03-01", "end": "2026-03-15", "typical": ["999999"]}
        )
        assert refused.status_code == 422 and "#999999" in refused.get_data(as_text=True)
        backwards = office.post("/bulletins/", data={"start": "2026-03-15", "end": "2026-03-01"})
        assert backwards.status_code == 422
        made = office.post(
            "/bulletins/",
            data={"start": "2026-03-01", "end": "2026-03-15", "typical": [str(cases["c"]), str(cases["a"])]},
        )
        assert made.status_code == 302
    [bulletin] = _bulletins(app)  # the refused ones gave their numbers back
    assert (bulletin.kind, bulletin.number, bulletin.period_key) == ("on_demand", "联动通〔2026〕1号", None)
    assert bulletin.typical_case_ids == [cases["c"], cases["a"]]
    assert bulletin.content["figures"]["reported"] == 4
    assert bulletin.content["figures"]["confirmed"] == 1
    page = office.get(made.headers["Location"]).get_data(as_text=True)
    typical = page[page.index('id="section-typical"') :]
    assert typical.index("测试债务人3") < typical.index("测试债务人1")
    assert "联动惩戒工作通报" in page and "2026年3月1日至2026年3月15日" in page


def test_the_default_schedule_makes_weekly_monthly_and_quarterly_bulletins(app, browser):
    with freeze_time(dt.datetime(2026, 4, 1, 2, 0, tzinfo=dt.UTC)):  # Wed 1 Apr, 10:00 in China
        _worker(app)
        _worker(app)
    made = sorted((b.kind, b.period_key) for b in _bulletins(app))
    assert made == [
        ("monthly", "monthly:2026-03-01"),
        ("quarterly", "quarterly:2026-01-01"),
        ("weekly", "weekly:2026-03-23"),
    ]
    assert sorted(b.seq for b in _bulletins(app)) == [1, 2, 3]


@pytest.mark.parametrize(
    ("user", "status"),
    [("office", 422), ("supervisor", 422), ("auditor", 403), ("admin", 403), ("bank_abc", 403)],
)
def test_who_makes_bulletins(app, browser, user, status):
    # an empty form: the makers are told what is missing, the others refused
    assert browser(user).post("/bulletins/", data={}).status_code == status


def test_every_user_reads_bulletins_and_the_menu_shows_them_to_the_office(app, browser):
    with freeze_time(dt.datetime(2026, 3, 9, 2, 0, tzinfo=dt.UTC)):
        assert (
            browser("office")
            .post("/bulletins/", data={"start": "2026-03-02", "end": "2026-03-08"})
            .status_code
            == 302
        )
    [bulletin] = _bulletins(app)
    for user in ("bank_abc", "court", "auditor", "supervisor"):
        assert browser(user).get(f"/bulletins/{bulletin.id}").status_code == 200
        assert browser(user).get(f"/bulletins/{bulletin.id}.xlsx").status_code == 200
    assert app.test_client().get(f"/bulletins/{bulletin.id}").status_code == 302
    assert browser("bank_abc").get("/bulletins/999999").status_code == 404
    assert 'href="/bulletins/"' in browser("auditor").get("/inbox").get_data(as_text=True)
    assert 'href="/bulletins/"' not in browser("bank_abc").get("/inbox").get_data(as_text=True)
    assert 'id="bulletin-form"' not in browser("bank_abc").get("/bulletins/").get_data(as_text=True)


def test_a_second_worker_making_the_same_week_is_refused_and_gives_its_number_back(app, browser):
    """Two workers that both found the week's bulletin missing: the unique period key lets the
    first commit; the second's transaction rolls back with its number."""
    from webapp.bulletins import schedule, service
    from webapp.errors import Conflict
    from webapp.transactions import atomic

    with freeze_time(WEEK_END), app.app_context():
        session = app.extensions["db_sessionmaker"]()
        try:
            config = {"BULLETIN_PERIODS": "weekly"}
            [(kind, first, last)] = [p for p in service.due_periods(session, WEEK_END) if p[0] == "weekly"]
            assert schedule.make_due(session, WEEK_END, config) == ["联动通〔2026〕1号"]
            with pytest.raises(Conflict):
                atomic(session, lambda: service.create(session, kind, first, last, at=WEEK_END))
            assert schedule.make_due(session, WEEK_END, config) == []
            on_demand = atomic(
                session, lambda: service.create(session, "on_demand", first, last, at=WEEK_END)
            )
            assert on_demand.number == "联动通〔2026〕2号"
        finally:
            session.close()
    assert [b.kind for b in _bulletins(app)] == ["weekly", "on_demand"]


# a stand-in for LibreOffice: converts by writing a small PDF where soffice would
FAKE_SOFFICE = """#!/bin/sh
out=""
while [ $# -gt 0 ]; do
  case "$1" in --outdir) out="$2"; shift ;; esac
  last="$1"
  shift
done
printf '%%PDF-1.4\\n%% converted from %s\\n' "$(basename "$last")" > "$out/$(basename "$last" .xlsx).pdf"
"""


def test_pdf_where_libreoffice_is_installed(app, browser, tmp_path, monkeypatch):
    with freeze_time(dt.datetime(2026, 3, 9, 2, 0, tzinfo=dt.UTC)):
        browser("office").post("/bulletins/", data={"start": "2026-03-02", "end": "2026-03-08"})
    [bulletin] = _bulletins(app)
    reader = browser("bank_abc")
    monkeypatch.setenv("PATH", "/nonexistent")
    page = reader.get(f"/bulletins/{bulletin.id}").get_data(as_text=True)
    assert 'id="pdf-unavailable"' in page and 'id="bulletin-pdf"' not in page
    assert reader.get(f"/bulletins/{bulletin.id}.pdf").status_code == 404
    program = tmp_path / "bin" / "soffice"
    program.parent.mkdir()
    program.write_text(FAKE_SOFFICE)
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{program.parent}:/usr/bin:/bin")
    page = reader.get(f"/bulletins/{bulletin.id}").get_data(as_text=True)
    assert 'id="pdf-unavailable"' not in page and 'id="bulletin-pdf"' in page
    response = reader.get(f"/bulletins/{bulletin.id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data == b"%PDF-1.4\n% converted from letter.xlsx\n"
    assert response.headers["Content-Disposition"] == 'attachment; filename="bulletin-2026-1.pdf"'


def test_a_lagging_unit_that_chose_each_event_gets_the_bulletin_by_e_mail(app, browser, monkeypatch):
    from webapp.models import OutboxMail

    monkeypatch.setitem(app.config, "BULLETIN_PERIODS", "weekly")
    response = browser("regulator").post(
        "/account/notifications", data={"email": "jg@example.cn", "notify_by": "each"}
    )
    assert response.status_code == 302
    _history(browser)
    with freeze_time(WEEK_END):
        _worker(app)
    [bulletin] = _bulletins(app)
    with app.extensions["db_sessionmaker"]() as session:
        [mail] = session.scalars(
            select(OutboxMail)
            .join(Notification, OutboxMail.notification_id == Notification.id)
            .where(OutboxMail.recipient == "jg@example.cn", Notification.kind == "bulletin")
        )
        assert "联动通〔2026〕1号" in mail.body and "2026-03-09" in mail.body and "2026-03-15" in mail.body
        assert "逾期任务1件" in mail.body and mail.notification.params["bulletin_id"] == bulletin.id
