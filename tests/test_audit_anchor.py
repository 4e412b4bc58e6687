"""Audit anchoring: checkpoints of the chain heads outside the database expose what the
chains alone cannot (a truncated chain with its head moved back, a chain rewritten
consistently), and a checkpoint forged without the key is reported, not trusted."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import delete, select, update

from tests.support import Browser, report_payload
from webapp.audit.chain import GENESIS, chain_of, event_hash
from webapp.models import CaseEvent, ChainHead

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def _cli(app, *args: str):
    return app.test_cli_runner().invoke(args=["audit", *args])


def _log(app) -> Path:
    return Path(app.config["AUDIT_CHECKPOINT_LOG"])


def _lines(app) -> list[dict]:
    log = _log(app)
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def case_id(app, browser) -> int:
    """A reported case, reviewed by the office: a chain of several events."""
    case_id = browser("bank_icbc").report(report_payload(1))
    browser("office").complete(case_id, "review", review_decision="confirm", classification="evasion")
    return case_id


def _events(app, case_id: int) -> list[CaseEvent]:
    with app.extensions["db_sessionmaker"]() as session:
        rows = list(
            session.scalars(
                select(CaseEvent).where(CaseEvent.chain == chain_of(case_id)).order_by(CaseEvent.seq)
            )
        )
        session.expunge_all()
        return rows


def _truncate(app, case_id: int, keep: int) -> None:
    """Drop the chain's tail and move its head back, as someone with database access can."""
    chain, kept = chain_of(case_id), _events(app, case_id)[keep - 1]
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(delete(CaseEvent).where(CaseEvent.chain == chain, CaseEvent.seq > keep))
        session.execute(
            update(ChainHead).where(ChainHead.chain == chain).values(length=keep, head_hash=kept.hash)
        )
        session.commit()


def _rewrite(app, case_id: int, seq: int) -> None:
    """Edit one event and recompute every hash after it and the head: the chain is consistent."""
    events = _events(app, case_id)
    with app.extensions["db_sessionmaker"]() as session:
        prev = GENESIS if seq == 1 else events[seq - 2].hash
        for e in events[seq - 1 :]:
            if e.seq == seq:
                e.data = {**(e.data or {}), "rewritten": True}
            e.prev_hash = prev
            e.hash = event_hash(prev, e)
            prev = e.hash
            session.execute(
                update(CaseEvent)
                .where(CaseEvent.id == e.id)
                .values(data=e.data, prev_hash=e.prev_hash, hash=e.hash)
            )
        session.execute(update(ChainHead).where(ChainHead.chain == chain_of(case_id)).values(head_hash=prev))
        session.commit()


def test_a_checkpoint_records_every_chain_head_signed(app, case_id):
    result = _cli(app, "checkpoint")
    assert result.exit_code == 0, result.output
    assert "line 1" in result.output
    (line,) = _lines(app)
    events = _events(app, case_id)
    assert line["n"] == 1 and line["chains"][chain_of(case_id)] == [len(events), events[-1].hash]
    assert len(line["mac"]) == 64
    # nothing moved: nothing new is written
    assert "nothing new" in _cli(app, "checkpoint").output
    assert len(_lines(app)) == 1
    assert _cli(app, "verify").exit_code == 0


def test_truncating_a_chain_and_moving_its_head_is_named(app, case_id):
    events = _events(app, case_id)
    assert len(events) > 3
    assert _cli(app, "checkpoint").exit_code == 0
    _truncate(app, case_id, keep=3)
    result = _cli(app, "verify")
    assert result.exit_code == 1
    assert f"case:{case_id}: truncated: the chain has 3 events" in result.output
    assert f"recorded {len(events)}" in result.output
    case_only = _cli(app, "verify", "--case", str(case_id))
    assert case_only.exit_code == 1 and f"case:{case_id}: truncated" in case_only.output
    # without the checkpoint the database agrees with itself: the anchor is what sees it
    _log(app).unlink()
    assert _cli(app, "verify").exit_code == 0


def test_deleting_a_whole_chain_is_named(app, case_id):
    assert _cli(app, "checkpoint").exit_code == 0
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(delete(CaseEvent).where(CaseEvent.chain == chain_of(case_id)))
        session.execute(delete(ChainHead).where(ChainHead.chain == chain_of(case_id)))
        session.commit()
    result = _cli(app, "verify")
    assert result.exit_code == 1 and f"case:{case_id}: truncated: the chain has 0 events" in result.output


def test_a_chain_gone_whole_can_be_accepted_after_a_restore(app, case_id):
    """After restoring a backup older than a chain, ``checkpoint --accept`` records it as
    empty and verify passes again; a chain made anew after that is anchored as usual."""
    assert _cli(app, "checkpoint").exit_code == 0
    with app.extensions["db_sessionmaker"]() as session:
        session.execute(delete(CaseEvent).where(CaseEvent.chain == chain_of(case_id)))
        session.execute(delete(ChainHead).where(ChainHead.chain == chain_of(case_id)))
        session.commit()
    assert _cli(app, "checkpoint").exit_code == 1  # refused without --accept
    assert _cli(app, "checkpoint", "--accept").exit_code == 0
    result = _cli(app, "verify")
    assert result.exit_code == 0, result.output


def test_rewriting_a_whole_chain_is_named(app, case_id):
    assert _cli(app, "checkpoint").exit_code == 0
    _rewrite(app, case_id, seq=2)
    last = _events(app, case_id)[-1]
    result = _cli(app, "verify")
    assert result.exit_code == 1
    assert (
        f"case:{case_id}: rewritten: the hash at seq {last.seq} is not the one its checkpoint"
        in result.output
    )
    assert f"[event id {last.id}, seq {last.seq}]" in result.output
    # the chain alone is consistent
    _log(app).unlink()
    assert _cli(app, "verify").exit_code == 0


