"""List pages read a fixed number of statements, whatever the number of rows (issue 7): a
row that loads its debtor or case on its own (N+1) would make a full inbox page of 50 rows
run 50 more statements."""

from __future__ import annotations

import pytest

from tests.support import report_payload
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
