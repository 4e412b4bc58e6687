"""A step's rows written with plain statements (webapp.rowwrites) keep the unit of work's
rules: the version counter catches a concurrent writer, the session does not write the rows
a second time, and new rows get the columns' defaults."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm.exc import StaleDataError

from tests.support import report_payload
from tests.test_completion_statements import counted
from webapp import rowwrites
from webapp.models import Case, Debtor, Task


def _case(session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    assert case is not None
    return case


def test_a_changed_case_is_written_once_and_its_version_moves_on(app, browser):
    case_id = browser("bank_icbc").report(report_payload(81))
    maker = app.extensions["db_sessionmaker"]
    with maker() as session:
        case = _case(session, case_id)
        version = case.version
        case.stage = "interview"
        case.incident = "x"
        with counted(app) as statements:
            rowwrites.write_changes(session, [case])
            session.commit()
        assert [s.split(" SET ")[0] for s in statements if not s.startswith(("BEGIN", "COMMIT"))] == [
            "UPDATE cases"
        ]
        assert case.version == version + 1
    with maker() as session:
        stored = _case(session, case_id)
        assert (stored.stage, stored.incident, stored.version) == ("interview", "x", version + 1)


def test_a_case_another_transaction_changed_meanwhile_is_not_overwritten(app, browser):
    case_id = browser("bank_icbc").report(report_payload(82))
    maker = app.extensions["db_sessionmaker"]
    with maker() as first:
        case = _case(first, case_id)
        with maker() as second:  # another worker's step, committed in between
            other = _case(second, case_id)
            other.stage = "negotiation"
            second.commit()
        case.stage = "interview"
        with pytest.raises(StaleDataError):
            rowwrites.write_changes(first, [case])
        first.rollback()
    with maker() as session:
        assert session.scalar(select(Case.stage).where(Case.id == case_id)) == "negotiation"


def test_new_rows_take_the_column_defaults_and_stay_out_of_the_session(app, browser):
    case_id = browser("bank_icbc").report(report_payload(83))
    maker = app.extensions["db_sessionmaker"]
    opened = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
    rows = [
        Task(id=f"00000000-0000-0000-0000-00000000000{n}", case_id=case_id, element_id="review",
             title="t", lane="office", unit_code="office", form=None, status=None, created_at=opened,
             due_at=due, context=None)
        for n, due in ((1, opened), (2, None))
    ]  # fmt: skip
    with maker() as session:
        rowwrites.insert_new(session, rows)
        assert not session.new and all(row not in session for row in rows)
        session.commit()
    with maker() as session:
        stored = {t.id[-1]: t for t in session.scalars(select(Task).where(Task.id.in_([r.id for r in rows])))}
        raw = dict(session.execute(text("SELECT id, context FROM tasks WHERE element_id = 'review'")).all())
    assert stored["1"].status == stored["2"].status == "open"  # None took the column's default
    assert stored["1"].due_at == opened and stored["2"].due_at is None
    # a JSON column stores None as JSON null, as the unit of work does
    assert stored["2"].context is None
    if app.config["BACKEND"] == "sqlite":  # PostgreSQL's driver reads JSON null back as None
        assert raw[rows[1].id] == "null"


def test_a_held_row_gets_its_key_and_defaults_and_is_not_written_again(app, users):
    maker = app.extensions["db_sessionmaker"]
    with maker() as session:
        debtor = Debtor(identifier="91340300MA00000001", kind="enterprise", name="甲公司")
        with counted(app) as statements:
            rowwrites.insert_held(session, debtor)
            assert debtor in session and not session.dirty and not session.new
            session.commit()
        assert [s.split(" (")[0] for s in statements if s.startswith(("INSERT", "UPDATE"))] == [
            "INSERT INTO debtors"
        ]
        debtor_id, created_at = debtor.id, debtor.created_at
    assert isinstance(debtor_id, int) and created_at is not None  # generated key, column default
    with maker() as session:
        stored = session.get(Debtor, debtor_id)
        assert stored is not None and (stored.name, stored.created_at) == ("甲公司", created_at)
