"""A task completion through the page costs a known number of SQL statements (issue 7).

Timing lives in bench/; here the work is counted, so that a statement coming back (a second
read of the case, an autoflush in the middle of a step, one INSERT per history event) fails
a test. The history the step writes must still be whole: every event on the case's chain,
sealed in order, the chain head at its end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from freezegun import freeze_time
from sqlalchemy import event, select

from tests.support import (
    assess,
    case_row,
    interview_form,
    notices,
    open_task_id,
    open_tasks,
    report_payload,
)
from webapp.audit.chain import verify_chain
from webapp.models import CaseEvent, CaseParticipant, Sanction

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


@contextmanager
def counted(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(" ".join(statement.split()))

    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def post_completion(app: Flask, user, case_id: int, element: str, form: dict) -> list[str]:
    task_id = open_task_id(app, case_id, element, unit=user.unit)
    with counted(app) as statements:
        response = user.post(f"/tasks/{task_id}", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return statements


def _kinds(statements: list[str]) -> list[str]:
    return [s.split(" (")[0].split(" SET ")[0].split(" WHERE ")[0][:40] for s in statements]


def test_a_completion_reads_the_case_once_and_writes_its_events_in_one_statement(app, browser):
    with freeze_time(START) as clock:
        bank, office = browser("bank_icbc"), browser("office")
        court, ndrc = browser("court"), browser("ndrc")
        case_id = bank.report(report_payload(61))
        review = post_completion(
            app, office, case_id, "review", {"review_decision": "confirm", "classification": "evasion"}
        )
        # user, case (visible, locked, with its version), open tasks, participants, the new
        # participants (the regulator and the market regulator), chain head, events, chain head,
        # completed task, new tasks (the interview and the two beside the path), case; the
        # bank's milestone notice (steps._tell_banks): the banks, the notice, and the users
        # who want an e-mail for it (webapp/notifications/outbox.py)
        assert len(review) <= 14, _kinds(review)
        assert sum(s.startswith("SELECT cases.") for s in review) == 1, review
        assert sum(s.startswith("INSERT INTO case_events") for s in review) == 1, review
        assert sum(s.startswith("INSERT INTO tasks") for s in review) == 1, review
        assert sum(s.startswith("INSERT INTO case_participants") for s in review) == 1, review
        notices(browser, case_id)
        form = {k: str(v) for k, v in interview_form(1).items()}
        post_completion(app, office, case_id, "interview", form)
        clock.move_to(START + dt.timedelta(days=2))
        assert app.test_cli_runner().invoke(args=["timers", "fire"]).exit_code == 0
        assess(browser, case_id)
        sanction = post_completion(app, court, case_id, "apply_sanction", {"measures": "exit_ban"})
        assert len(sanction) <= 9, _kinds(sanction)
        post_completion(app, ndrc, case_id, "apply_sanction", {"measures": "credit_record"})

        bank.settle(case_id)
        verify = post_completion(
            app, office, case_id, "verify_settlement", {"certificate_decision": "verified"}
        )
        # the sanction tasks of the other units are cancelled: many events, one INSERT; the
        # banks' notice of the delisting: three statements (as for the review)
        assert len(verify) <= 13, _kinds(verify)
        assert sum(s.startswith("INSERT INTO case_events") for s in verify) == 1, verify
        assert open_tasks(app, case_id) == [("lift_sanction", "court"), ("lift_sanction", "ndrc")]

        lift = post_completion(app, court, case_id, "lift_sanction", {"lift_confirmed": "on"})
        # the sanction is lifted without an autoflush in the middle of the step: the case
        # row is written once
        assert sum(s.startswith("UPDATE cases") for s in lift) == 1, lift
        assert len(lift) <= 10, _kinds(lift)
        post_completion(app, ndrc, case_id, "lift_sanction", {"lift_confirmed": "on"})
        case = case_row(app, case_id)
        assert (case.status, case.outcome) == ("closed", "delisted")

    with app.extensions["db_sessionmaker"]() as session:
        assert verify_chain(session, f"case:{case_id}").ok
        kinds = list(
            session.scalars(
                select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
            )
        )
        sanctions = list(session.scalars(select(Sanction).where(Sanction.case_id == case_id)))
    assert kinds[0] == "reported" and kinds[-1] == "case_closed"
    # review, notice, lookup, interview, assessment, two sanctions, verification, two lifts
    assert kinds.count("task_cancelled") == 5 and kinds.count("task_completed") == 10
    assert sorted((s.unit_code, s.lifted_at is not None) for s in sanctions) == [
        ("court", True),
        ("ndrc", True),
    ]


def test_a_report_reads_nothing_a_new_case_cannot_have_yet(app, browser):
    # a case created in the step's own transaction has no stored tasks, participants or
    # history chain: the report does not look for them, and its history is still whole
    bank = browser("bank_icbc")
    bank.report(report_payload(62))  # the first report deploys the diagrams
    with counted(app) as statements:
        case_id = bank.report(report_payload(63))
    tables = [s.split(" FROM ")[1].split()[0] for s in statements if s.startswith("SELECT") and " FROM " in s]
    assert not {"tasks", "case_participants", "chain_heads"} & set(tables), tables
    assert len(statements) <= 13, _kinds(statements)
    assert open_tasks(app, case_id) == [("review", "office")]
    with app.extensions["db_sessionmaker"]() as session:
        assert verify_chain(session, f"case:{case_id}").ok
        participants = session.scalars(
            select(CaseParticipant.unit_code).where(CaseParticipant.case_id == case_id)
        )
        assert sorted(participants) == ["bank_icbc", "office"]