def test_a_checkpoint_forged_without_the_key_is_reported_and_not_trusted(app, case_id):
    """The intruder truncates the chain and appends a checkpoint that agrees with it, signed
    with a key of their own: the line is reported forged and the true checkpoint still holds."""
    assert _cli(app, "checkpoint").exit_code == 0
    _truncate(app, case_id, keep=2)
    body = {
        "n": 2,
        "at": START.isoformat(),
        "chains": {chain_of(case_id): [2, _events(app, case_id)[1].hash]},
    }
    payload = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    body["mac"] = hmac.new(b"a guessed key", payload, hashlib.sha256).hexdigest()
    with _log(app).open("a") as f:
        f.write(json.dumps(body) + "\n")
    result = _cli(app, "verify")
    assert result.exit_code == 1
    assert "checkpoints: line 2: forged: its signature does not verify" in result.output
    assert f"case:{case_id}: truncated" in result.output


def test_a_copied_checkpoint_line_is_out_of_sequence(app, case_id):
    assert _cli(app, "checkpoint").exit_code == 0
    first = _log(app).read_text()
    with _log(app).open("a") as f:
        f.write(first)  # a genuine old line appended again, to roll the anchor back
    result = _cli(app, "verify")
    assert result.exit_code == 1
    assert "checkpoints: line 2: out of sequence: signed as line 1" in result.output


def test_a_different_key_makes_every_line_forged(app, case_id, monkeypatch):
    assert _cli(app, "checkpoint").exit_code == 0
    monkeypatch.setitem(app.config, "AUDIT_KEY", "another-key")
    result = _cli(app, "verify")
    assert result.exit_code == 1 and "checkpoints: line 1: forged" in result.output


def test_a_missing_key_file_is_an_error_not_a_new_key(app, case_id, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "AUDIT_KEY", "")
    monkeypatch.setitem(app.config, "AUDIT_KEY_FILE", str(tmp_path / "no-such-key"))
    result = _cli(app, "checkpoint")
    assert result.exit_code == 1 and "cannot be read" in result.output
    assert not (tmp_path / "no-such-key").exists()
    (tmp_path / "key").write_text("a-key-from-a-file\n")
    monkeypatch.setitem(app.config, "AUDIT_KEY_FILE", str(tmp_path / "key"))
    assert _cli(app, "checkpoint").exit_code == 0
    assert _cli(app, "verify").exit_code == 0


def test_the_worker_checkpoints_at_most_every_interval(app, browser, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "AUDIT_CHECKPOINT_LOG", str(tmp_path / "worker.jsonl"))
    runner = app.test_cli_runner()
    with freeze_time(START) as clock:
        first = browser("bank_icbc").report(report_payload(1))
        assert runner.invoke(args=["worker", "--once"]).exit_code == 0
        assert len(_lines(app)) == 1 and chain_of(first) in _lines(app)[0]["chains"]
        second = browser("bank_icbc").report(report_payload(2))
        clock.tick(dt.timedelta(minutes=5))
        runner.invoke(args=["worker", "--once"])
        assert len(_lines(app)) == 1  # within the interval
        clock.tick(dt.timedelta(minutes=6))
        runner.invoke(args=["worker", "--once"])
        lines = _lines(app)
        assert len(lines) == 2 and chain_of(second) in lines[1]["chains"]
        assert chain_of(first) not in lines[1]["chains"]  # unchanged chains are not repeated


def test_the_worker_does_not_anchor_a_tampered_chain(app, case_id, monkeypatch, tmp_path, caplog):
    """The next pass after a truncation must not record the truncated chain as the truth;
    an operator can accept it knowingly (after restoring a backup)."""
    monkeypatch.setitem(app.config, "AUDIT_CHECKPOINT_LOG", str(tmp_path / "worker.jsonl"))
    runner = app.test_cli_runner()
    with freeze_time(START) as clock:
        runner.invoke(args=["worker", "--once"])
        _truncate(app, case_id, keep=2)
        clock.tick(dt.timedelta(minutes=11))
        runner.invoke(args=["worker", "--once"])
    assert all(chain_of(case_id) not in line["chains"] for line in _lines(app)[1:])
    assert f"case:{case_id}: truncated" in caplog.text
    refused = _cli(app, "checkpoint")
    assert refused.exit_code == 1 and f"not recorded: case:{case_id}: truncated" in refused.output
    assert _cli(app, "verify").exit_code == 1
    accepted = _cli(app, "checkpoint", "--accept")
    assert accepted.exit_code == 0 and f"recorded anyway: case:{case_id}" in accepted.output
    assert _cli(app, "verify").exit_code == 0


def test_the_verify_page_names_the_truncated_chain(app, case_id):
    assert _cli(app, "checkpoint").exit_code == 0
    _truncate(app, case_id, keep=3)
    page = Browser(app, "auditor").get("/audit/verify").get_data(as_text=True)
    assert f"case:{case_id}" in page and "truncated" in page


def test_a_line_cut_short_is_reported_and_the_next_checkpoint_still_counts(app, case_id, browser):
    assert _cli(app, "checkpoint").exit_code == 0
    with _log(app).open("a") as f:
        f.write('{"n": 2, "at": "2026-')  # a crash in the middle of a write
    browser("bank_icbc").report(report_payload(2))
    assert _cli(app, "checkpoint").exit_code == 0
    result = _cli(app, "verify")
    assert result.exit_code == 1
    assert "checkpoints: line 2: forged: the line is not a checkpoint" in result.output
    assert "line 3" not in result.output and _lines_text(app).count("\n") == 3


def _lines_text(app) -> str:
    return _log(app).read_text()
