"""Publication is a sanction (seed 000 §四(二)2): the public list shows a debtor only while a
measure exposing it is applied and not lifted, after the rectification deadline passed; it
searches by name (identifiers masked) and pages."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from freezegun import freeze_time
from sqlalchemy import select

from tests.support import (
    assess,
    case_row,
    confirm,
    interview_form,
    open_task_id,
    open_tasks,
    report_payload,
)
from webapp.cases.identifiers import mask
from webapp.models import CaseEvent, Debtor, Sanction

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


def _public(app: Flask, query: str = "", page: int = 1) -> str:
    args = "&".join(a for a in (f"q={query}" if query else "", f"page={page}" if page > 1 else "") if a)
    response = app.test_client().get("/public/blacklist" + (f"?{args}" if args else ""))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _kinds(app: Flask, case_id: int) -> list[str]:
    with app.extensions["db_sessionmaker"]() as session:
        stmt = select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
        return list(session.scalars(stmt))


def _past_the_deadline(app: Flask, browser, clock, n: int) -> tuple[int, str]:
    """A case confirmed, interviewed, past its 30-day deadline and assessed by the office for
    sanctions in full: its sanction tasks open. Its debtor is on the internal blacklist from the
    review, never on the public list."""
    office = browser("office")
    case_id = browser("bank_icbc").report(report_payload(n))
    name = case_row(app, case_id).debtor_name
    confirm(browser, case_id)
    assert case_row(app, case_id).blacklisted and name not in _public(app)
    office.complete(case_id, "interview", **interview_form(30))
    assert name not in _public(app)  # nor while the rectification deadline runs
    clock.tick(dt.timedelta(days=30, seconds=1))
    result = app.test_cli_runner().invoke(args=["timers", "fire"])
    assert f"{case_id}" in result.output
    assert name not in _public(app)  # nor while the office assesses the rectification
    assess(browser, case_id)
    assert name not in _public(app)
    return case_id, name


def test_a_debtor_is_published_only_while_exposed(app, browser, clock):
    quiet, quiet_name = _past_the_deadline(app, browser, clock, 1)
    browser("court").complete(quiet, "apply_sanction", measures=["exit_ban"])
    browser("publicity").complete(quiet, "apply_sanction", measures=["notify_employer"])
    assert quiet_name not in _public(app)  # sanctions, none exposing the debtor in public
    assert case_row(app, quiet).published_at is None

    exposed, name = _past_the_deadline(app, browser, clock, 2)
    browser("publicity").complete(exposed, "apply_sanction", measures=["expose_media", "notify_employer"])
    page = _public(app)
    assert name in page and quiet_name not in page
    assert case_row(app, exposed).published_at == dt.datetime.now(dt.UTC)
    assert _kinds(app, exposed)[-1] == "publicly_listed"
    with app.extensions["db_sessionmaker"]() as session:
        stmt = select(Debtor.identifier).where(Debtor.id == case_row(app, exposed).debtor_id)
        identifier = session.scalar(stmt)
    assert identifier and mask(identifier) in page and identifier not in page

    # a reported settlement takes it off at once; verified, the exposure is lifted with the rest
    browser("bank_icbc").settle(exposed)
    assert name not in _public(app)
    browser("office").complete(exposed, "verify_settlement", certificate_decision="verified")
    browser("publicity").complete(exposed, "lift_sanction", lift_confirmed=True)
    assert case_row(app, exposed).published_at is None
    assert "publicly_delisted" in _kinds(app, exposed)
    assert name not in _public(app)


def test_the_published_list_searches_by_name_and_pages(app, browser, clock):
    names = []
    for n in (11, 12, 13):
        case_id, name = _past_the_deadline(app, browser, clock, n)
        browser("publicity").complete(case_id, "apply_sanction", measures=["expose_led"])
        names.append(name)
    assert all(name in _public(app) for name in names)
    found = _public(app, query=names[1])
    assert names[1] in found and names[0] not in found and names[2] not in found
    assert "没有该名称的公示债务人" in _public(app, query="无此债务人")
    assert "没有该名称的公示债务人" in _public(app, query="%")  # matched literally
    assert not any(name in _public(app, page=2) for name in names)  # 50 a page


def test_a_unit_may_answer_that_no_measure_applies_with_its_reason(app, browser, clock):
    """Issue 18: a sanctioning unit answers "no measure applicable" and why, instead of at
    least one measure; nothing of it is applied, so nothing is lifted at delisting."""
    case_id, _name = _past_the_deadline(app, browser, clock, 21)
    court, ndrc = browser("court"), browser("ndrc")
    form = court.get(f"/tasks/{open_task_id(app, case_id, 'apply_sanction', unit='court')}").get_data(
        as_text=True
    )
    assert 'name="no_measure"' in form and "无适用的惩戒措施" in form and 'name="no_measure_reason"' in form
    page = court.complete(case_id, "apply_sanction", expect=422).get_data(as_text=True)
    assert "measures" in page  # neither a measure nor "no measure applicable"
    court.complete(case_id, "apply_sanction", expect=422, no_measure=True)  # no reason given
    court.complete(  # a measure and "none applies" at once
        case_id, "apply_sanction", expect=422, no_measure=True, no_measure_reason="无", measures=["exit_ban"]
    )
    court.complete(case_id, "apply_sanction", no_measure=True, no_measure_reason="债务人无可执行财产线索")
    ndrc.complete(case_id, "apply_sanction", measures=["credit_record"])
    with app.extensions["db_sessionmaker"]() as session:
        events = list(
            session.scalars(
                select(CaseEvent).where(
                    CaseEvent.case_id == case_id, CaseEvent.kind == "no_measure_applicable"
                )
            )
        )
        units = set(session.scalars(select(Sanction.unit_code).where(Sanction.case_id == case_id)))
    assert [(e.unit_code, e.data["reason"]) for e in events] == [("court", "债务人无可执行财产线索")]
    assert units == {"ndrc"}
    browser("bank_icbc").settle(case_id)
    browser("office").complete(case_id, "verify_settlement", certificate_decision="verified")
    assert open_tasks(app, case_id) == [("lift_sanction", "ndrc")]  # nothing for the court to lift
