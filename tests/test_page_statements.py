"""List pages read a fixed number of statements, whatever the number of rows (issue 7): a
row that loads its debtor or case on its own (N+1) would make a full inbox page of 50 rows
run 50 more statements."""

from __future__ import annotations

import pytest

from tests.support import interview_form, notices, open_task_id, report_payload
from tests.test_completion_statements import counted

PAGES = ["/inbox", "/cases", "/supervision/tasks?all=1"]


def _statements(app, user, path: str) -> int:
    with counted(app) as statements:
        response = user.get(path)
    assert response.status_code == 200, path
    return len(statements)


@pytest.mark.parametrize("path", PAGES)
def test_a_list_page_runs_as_many_statements_for_six_rows_as_for_one(app, browser, path):
    bank, supervisor = browser("bank_icbc"), browser("supervisor")
    bank.report(report_payload(71))
    one = _statements(app, supervisor if path.startswith("/supervision") else browser("office"), path)
    for n in range(72, 77):
        bank.report(report_payload(n))
    user = supervisor if path.startswith("/supervision") else browser("office")
    page = user.get(path).get_data(as_text=True)
    assert all(f"测试债务人{n}" in page for n in range(71, 77))
    assert _statements(app, user, path) == one


def test_the_case_page_names_who_acted_with_one_statement_whatever_the_history(app, browser):
    bank, office = browser("bank_icbc"), browser("office")
    case_id = bank.report(report_payload(78))
    office.complete(case_id, "review", review_decision="confirm", classification="evasion")
    short = _statements(app, office, f"/cases/{case_id}")
    page = office.get(f"/cases/{case_id}").get_data(as_text=True)
    history = page.split('id="history"')[1].split("</ol>")[0]
    steps = page.split('id="completed-steps"')[1].split("</table>")[0]
    assert "· bank_icbc</li>" in history and "· office</li>" in history
    assert "<td>office</td>" in steps
    # more steps, by more units (the regulator and the market regulator beside the path)
    notices(browser, case_id)
    office.complete(case_id, "interview", **{k: str(v) for k, v in interview_form(30).items()})
    page = office.get(f"/cases/{case_id}").get_data(as_text=True)
    history = page.split('id="history"')[1].split("</ol>")[0]
    assert "· regulator</li>" in history and "· market</li>" in history
    assert _statements(app, office, f"/cases/{case_id}") == short


def test_a_task_page_reads_its_case_once(app, browser):
    case_id = browser("bank_icbc").report(report_payload(79))
    office = browser("office")
    task_id = open_task_id(app, case_id, "review")
    with counted(app) as statements:
        assert office.get(f"/tasks/{task_id}").status_code == 200
    assert sum(" FROM cases" in s for s in statements) == 1, statements
