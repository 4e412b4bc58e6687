"""The UI speaks Simplified Chinese by default, English on request."""

from __future__ import annotations

from tests.support import report_payload


def test_chinese_by_default_english_on_request(app, browser):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert 'lang="zh-CN"' in page and "登录" in page
    client.get("/lang/en")
    page = client.get("/login").get_data(as_text=True)
    assert 'lang="en"' in page and "Log in" in page


def test_pages_and_forms_in_chinese(app, browser):
    case_id = browser("bank_icbc").report(report_payload(1))
    office = browser("office")
    page = office.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "审核上报" in page and "Review report" not in page  # the diagram's bilingual task name
    inbox = office.get("/inbox").get_data(as_text=True)
    assert "待办" in inbox
    # a field error in Chinese
    from tests.support import open_task_id

    task_id = open_task_id(app, case_id, "review")
    response = office.post(f"/tasks/{task_id}", data={"review_decision": "reject"})
    assert response.status_code == 422 and "必填" in response.get_data(as_text=True)


def test_a_translated_sentence_escapes_the_value_put_into_it(app, browser):
    # templates translate with the request's catalogue bound once a page (webapp.templating):
    # the sentence is translated, the user's text in it escaped, in either language
    case_id = browser("bank_icbc").report(report_payload(5))
    office = browser("office")
    reason = "<b>核对</b> 100% & more"
    page = office.post(f"/cases/{case_id}/reveal", data={"reason": reason}).get_data(as_text=True)
    assert "本次查看及理由已记入案件办理记录" in page
    assert "&lt;b&gt;核对&lt;/b&gt; 100% &amp; more" in page and "<b>核对" not in page
    office.get("/lang/en")
    page = office.post(f"/cases/{case_id}/reveal", data={"reason": reason}).get_data(as_text=True)
    assert "This view was recorded in the case history with your reason: &lt;b&gt;核对" in page
