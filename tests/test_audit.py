"""Audit trail: every action has its event, the chain exposes tampering, replay, export,
search, and auditors change nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import re
from types import SimpleNamespace

import pytest
from freezegun import freeze_time
from sqlalchemy import select, update

from tests.support import (
    PASSWORD,
    assess,
    confirm,
    interview_form,
    open_task_id,
    open_tasks,
    report_payload,
)
from webapp.audit.chain import GENESIS, event_hash
from webapp.auth.permissions import READ_ONLY_ALLOWED
from webapp.models import CaseEvent

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def _events(app, case_id: int) -> list[CaseEvent]:
    with app.extensions["db_sessionmaker"]() as session:
        rows = list(
            session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))
        )
        session.expunge_all()
        return rows


def _verify(app, *args: str):
    return app.test_cli_runner().invoke(args=["audit", "verify", *args])


def _sql(app, statement) -> None:
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(statement)
        session.commit()


@pytest.fixture
def settled_case(app, browser) -> int:
    """Two banks; claim and unclaim; the regulator's notice and the market regulator's lookup;
    interview, deadline, the office's assessment, sanctions; an invalid certificate
    sends the case back to review; then a valid one (with its file) and the lifts."""
    with freeze_time(START) as clock:
        bank, abc, office, court = (
            browser("bank_icbc"),
            browser("bank_abc"),
            browser("office"),
            browser("court"),
        )
        case_id = bank.report(report_payload(1))
        other = report_payload(1)
        other["loans"][0]["contract_no"] = "ABC-1"
        abc.report(other)
        review = open_task_id(app, case_id, "review")
        office.post(f"/tasks/{review}/claim")
        office.post(f"/tasks/{review}/unclaim")
        confirm(browser, case_id)
        office.complete(case_id, "interview", **interview_form(3))
        clock.move_to(START + dt.timedelta(days=4))
        app.test_cli_runner().invoke(args=["timers", "fire"])
        assess(browser, case_id)
        court.complete(case_id, "apply_sanction", measures=["exit_ban"])
        bank.settle(case_id, "FAKE-1")
        abc.settle(case_id, "FAKE-2")
        office.complete(
            case_id, "verify_settlement", certificate_decision="rejected", verification_notes="伪造"
        )
        pdf = (io.BytesIO(b"%PDF-1.4 certificate"), "jq.pdf")
        response = bank.post(
            f"/cases/{case_id}/settlement",
            data={"certificate_no": "JQ-1", "certificate_file": pdf},
            content_type="multipart/form-data",
        )
        assert response.status_code == 302
        abc.settle(case_id, "JQ-2")
        office.complete(case_id, "verify_settlement", certificate_decision="verified")
        assert open_tasks(app, case_id) == [("lift_sanction", "court")]
        court.complete(case_id, "lift_sanction", lift_confirmed=True)
    return case_id


def test_every_kind_of_action_has_its_event(app, settled_case):
    kinds = {e.kind for e in _events(app, settled_case)}
    assert kinds >= {
        "reported",
        "loan_added",
        "task_opened",
        "task_claimed",
        "task_unclaimed",
        "task_completed",
        "blacklist_entered",
        "timer_fired",
        "sanction_applied",
        "task_cancelled",
        "settlement_reported",
        "message_received",
        "settlement_rejected",
        "blacklist_left",
        "sanction_lifted",
        "case_closed",
        "attachment_added",
    }
    completed = [e for e in _events(app, settled_case) if e.kind == "task_completed"]
    assert completed[0].data["submitted"] == {"review_decision": "confirm", "classification": "evasion"}
    assert all(e.actor_id and e.unit_code and e.element_id for e in completed)
    with_file = [
        e for e in _events(app, settled_case) if e.kind == "settlement_reported" and e.data["attachment_id"]
    ]
    assert len(with_file) == 1
    with app.extensions["db_sessionmaker"]() as session:
        logins = list(
            session.scalars(
                select(CaseEvent.kind).where(CaseEvent.case_id.is_(None), CaseEvent.chain.startswith("user:"))
            )
        )
    assert "login" in logins


def test_failed_logins_are_recorded(app, users):
    app.test_client().post("/login", data={"username": "office", "password": "not-the-password"})
    with app.extensions["db_sessionmaker"]() as session:
        failed = session.scalar(select(CaseEvent).where(CaseEvent.kind == "login_failed"))
        assert failed is not None and failed.data["username"] == "office" and failed.case_id is None


def test_chain_is_intact_after_a_whole_case(app, settled_case):
    result = _verify(app)
    assert result.exit_code == 0, result.output
    assert "0 altered" in result.output
    events = _events(app, settled_case)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))


def test_altering_one_byte_is_detected_and_named(app, settled_case):
    target = _events(app, settled_case)[5]
    altered = json.loads(json.dumps(target.data))
    altered["tampered"] = "x"
    _sql(app, update(CaseEvent).where(CaseEvent.id == target.id).values(data=altered))
    result = _verify(app, "--case", str(settled_case))
    assert result.exit_code == 1
    assert (
        f"altered: the content does not match its hash [event id {target.id}, seq {target.seq}]"
        in result.output
    )
    # the auditor's page shows the same verdict
    page = _auditor(app).get(f"/audit/cases/{settled_case}").get_data(as_text=True)
    assert 'data-ok="false"' in page and f"event id {target.id}" in page


def test_changing_a_timestamp_is_detected(app, settled_case):
    target = _events(app, settled_case)[3]
    _sql(
        app,
        update(CaseEvent)
        .where(CaseEvent.id == target.id)
        .values(created_at=target.created_at + dt.timedelta(seconds=1)),
    )
    assert f"event id {target.id}," in _verify(app).output


def test_deleting_an_event_is_detected_and_named(app, settled_case):
    events = _events(app, settled_case)
    gone = events[7]
    _sql(app, CaseEvent.__table__.delete().where(CaseEvent.id == gone.id))
    result = _verify(app, "--case", str(settled_case))
    assert result.exit_code == 1
    assert (
        f"removed: the event with seq {gone.seq} is missing before this one [event id {events[8].id}"
        in result.output
    )


def test_deleting_the_last_event_is_detected(app, settled_case):
    last = _events(app, settled_case)[-1]
    _sql(app, CaseEvent.__table__.delete().where(CaseEvent.id == last.id))
    result = _verify(app, "--case", str(settled_case))
    assert result.exit_code == 1
    assert f"should end at seq {last.seq}" in result.output


def test_inserting_an_event_is_detected_and_named(app, settled_case):
    """A forged event slipped in after seq 4, later events renumbered, its hash computed
    correctly from its predecessor: the chain still names it."""
    events = _events(app, settled_case)
    with app.extensions["db_sessionmaker"]() as session:
        for e in reversed(events[4:]):
            session.execute(update(CaseEvent).where(CaseEvent.id == e.id).values(seq=e.seq + 1))
        forged = CaseEvent(
            case_id=settled_case,
            kind="sanction_lifted",
            unit_code="court",
            data={},
            active_elements=[],
            completed_elements=[],
            created_at=events[3].created_at,
            chain=events[3].chain,
            seq=5,
            prev_hash=events[3].hash,
            hash="",
        )
        forged.hash = event_hash(forged.prev_hash, forged)
        session.add(forged)
        session.commit()
        forged_id = forged.id
    result = _verify(app, "--case", str(settled_case))
    assert result.exit_code == 1
    assert f"inserted: this event is not part of the chain [event id {forged_id}, seq 5]" in result.output


def test_appending_an_event_is_detected(app, settled_case):
    last = _events(app, settled_case)[-1]
    with app.extensions["db_sessionmaker"]() as session:
        forged = CaseEvent(
            case_id=settled_case,
            kind="blacklist_left",
            data={},
            active_elements=[],
            completed_elements=[],
            created_at=last.created_at,
            chain=last.chain,
            seq=last.seq + 1,
            prev_hash=last.hash,
            hash="",
        )
        forged.hash = event_hash(forged.prev_hash, forged)
        # bypass the automatic sealing: write the row as an intruder would
        session.execute(
            CaseEvent.__table__.insert().values(
                case_id=settled_case,
                kind="blacklist_left",
                data={},
                active_elements=[],
                completed_elements=[],
                created_at=forged.created_at,
                chain=forged.chain,
                seq=forged.seq,
                prev_hash=forged.prev_hash,
                hash=forged.hash,
            )
        )
        session.commit()
    result = _verify(app, "--case", str(settled_case))
    assert result.exit_code == 1
    assert "inserted: an event after the recorded end of the chain" in result.output


def _auditor(app):
    client = app.test_client()
    assert client.post("/login", data={"username": "auditor", "password": PASSWORD}).status_code == 302
    return client


def _replay_steps(page: str) -> list[dict]:
    match = re.search(r'<script type="application/json" id="replay-steps">(.*?)</script>', page, re.S)
    assert match
    return json.loads(match.group(1))


def test_replay_highlights_where_the_case_stood_at_each_step(app, settled_case):
    page = _auditor(app).get(f"/audit/cases/{settled_case}?step=3").get_data(as_text=True)
    steps = _replay_steps(page)
    assert 'value="3"' in page  # deep link to a step
    first = steps[0]
    assert "review" in first["active"]
    assert first["completed"] == ["body_start", "gw_body_merge", "init_case", "start"]
    fired = [
        s for s in steps if s["element"] == "" and "assess_rectification" in s["active"] and s["actor"] == ""
    ]
    assert fired, "the timer step shows the office's assessment active"
    assessed = [
        s for s in steps if s["element"] == "assess_rectification" and "apply_sanction" in s["active"]
    ]
    assert assessed, "the assessment's step shows the sanction tasks active"
    received = [s for s in steps if "verify_settlement" in s["active"]]
    assert received and "settled" in received[0]["completed"]
    assert "end_delisted" in steps[-1]["completed"] and steps[-1]["active"] == []
    review = next(s for s in steps if s["changes"].get("review_decision"))
    assert review["changes"]["review_decision"] == [None, "confirm"]
    assert any(s["attachments"] for s in steps)


def test_exports_carry_the_chain(app, settled_case):
    client = _auditor(app)
    exported = client.get(f"/audit/cases/{settled_case}/export.json").get_json()
    assert exported["verdict"]["ok"] is True
    prev = GENESIS
    for row in exported["events"]:
        event = SimpleNamespace(
            **{
                **row,
                "case_id": settled_case,
                "chain": exported["chain"],
                "created_at": dt.datetime.fromisoformat(row["created_at"]),
                "actor_id": _actor_id(app, row["actor"]),
            }
        )
        assert row["prev_hash"] == prev and event_hash(prev, event) == row["hash"]
        prev = row["hash"]
    text = client.get(f"/audit/cases/{settled_case}/export.csv").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["hash"] for r in rows] == [e["hash"] for e in exported["events"]]
    printable = client.get(f"/audit/cases/{settled_case}/print").get_data(as_text=True)
    assert exported["events"][-1]["hash"] in printable


def _actor_id(app, username):
    from webapp.models import User

    if not username:
        return None
    with app.extensions["db_sessionmaker"]() as session:
        return session.scalar(select(User.id).where(User.username == username))


def test_search_events_by_actor_unit_kind_and_time(app, settled_case):
    client = _auditor(app)
    page = client.get("/audit/events?actor=court&kind=task_completed").get_data(as_text=True)
    assert page.count('data-kind="task_completed"') == 2  # its sanction and its lift
    assert 'data-kind="task_completed"' in client.get(
        "/audit/events?unit=office&kind=task_completed"
    ).get_data(as_text=True)
    assert 'id="events"' not in client.get("/audit/events?from=2030-01-01").get_data(as_text=True)
    assert 'id="events"' in client.get("/audit/events?from=2026-03-01&to=2026-03-02").get_data(as_text=True)


def test_auditors_change_nothing(app, settled_case, users):
    client = _auditor(app)
    refused = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.endpoint in READ_ONLY_ALLOWED:
            continue
        url = rule.rule.replace("<int:case_id>", str(settled_case)).replace("<task_id>", "x")
        response = client.post(url, data={"review_decision": "reject"})
        refused.append((rule.rule, response.status_code))
    assert refused and all(code == 403 for _, code in refused), refused
    token = app.test_cli_runner().invoke(args=["tokens", "issue", "auditor"]).output.strip()
    api = app.test_client().post(
        "/api/v1/cases", json=report_payload(9), headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 403
    # and they read everything
    assert client.get(f"/cases/{settled_case}").status_code == 200
    assert client.get("/audit/verify").status_code == 200


def test_audit_pages_are_closed_to_other_units(app, settled_case, browser):
    assert browser("court").get(f"/audit/cases/{settled_case}").status_code == 403
    assert browser("bank_icbc").get("/audit/events").status_code == 403
