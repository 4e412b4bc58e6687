"""Helpers for tests: users, a logged-in browser per unit, and short ways to act on cases."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from werkzeug.test import TestResponse

from webapp import catalog, create_app, demo
from webapp.auth.passwords import hash_password
from webapp.db import Base
from webapp.models import Case, Task, Unit, User
from webapp.reference import load_units
from webapp.taskforms.keywords import today

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"
_HASH = hash_password(PASSWORD)  # scrypt is slow on purpose: hash once per test session


# one measure of each sanctioning unit, for paths that run every sanction task
SANCTION_MEASURES = {
    "bank_icbc": "no_new_credit",
    "court": "exit_ban",
    "ndrc": "credit_record",
    "market": "block_deregistration",
    "land_housing": "restrict_property_transfer",
    "finance": "no_procurement",
    "publicity": "expose_media",
}


def seed_users(app: Flask) -> dict[str, int]:
    maker = app.extensions["db_sessionmaker"]
    with maker() as session:
        load_units(session, catalog.load(app.config["PROCESSES_DIR"]))
        people = [(u.code, u.code, "caseworker") for u in session.scalars(select(Unit))]
        people += [
            ("supervisor", "office", "supervisor"),
            ("auditor", "office", "auditor"),
            ("admin", "office", "admin"),
        ]
        for username, unit, roles in people:
            session.add(
                User(
                    username=username, display_name=username, unit_code=unit, roles=roles, password_hash=_HASH
                )
            )
        session.commit()
        return {u.username: u.id for u in session.scalars(select(User))}


def credit_code(n: int) -> str:
    return demo.credit_code(1000 + n)  # demo data uses small numbers


def identity_number(n: int) -> str:
    return demo.identity_number(1000 + n)


def report_payload(n: int = 1, kind: str = "enterprise", **extra: Any) -> dict[str, Any]:
    """A valid report; ``n`` varies the debtor and contract number."""
    payload: dict[str, Any] = {
        "debtor_kind": kind,
        "name": f"测试债务人{n}",
        "identifier": identity_number(n) if kind in ("individual", "official") else credit_code(n),
        "behaviour": "official_arrears" if kind == "official" else "malicious_arrears",
        "evidence": "逾期一年",
        "loans": [
            {
                "contract_no": f"C-{n}-1",
                "principal": 1000000,
                "interest": 6000,
                "overdue_since": "2025-01-15",
                "guarantee": "保证",
            }
        ],
    }
    if kind in ("enterprise", "organisation"):
        payload["legal_representative"] = "张三"
    if kind == "official":
        payload["employer_unit"] = "employer_education"
    payload.update(extra)
    return payload


def flatten_report(payload: dict[str, Any]) -> dict[str, Any]:
    """The report as the HTML form posts it."""
    form = {k: v for k, v in payload.items() if k != "loans"}
    for i, loan in enumerate(payload.get("loans", [])):
        for key, value in loan.items():
            form[f"loans-{i}-{key}"] = str(value)
    return form


class Browser:
    """A logged-in user working through the HTML pages."""

    def __init__(self, app: Flask, username: str) -> None:
        self.app = app
        self.username = username
        self.client: FlaskClient = app.test_client()
        self.login()

    def login(self) -> None:
        response = self.client.post("/login", data={"username": self.username, "password": PASSWORD})
        assert response.status_code == 302, f"login failed for {self.username}"

    def _again_if_logged_out(self, send: Any) -> TestResponse:
        """Sessions expire after 31 days; a test that moves the clock logs in again, as a user would."""
        response: TestResponse = send()
        if response.status_code == 302 and "/login" in response.headers.get("Location", ""):
            self.login()
            response = send()
        return response

    def get(self, url: str, **kw: Any) -> TestResponse:
        return self._again_if_logged_out(lambda: self.client.get(url, **kw))

    def post(self, url: str, **kw: Any) -> TestResponse:
        return self._again_if_logged_out(lambda: self.client.post(url, **kw))

    def report(self, payload: dict[str, Any]) -> int:
        response = self.post("/report", data=flatten_report(payload))
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        return int(response.headers["Location"].rstrip("/").split("/")[-1])

    def complete(self, case_id: int, element: str, expect: int = 302, **form: Any) -> TestResponse:
        """Complete this user's unit's open task ``element`` on the case, as the form posts it,
        and check the answer's status (a redirect to the case page by default)."""
        task_id = open_task_id(self.app, case_id, element, unit=self.unit)
        data: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif isinstance(value, list):
                data[key] = [str(v) for v in value]
            else:
                data[key] = str(value)
        response = self.post(f"/tasks/{task_id}", data=data)
        assert response.status_code == expect, response.get_data(as_text=True)[:1500]
        return response

    def settle(
        self, case_id: int, certificate_no: str = "JQ-001", expect: int = 302, **extra: Any
    ) -> TestResponse:
        response = self.post(f"/cases/{case_id}/settlement", data={"certificate_no": certificate_no, **extra})
        assert response.status_code == expect, response.get_data(as_text=True)[:1500]
        return response

    @property
    def unit(self) -> str:
        with self.app.extensions["db_sessionmaker"]() as session:
            user = session.scalar(select(User).where(User.username == self.username))
            assert user is not None
            return user.unit_code


