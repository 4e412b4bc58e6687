"""CLI commands: demo data, users, timers."""

from __future__ import annotations

from sqlalchemy import func, select

from webapp.models import Case, Task, User


def test_demo_loads_users_and_cases_at_different_stages(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "Password for all: liandong-demo" in result.output
    with app.extensions["db_sessionmaker"]() as session:
        stages = set(session.scalars(select(Case.stage)))
        assert {"review", "rectification", "sanction", "official_talk", "closed"} <= stages
        assert {"repayment_plan", "delisting"} <= stages
        closed_without_settlement = session.scalar(select(Case).where(Case.closing_reason == "written_off"))
        assert closed_without_settlement is not None and not closed_without_settlement.blacklisted
        assert session.scalar(select(func.count(User.id))) >= 20
        assert session.scalar(select(func.count(Task.id)).where(Task.status == "open")) > 5
    # a case in each situation of publication: blacklisted under a running deadline (not
    # published), in joint sanction with public exposure (published), delisted (gone)
    public = app.test_client().get("/public/blacklist").get_data(as_text=True)
    assert "某某纺织有限公司" in public
    assert "某某农业科技有限公司" not in public and "李某" not in public
    # a second run on a loaded database does nothing
    again = runner.invoke(args=["demo", "--if-empty"])
    assert again.exit_code == 0 and "not loaded" in again.output
    # the demo users can log in with the printed password
    client = app.test_client()
    assert (
        client.post("/login", data={"username": "bank_icbc", "password": "liandong-demo"}).status_code == 302
    )
    assert client.get("/inbox").status_code == 200


def test_users_create_checks_policy(app, users):
    runner = app.test_cli_runner()
    short = runner.invoke(args=["users", "create", "x1", "--unit", "court", "--password", "short"])
    # the policy's messages are in the app's default language, Chinese (tests/test_sessions.py)
    assert short.exit_code != 0 and "至少输入 10 个字符" in short.output
    ok = runner.invoke(
        args=[
            "users",
            "create",
            "x2",
            "--unit",
            "court",
            "--roles",
            "caseworker,auditor",
            "--password",
            "long-enough-password",
        ]
    )
    assert ok.exit_code == 0, ok.output
    bad_unit = runner.invoke(
        args=["users", "create", "x3", "--unit", "nowhere", "--password", "long-enough-pw"]
    )
    assert bad_unit.exit_code != 0 and "unknown unit" in bad_unit.output


def test_login_rejects_wrong_password(app, users):
    client = app.test_client()
    response = client.post("/login", data={"username": "office", "password": "wrong-password"})
    assert response.status_code == 401
    assert client.get("/inbox").status_code == 302
