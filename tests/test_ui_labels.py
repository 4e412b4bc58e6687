"""The Chinese UI shows no raw code and no English: roles and unit kinds, the history's
verification and print, the menu entries a user may open, the reassignment's label; the admin's
user forms keep what was chosen when they are refused."""

from __future__ import annotations

import html
import json
import re

from sqlalchemy import select, update

from tests.support import Browser, confirm, report_payload
from webapp.models import CaseEvent, User


def _checked_roles(page: str) -> set[str]:
    return set(re.findall(r'name="roles" value="(\w+)" checked', page))


def _selected_unit(page: str) -> str:
    match = re.search(r'<option value="(\w+)" selected>', page)
    assert match, "no unit selected"
    return match.group(1)


def test_a_refused_user_form_keeps_the_unit_and_roles_chosen(app, users, browser):
    admin = browser("admin")
    chosen = {
        "unit": "court",
        "roles": ["supervisor", "auditor"],
        "display_name": "法院 李四",
        "active": "on",
    }
    refused = admin.post(f"/admin/users/{users['police']}", data={**chosen, "password": "short"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert _selected_unit(page) == "court" and _checked_roles(page) == {"supervisor", "auditor"}
    assert 'value="法院 李四"' in page
    # a new user refused (no role) keeps the unit too
    new = {"username": "court2", "display_name": "法院 王五", "unit": "court", "password": "long-enough-pw-1"}
    refused = admin.post("/admin/users", data=new)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert _selected_unit(page[page.index('id="unit"') :]) == "court" and _checked_roles(page) == set()
    # and a form that passes still saves, as before
    saved = admin.post(f"/admin/users/{users['police']}", data={**chosen, "unit": "police"})
    assert saved.status_code == 302


def test_roles_and_unit_kinds_read_in_chinese(app, users, browser):
    admin = browser("admin")
    listing = admin.get("/admin/users").get_data(as_text=True)
    assert "<td>经办人</td>" in listing and "<td>系统管理员</td>" in listing
    assert "> caseworker</label>" not in listing and "经办人</label>" in listing
    units = admin.get("/admin/units").get_data(as_text=True)
    assert "<td>成员单位</td>" in units and "<td>银行</td>" in units and "<td>department</td>" not in units
    edit = admin.get(f"/admin/users/{users['court']}").get_data(as_text=True)
    assert "督办员</label>" in edit and _checked_roles(edit) == {"caseworker"}


def test_verification_and_printable_history_in_chinese(app, users, browser):
    case_id = browser("bank_icbc").report(report_payload(1))
    confirm(browser, case_id)
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(update(User).where(User.username == "office").values(display_name="联动办 王敏"))
        session.commit()
    auditor = browser("auditor")
    verify = auditor.get("/audit/verify").get_data(as_text=True)
    assert f">案件 #{case_id}</a>" in verify and "完整：共" in verify and "chain intact</td>" not in verify

    # the replay says what each step changed with the form's titles and choices
    replay = auditor.get(f"/audit/cases/{case_id}").get_data(as_text=True)
    steps = json.loads(re.search(r'id="replay-steps">(.*?)</script>', replay, re.S).group(1))
    shown = [c for s in steps for c in s["shown_changes"]]
    assert ["审核结论", "—", "确认逃废债务，纳入黑名单"] in shown, shown

    # the history is searched by a unit's name, not its code
    search = auditor.get("/audit/events?unit=court").get_data(as_text=True)
    assert '<option value="court" selected>县人民法院</option>' in search

    printable = auditor.get(f"/audit/cases/{case_id}/print").get_data(as_text=True)
    assert "\\u" not in printable  # Chinese as it is, not escaped
    assert "<td>联动办 王敏</td>" in printable and "<td>office</td>" not in printable
    assert "测试债务人1" in printable

    # an altered event: said in Chinese on the verification, the replay and the print
    with app.extensions["db_sessionmaker"]() as session:
        event = session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
        ).all()[2]
        session.execute(update(CaseEvent).where(CaseEvent.id == event.id).values(data={"tampered": "x"}))
        session.commit()
    verify = auditor.get("/audit/verify").get_data(as_text=True)
    assert f"事件内容被篡改（第 {event.seq} 个事件，编号 {event.id}）" in verify
    replay = auditor.get(f"/audit/cases/{case_id}").get_data(as_text=True)
    assert "事件内容被篡改" in replay and 'data-ok="false"' in replay
    assert "事件内容被篡改" in auditor.get(f"/audit/cases/{case_id}/print").get_data(as_text=True)


def test_menu_shows_only_what_the_user_may_open(app, users):
    for username, supervises in (
        ("office", False),
        ("auditor", False),
        ("supervisor", True),
        ("admin", True),
    ):
        user = Browser(app, username)
        page = user.get("/inbox").get_data(as_text=True)
        assert ('href="/supervision/"' in page) is supervises, username
        assert user.get("/supervision/").status_code == (200 if supervises else 403), username


def test_favicon_labelled_inbox_and_reassignment_label(app, users, browser):
    office = browser("office")
    case_id = browser("bank_icbc").report(report_payload(1))
    inbox = office.get("/inbox").get_data(as_text=True)
    assert f'href="/cases/{case_id}"' in inbox
    assert "<th></th>" not in inbox and '<span class="visually-hidden">操作</span>' in inbox
    assert 'rel="icon" href="/static/favicon.svg"' in inbox
    icon = office.get("/static/favicon.svg")
    icon.close()  # a file sent from disk
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    reassign = browser("supervisor").get("/supervision/tasks?all=1").get_data(as_text=True)
    assert '<label for="to_user">改派给</label>' in reassign and ">止<" not in reassign
    # the diagram's lanes are named for people: the case's roles and the units
    case_page = office.get(f"/cases/{case_id}").get_data(as_text=True)
    match = re.search(r'data-lanes="([^"]*)"', case_page)
    assert match
    lanes = json.loads(html.unescape(match.group(1)))
    assert lanes["creditor_bank"] == "债权银行" and lanes["court"] == "县人民法院", lanes