def open_task_id(app: Flask, case_id: int, element: str, unit: str | None = None) -> str:
    with app.extensions["db_sessionmaker"]() as session:
        stmt = select(Task.id).where(
            Task.case_id == case_id, Task.element_id == element, Task.status == "open"
        )
        if unit:
            stmt = stmt.where(Task.unit_code == unit)
        ids = list(session.scalars(stmt))
    assert ids, f"no open {element} task for {unit or 'any unit'} on case {case_id}"
    return ids[0]


def case_row(app: Flask, case_id: int) -> Case:
    with app.extensions["db_sessionmaker"]() as session:
        case = session.get(Case, case_id)
        assert case is not None
        session.expunge(case)
        return case


def open_tasks(app: Flask, case_id: int) -> list[tuple[str, str]]:
    """(element, unit) of the case's open tasks, sorted."""
    with app.extensions["db_sessionmaker"]() as session:
        rows = session.execute(
            select(Task.element_id, Task.unit_code).where(Task.case_id == case_id, Task.status == "open")
        )
        return sorted((e, u) for e, u in rows)


def interview_form(days: int = 30) -> dict[str, Any]:
    # today by the (possibly frozen) clock: a date after it is refused (x-not-future)
    return {
        "interview_date": today().isoformat(),
        "attendees": "办公室、债权银行",
        "commitments": "按期还款",
        "rectification_days": days,
    }


def app_with_csrf(app: Flask) -> Flask:
    """A second app on the same database with CSRF protection on, as in production."""
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": app.config["DATABASE_URL"],
            "SECRET_KEY": "x",
            "WTF_CSRF_ENABLED": True,
        }
    )


def app_with_edited_diagram(app: Flask, tmp_path: Path, old: str, new: str) -> Flask:
    """A second app on the same database whose main diagram has ``old`` replaced by ``new``
    (cases it starts use that broken version)."""
    edited = tmp_path / "processes"
    shutil.copytree(app.config["PROCESSES_DIR"], edited)
    bpmn = edited / "debt_case.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    assert old in text
    bpmn.write_text(text.replace(old, new), encoding="utf-8")
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": app.config["DATABASE_URL"],
            "WTF_CSRF_ENABLED": False,
            "PROCESSES_DIR": str(edited),
            "SECRET_KEY": "x",
            "AUDIT_KEY": app.config["AUDIT_KEY"],
            "AUDIT_CHECKPOINT_LOG": app.config["AUDIT_CHECKPOINT_LOG"],
        }
    )


def clear_database(app: Flask) -> None:
    """Empty every table (between property-test histories), and the audit checkpoints of
    what they held."""
    Path(app.config["AUDIT_CHECKPOINT_LOG"]).unlink(missing_ok=True)
    engine = app.extensions["db_engine"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())


def confirm(make_browser: Any, case_id: int, classification: str = "evasion") -> None:
    """The office confirms the report; the regulator passes the listing to the banks and the
    market regulator looks up the debtor's holdings (their parts run beside the case's path)."""
    make_browser("office").complete(
        case_id, "review", review_decision="confirm", classification=classification
    )
    notices(make_browser, case_id)


def notices(make_browser: Any, case_id: int) -> None:
    """The regulator's and the market regulator's tasks of a confirmed case, done."""
    make_browser("regulator").complete(
        case_id, "notify_banks", notice_date=today().isoformat(), notice_document_no="金监通〔2026〕1号"
    )
    make_browser("market").complete(case_id, "lookup_holdings", holdings_found="none")


def assess(make_browser: Any, case_id: int, assessment: str = "full", **form: Any) -> None:
    """The office's assessment when the rectification deadline has passed (sanction in full)."""
    make_browser("office").complete(case_id, "assess_rectification", assessment=assessment, **form)


def hide_as_imported(app: Flask, user_id: int, case_id: int) -> int:
    """Make a case look like one a running ledger import still writes (hidden from every
    list and figure); returns the import batch's id, whose ``hides_cases`` shows it again."""
    from sqlalchemy import update

    from webapp.models import ImportBatch

    with app.extensions["db_sessionmaker"]() as session:
        batch = ImportBatch(
            unit_code="bank_icbc",
            user_id=user_id,
            filename="ledger.csv",
            sha256="0" * 64,
            file_format="csv",
            header_language="zh",
            status="importing",
            hides_cases=True,
        )
        session.add(batch)
        session.flush()
        session.execute(update(Case).where(Case.id == case_id).values(import_batch_id=batch.id))
        session.commit()
        return batch.id
