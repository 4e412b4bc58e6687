"""E-mail notifications (issue 19) against a real SMTP server on this machine (aiosmtpd):
an e-mail per notification for users who chose it, one digest a day for those who chose
that, retries while the server is down, nothing for a step that was rolled back, and the
page where users make their choice."""

from __future__ import annotations

import datetime as dt
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from freezegun import freeze_time
from sqlalchemy import func, select

from tests.support import Browser, app_with_edited_diagram, open_task_id, report_payload
from webapp.models import Notification, OutboxMail, User

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 09:00 in China, after the digest time
# the asyncio loop of the SMTP server keeps the real clock while the tests move theirs
REAL_TIME = ["asyncio", "aiosmtpd"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """The SMTP server's handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(app, monkeypatch):
    """A stopped SMTP server on a free port the app sends to (``start()`` it)."""
    server = SmtpServer(free_port())
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", server.port)
    monkeypatch.setitem(app.config, "SMTP_TIMEOUT", 5.0)
    monkeypatch.setitem(app.config, "MAIL_FROM", "liandong@example.cn")
    yield server
    server.stop()


@pytest.fixture
def clock(smtp):
    with freeze_time(START, ignore=REAL_TIME) as frozen:
        yield frozen


def worker(app) -> str:
    result = app.test_cli_runner().invoke(args=["worker", "--once", "--lane", "timers"])
    assert result.exit_code == 0, result.output
    return result.output


def choose(browser, username: str, email: str, notify_by: str) -> None:
    response = browser(username).post("/account/notifications", data={"email": email, "notify_by": notify_by})
    assert response.status_code == 302, response.get_data(as_text=True)[:1500]


def reject(browser, n: int, reason: str = "材料不全") -> int:
    case_id = browser("bank_icbc").report(report_payload(n))
    browser("office").complete(case_id, "review", review_decision="reject", reject_reason=reason)
    return case_id


def outbox(app) -> list[OutboxMail]:
    with app.extensions["db_sessionmaker"]() as session:
        return list(session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def notice_on_page(browser, username: str) -> str:
    """The text of the newest notification as the notifications page shows it."""
    page = browser(username).get("/notifications").get_data(as_text=True)
    item = page.split('<span class="when">', 1)[1].split("</span>", 1)[1]
    text = item.split("<a href=", 1)[0]
    return " ".join(text.split())


def test_each_event_user_gets_the_notification_by_email(app, browser, smtp, clock):
    smtp.start()
    choose(browser, "bank_icbc", "icbc@example.cn", "each")
    choose(browser, "bank_abc", "abc@example.cn", "each")  # another unit: not told
    choose(browser, "court", "", "app")
    case_id = reject(browser, 1, reason="材料不全，请补正")
    # queued with the notification, sent by the worker, not inside the request
    [queued] = outbox(app)
    assert (queued.recipient, queued.sent_at, queued.attempts) == ("icbc@example.cn", None, 0)
    assert smtp.inbox.messages == []
    worker(app)
    [mail] = smtp.inbox.messages
    assert mail["To"] == "icbc@example.cn" and mail["From"] == "liandong@example.cn"
    text = f"您上报的案件 #{case_id} 不予认定：材料不全，请补正"
    assert mail["Subject"] == f"【联动】{text}"
    body = mail.get_content()
    assert body.startswith(text)
    assert f"查看案件：http://localhost:5000/cases/{case_id}" in body
    assert "http://localhost:5000/account/notifications" in body
    # the same words as the notifications page (one text for both)
    assert notice_on_page(browser, "bank_icbc") == text
    [sent] = outbox(app)
    assert sent.sent_at == clock().replace(tzinfo=dt.UTC) and sent.attempts == 0
    worker(app)  # sent once
    assert len(smtp.inbox.messages) == 1


def test_digest_user_gets_one_email_a_day(app, browser, smtp, clock):
    smtp.start()
    choose(browser, "bank_icbc", "icbc@example.cn", "digest")
    first = reject(browser, 1, reason="缺少合同")
    clock.tick(dt.timedelta(hours=2))
    second = reject(browser, 2, reason="重复报送")
    worker(app)  # today's digest comes tomorrow; yesterday had nothing
    assert outbox(app) == [] and smtp.inbox.messages == []
    clock.move_to(START + dt.timedelta(days=1))
    worker(app)
    worker(app)  # a second pass (or a second worker) sends nothing more
    [mail] = smtp.inbox.to("icbc@example.cn")
    assert mail["Subject"] == "【联动】2026-03-02 的通知（2 条）"
    body = mail.get_content()
    assert f"1. 您上报的案件 #{first} 不予认定：缺少合同" in body
    assert f"2. 您上报的案件 #{second} 不予认定：重复报送" in body
    assert f"http://localhost:5000/cases/{second}" in body
    # a day without notifications sends no digest
    clock.move_to(START + dt.timedelta(days=2))
    worker(app)
    assert len(smtp.inbox.to("icbc@example.cn")) == 1
    assert [m.kind for m in outbox(app)] == ["digest"]


def test_mail_waits_while_the_server_is_down_and_goes_when_it_is_back(app, browser, smtp, clock):
    choose(browser, "bank_icbc", "icbc@example.cn", "each")
    case_id = reject(browser, 3)
    worker(app)  # nobody listens on the port
    [mail] = outbox(app)
    assert mail.sent_at is None and mail.attempts == 1
    assert mail.next_attempt_at == START + dt.timedelta(minutes=1)
    assert mail.last_error and "Connection" in mail.last_error
    smtp.start()
    worker(app)  # not due yet
    assert smtp.inbox.messages == []
    clock.tick(dt.timedelta(minutes=1))
    worker(app)
    [sent] = smtp.inbox.messages
    assert f"#{case_id}" in sent["Subject"]
    [mail] = outbox(app)
    assert mail.sent_at is not None and mail.attempts == 1


def test_given_up_mail_is_shown_to_operators_and_retried(app, browser, smtp, clock, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_MAX_ATTEMPTS", 2)
    choose(browser, "bank_icbc", "icbc@example.cn", "each")
    reject(browser, 4)
    cli = app.test_cli_runner()
    result = cli.invoke(args=["mail", "send-queued"])
    assert result.exit_code == 1 and "sent 0, failed 1" in result.output
    clock.tick(dt.timedelta(minutes=1))
    cli.invoke(args=["mail", "send-queued"])
    status = cli.invoke(args=["mail", "status"])
    assert status.exit_code == 1, status.output
    assert "queued 0, given up 1, sent 0" in status.output and "icbc@example.cn, 2 attempts" in status.output
    smtp.start()
    clock.tick(dt.timedelta(hours=1))
    worker(app)  # given up: the worker leaves it
    assert smtp.inbox.messages == []
    assert "1 e-mail(s) queued again" in cli.invoke(args=["mail", "retry"]).output
    result = cli.invoke(args=["mail", "send-queued"])
    assert result.exit_code == 0 and "sent 1, failed 0" in result.output
    assert len(smtp.inbox.messages) == 1
    assert "queued 0, given up 0, sent 1" in cli.invoke(args=["mail", "status"]).output


def test_mail_is_off_without_an_smtp_host(app, browser, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    choose(browser, "bank_icbc", "icbc@example.cn", "each")
    reject(browser, 5)
    worker(app)
    result = app.test_cli_runner().invoke(args=["mail", "send-queued"])
    assert result.exit_code == 1 and "1 e-mail(s) kept in the queue" in result.output
    [mail] = outbox(app)
    assert (mail.sent_at, mail.attempts) == (None, 0)


def test_a_step_rolled_back_queues_nothing(app, browser, smtp, users, tmp_path):
    """The diagram edited so that a rejection would close the case on the blacklist: rule 2
    refuses the step after its notification was made; neither it nor its e-mail remains."""
    smtp.start()
    choose(browser, "bank_icbc", "icbc@example.cn", "each")
    broken = app_with_edited_diagram(
        app,
        tmp_path,
        'value="outcome:rejected notify:creditor_bank"',
        'value="blacklist_enter outcome:rejected notify:creditor_bank"',
    )
    try:
        case_id = Browser(broken, "bank_icbc").report(report_payload(6))
        task_id = open_task_id(app, case_id, "review")
        response = Browser(broken, "office").post(
            f"/tasks/{task_id}", data={"review_decision": "reject", "reject_reason": "不予认定"}
        )
    finally:
        broken.extensions["db_engine"].dispose()
    assert response.status_code == 409
    assert "rule 2" in response.get_data(as_text=True)
    with app.extensions["db_sessionmaker"]() as session:
        assert session.scalar(select(func.count(Notification.id))) == 0
    assert outbox(app) == []
    worker(app)
    assert smtp.inbox.messages == []


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"email": "not-an-address", "notify_by": "each"}, "email", "电子邮件地址格式不正确。"),
        ({"email": "a@b.cn<script>", "notify_by": "app"}, "email", "电子邮件地址格式不正确。"),
        ({"email": "", "notify_by": "digest"}, "email", "通过电子邮件接收通知，须填写电子邮件地址。"),
        ({"email": "x@example.cn", "notify_by": "sometimes"}, "notify_by", "请选择通知的接收方式。"),
        ({"email": "x" * 250 + "@example.cn", "notify_by": "each"}, "email", "电子邮件地址格式不正确。"),
    ],
)
def test_preferences_are_validated(app, browser, form, field, message):
    bank = browser("bank_icbc")
    page = bank.get("/notifications").get_data(as_text=True)
    assert 'href="/account/notifications"' in page and "通过电子邮件接收通知" in page
    response = bank.post("/account/notifications", data=form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and f'data-field="{field}"' in html
    with app.extensions["db_sessionmaker"]() as session:
        user = session.scalar(select(User).where(User.username == "bank_icbc"))
        assert user is not None and (user.email, user.notify_by) == (None, "app")


def test_preferences_are_saved_and_shown(app, browser):
    bank = browser("bank_icbc")
    page = bank.get("/account/notifications").get_data(as_text=True)
    assert "邮件通知" in page and 'value="app" checked' in page
    response = bank.post("/account/notifications", data={"email": " icbc@example.cn ", "notify_by": "digest"})
    assert response.status_code == 302
    page = bank.get("/account/notifications").get_data(as_text=True)
    assert "通知接收方式已保存。" in page
    assert 'value="icbc@example.cn"' in page and 'value="digest" checked' in page
    # back to the application only, the address kept
    bank.post("/account/notifications", data={"email": "icbc@example.cn", "notify_by": "app"})
    with app.extensions["db_sessionmaker"]() as session:
        user = session.scalar(select(User).where(User.username == "bank_icbc"))
        assert user is not None and (user.email, user.notify_by) == ("icbc@example.cn", "app")


def test_queued_mail_no_longer_wanted_is_dropped_not_sent(app, browser, smtp, clock, users):
    """Between the step that queued an e-mail and the worker's pass, its user was deactivated
    or gave another address: nothing goes to the old address."""
    smtp.start()
    choose(browser, "bank_icbc", "icbc@example.cn", "each")
    choose(browser, "bank_abc", "abc@example.cn", "each")
    reject(browser, 1)  # the reporting bank hears of the rejection
    abc_case = browser("bank_abc").report(report_payload(2))
    browser("office").complete(abc_case, "review", review_decision="reject", reject_reason="材料不全")
    assert sorted(m.recipient for m in outbox(app)) == ["abc@example.cn", "icbc@example.cn"]
    choose(browser, "bank_icbc", "new@example.cn", "each")
    form = {"unit": "bank_abc", "roles": ["caseworker"], "display_name": "abc"}  # no "active"
    assert browser("admin").post(f"/admin/users/{users['bank_abc']}", data=form).status_code == 302
    output = worker(app)
    assert smtp.inbox.messages == [] and outbox(app) == [], output
    # the new address gets what comes next
    reject(browser, 3)
    worker(app)
    assert [m["To"] for m in smtp.inbox.messages] == ["new@example.cn"]
