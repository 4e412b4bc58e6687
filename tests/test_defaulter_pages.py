"""The pages of a judgment-defaulter case beside the debt cases, through HTTP on both
databases: the court's listing on the case and task pages, the link between a defaulter's
case and the debtor's debt case on both pages, the case list's process filter and column, and
the political-legal committee's view of every unit's cooperation on these cases."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import update

from tests.support import credit_code, open_task_id, report_payload
from tests.test_completion_statements import counted
from tests.test_judgment_defaulter import FIRST_MEASURE, list_defaulter
from webapp.clock import now
from webapp.models import Task


def _linked(page: str) -> str:
    return page.split('id="linked-cases"')[1].split("</ul>")[0]


def test_the_case_page_shows_the_listing_and_the_link_to_the_debt_case_and_back(app, browser):
    debt_case = browser("bank_icbc").report(report_payload(7))
    case_id = list_defaulter(browser, 7, identifier=credit_code(7))
    office = browser("office")
    page = office.get(f"/cases/{case_id}").get_data(as_text=True)
    listing = page.split('id="court-listing"')[1].split("</dl>")[0]
    assert "（2026）冀0125执7号" in listing and "125,000.50" in listing and "支付货款及利息" in listing
    assert 'id="loans"' not in page  # the listing in place of the loans
    assert "<dt>列入单位</dt>" in page and "<dt>上报单位</dt>" not in page  # the court listed it
    linked = _linked(page)
    assert f'href="/cases/{debt_case}"' in linked and "打击逃废金融债务" in linked and "· 审核<" in linked
    back = office.get(f"/cases/{debt_case}").get_data(as_text=True)
    assert f'href="/cases/{case_id}"' in _linked(back) and "失信被执行人联合惩戒" in _linked(back)
    assert 'id="loans"' in back and 'id="court-listing"' not in back
    assert "<dt>上报单位</dt>" in back  # a bank reported it
    # a debt case of another debtor has no linked cases
    other = browser("bank_icbc").report(report_payload(8))
    assert 'id="linked-cases"' not in office.get(f"/cases/{other}").get_data(as_text=True)
    # the participating units see the link on their own pages too
    court_page = browser("court").get(f"/cases/{case_id}").get_data(as_text=True)
    assert f'href="/cases/{debt_case}"' in _linked(court_page)


def test_a_restriction_task_page_shows_the_courts_listing(app, browser):
    case_id = list_defaulter(browser, 3)
    task_id = open_task_id(app, case_id, "apply_restriction", "market")
    page = browser("market").get(f"/tasks/{task_id}").get_data(as_text=True)
    listing = page.split('id="task-listing"')[1].split("</dl>")[0]
    assert "（2026）冀0125执3号" in listing and "125,000.50" in listing and "支付货款及利息" in listing
    assert 'id="task-loans"' not in page
    debt_case = browser("bank_icbc").report(report_payload(9))
    review = open_task_id(app, debt_case, "review")
    page = browser("office").get(f"/tasks/{review}").get_data(as_text=True)
    assert 'id="task-loans"' in page and 'id="task-listing"' not in page


def test_the_case_list_shows_each_process_and_filters_by_it(app, browser):
    debt_case = browser("bank_icbc").report(report_payload(11))
    case_id = list_defaulter(browser, 12)
    office = browser("office")

    def rows(url: str) -> dict[int, str]:
        page = office.get(url).get_data(as_text=True)
        body = page.split('id="cases"')[1].split("</table>")[0] if 'id="cases"' in page else ""
        found = re.findall(r'href="/cases/(\d+)">.*?<td class="process">([^<]*)</td>', body, re.S)
        return {int(i): label for i, label in found}

    assert rows("/cases") == {debt_case: "逃废债", case_id: "失信"}
    assert rows("/cases?process=judgment_defaulter") == {case_id: "失信"}
    assert rows("/cases?process=debt_case") == {debt_case: "逃废债"}
    assert rows("/cases?process=nonsense") == {debt_case: "逃废债", case_id: "失信"}  # ignored
    page = office.get("/cases?process=judgment_defaulter").get_data(as_text=True)
    assert re.search(r'<option value="judgment_defaulter" selected>失信被执行人联合惩戒</option>', page)
    # the inbox tells the two kinds apart too
    inbox = browser("market").get("/inbox").get_data(as_text=True)
    assert '<td class="process">失信</td>' in inbox


def _set_due(app, case_id: int, unit: str, due: dt.datetime) -> None:
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(
            update(Task)
            .where(Task.case_id == case_id, Task.unit_code == unit, Task.element_id == "apply_restriction")
            .values(due_at=due)
        )
        session.commit()


def test_the_cooperation_page_counts_each_units_tasks_on_defaulter_cases(app, browser):
    case_id = list_defaulter(browser, 21)
    # the market regulator on time; NDRC three days late; finance left open two days past due
    _set_due(app, case_id, "market", now() + dt.timedelta(days=5))
    _set_due(app, case_id, "ndrc", now() - dt.timedelta(days=3))
    _set_due(app, case_id, "finance", now() - dt.timedelta(days=2))
    browser("market").complete(case_id, "apply_restriction", measures=[FIRST_MEASURE["market"]])
    browser("ndrc").complete(case_id, "apply_restriction", measures=[FIRST_MEASURE["ndrc"]])
    # a debt case's late task is not counted here
    debt_case = browser("bank_icbc").report(report_payload(22))
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(
            update(Task).where(Task.case_id == debt_case).values(due_at=now() - dt.timedelta(days=9))
        )
        session.commit()

    page = browser("political_legal").get("/defaulters/cooperation").get_data(as_text=True)
    table = page.split('id="cooperation"')[1].split("</table>")[0]

    def row(unit: str) -> dict[str, str]:
        cells = table.split(f'data-unit="{unit}"')[1].split("</tr>")[0]
        return dict(re.findall(r'<td class="num ([a-z-]+)">([^<]*)</td>', cells))

    market, ndrc, finance = row("market"), row("ndrc"), row("finance")
    assert (market["completed"], market["on-time"], market["late"]) == ("1", "1", "0")
    assert market["lateness"] == "0.00"
    assert (ndrc["completed"], ndrc["on-time"], ndrc["late"]) == ("1", "0", "1")
    assert 2.99 <= float(ndrc["lateness"]) <= 3.01
    assert (finance["completed"], finance["overdue-open"]) == ("0", "1")
    assert 'data-unit="office"' not in table  # the debt case's review is another process's
    assert int(market["rank"]) < int(ndrc["rank"])
    assert float(market["score"]) > float(ndrc["score"])

    # the assessment filtered by the process gives the same figures; all processes count the debt case
    office = browser("office")
    one = office.get("/stats/assessment?process=judgment_defaulter").get_data(as_text=True)
    assert 'data-unit="ndrc"' in one and 'data-unit="office"' not in one
    every = office.get("/stats/assessment").get_data(as_text=True)
    assert 'data-unit="office"' in every
    assert "/defaulters/cooperation" in every
    assert "/defaulters/cooperation" in browser("political_legal").get("/referrals/").get_data(as_text=True)


def test_only_the_political_legal_committee_the_office_and_auditors_see_the_cooperation(app, browser):
    assert browser("political_legal").get("/defaulters/cooperation").status_code == 200
    assert browser("auditor").get("/defaulters/cooperation").status_code == 200
    assert browser("court").get("/defaulters/cooperation").status_code == 403
    assert browser("market").get("/defaulters/cooperation").status_code == 403
    page = browser("office").get("/defaulters/cooperation").get_data(as_text=True)
    assert "各单位配合情况" in page and "期间内没有单位在这些案件上有任务。" in page


def _statements(app, user, path: str) -> list[str]:
    with counted(app) as statements:
        assert user.get(path).status_code == 200, path
    return statements


def test_a_defaulters_pages_read_no_more_than_a_debt_cases(app, browser):
    """The listing takes the loans' place on the case page (one statement either way); the
    linked cases are one statement whatever their number; a debt case's task page reads
    nothing more for the listing it does not have."""
    debt_case = browser("bank_icbc").report(report_payload(31))
    office = browser("office")
    alone = len(_statements(app, office, f"/cases/{debt_case}"))
    case_id = list_defaulter(browser, 31, identifier=credit_code(31))
    list_defaulter(browser, 32, identifier=credit_code(31))  # a second listing of the same debtor
    assert len(_linked(office.get(f"/cases/{debt_case}").get_data(as_text=True)).split("<li")) == 3
    assert len(_statements(app, office, f"/cases/{debt_case}")) == alone
    assert len(_statements(app, office, f"/cases/{case_id}")) <= alone
    review = open_task_id(app, debt_case, "review")
    assert not any("court_listings" in s for s in _statements(app, office, f"/tasks/{review}"))
    # supervision's lists name the process too
    overdue = browser("supervisor").get("/supervision/tasks?all=1").get_data(as_text=True)
    assert '<span class="tag process">失信</span>' in overdue
    assert '<span class="tag process">逃废债</span>' in overdue
