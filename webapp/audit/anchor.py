"""Checkpoints of the history chains, kept outside the database (anchoring).

A chain shows an edit of any one event, but whoever can write the database can also drop a
chain's tail and move its ``chain_heads`` row back, or rewrite every hash after an edit: the
database then agrees with itself. So the worker (every ``AUDIT_CHECKPOINT_MINUTES``, and
``flask audit checkpoint`` on demand) appends a checkpoint of every chain whose head moved
(chain, length, head hash) to a log outside the database, one JSON line each, signed with an
HMAC key that is not in the database either. ``flask audit verify`` and ``/audit/verify``
compare each chain with its latest checkpoint: shorter is *truncated*, another hash at the
checkpointed length is *rewritten*, and a line whose signature does not verify (or that is
out of sequence: copied, or the lines before it removed) is *forged* and not trusted.

A checkpoint is written for a chain only when it extends the previous one (the event at the
checkpointed length still has the checkpointed hash), so a tampered chain is not anchored
anew by the next pass; ``--accept`` does so knowingly (after restoring a backup).

Limits: events newer than the last checkpoint are only as safe as the database (the window
is the interval), and whoever holds both the key and the log can forge checkpoints: keep the
key away from the database's administrators (docs/PRODUCTION.md).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import String, cast, literal, select, tuple_
from sqlalchemy.orm import Session

from webapp import config as settings
from webapp.audit.chain import Verdict, verify_all, verify_chain
from webapp.clock import now
from webapp.models import Case, CaseEvent, ChainHead, ImportBatch

LOG_CHAIN = "checkpoints"  # how problems of the log itself are named in a verdict
_CHUNK = 500  # (chain, seq) pairs per query
# when each log is next due, per process: the worker passes every second, the log is read
# only when a checkpoint may be due
_next_due: dict[str, dt.datetime] = {}


class AnchorError(Exception):
    """The checkpoint key or log cannot be used (missing key file, unreadable log)."""


@dataclass(frozen=True)
class Anchor:
    """The latest trusted checkpoint of one chain."""

    chain: str
    length: int
    head_hash: str
    at: str
    line: int


@dataclass
class Log:
    anchors: dict[str, Anchor] = field(default_factory=dict)
    forged: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)
    lines: int = 0
    last_at: dt.datetime | None = None


@dataclass(frozen=True)
class CheckpointResult:
    line: int | None  # the line written, None when nothing was
    chains: int  # chains recorded in it
    refused: list[Verdict]  # chains that do not extend their checkpoint (not recorded)
    path: str


def log_path(config: Mapping[str, Any]) -> str:
    return str(config.get("AUDIT_CHECKPOINT_LOG") or "")


def audit_key(config: Mapping[str, Any]) -> bytes:
    """The HMAC key: ``LIANDONG_AUDIT_KEY``, else the key file ``LIANDONG_AUDIT_KEY_FILE``,
    else (development) a key generated once in the instance folder, like the secret key."""
    if key := config.get("AUDIT_KEY"):
        return str(key).encode()
    path = Path(config.get("AUDIT_KEY_FILE") or settings.INSTANCE / "audit_key")
    if not config.get("AUDIT_KEY_FILE") and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    try:
        key_text = path.read_text().strip()
    except OSError as err:
        raise AnchorError(f"the audit key file {path} cannot be read: {err.strerror}") from err
    if not key_text:
        raise AnchorError(f"the audit key file {path} is empty")
    return key_text.encode()


def _sign(key: bytes, body: dict[str, Any]) -> str:
    payload = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def _parse(text: str, key: bytes) -> Log:
    log = Log()
    for number, raw in enumerate(text.splitlines(), start=1):
        log.lines = number
        try:
            body = json.loads(raw)
            mac = body.pop("mac")
            chains = body["chains"]
            at = str(body["at"])
        except (ValueError, KeyError, TypeError, AttributeError):
            log.forged.append((number, "forged: the line is not a checkpoint"))
            continue
        if not isinstance(mac, str) or not hmac.compare_digest(mac, _sign(key, body)):
            log.forged.append((number, "forged: its signature does not verify with the audit key"))
            continue
        if body.get("n") != number:
            log.forged.append(
                (number, f"out of sequence: signed as line {body.get('n')} (copied, or lines removed)")
            )
            continue
        for chain, (length, head_hash) in chains.items():
            log.anchors[chain] = Anchor(chain, int(length), str(head_hash), at, number)
        log.last_at = dt.datetime.fromisoformat(at)
    return log


def read_log(config: Mapping[str, Any]) -> Log:
    """The latest trusted checkpoint of each chain, and the lines that cannot be trusted."""
    path = log_path(config)
    if not path or not os.path.exists(path):
        return Log()
    key = audit_key(config)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return _parse(f.read(), key)
    except OSError as err:
        raise AnchorError(f"the checkpoint log {path} cannot be read: {err.strerror}") from err


@contextmanager
def _locked_log(path: str) -> Iterator[IO[str]]:
    """The log opened for appending under an exclusive lock: several workers may pass at once."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.seek(0)
            yield f
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _events_at(session: Session, wanted: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, int]]:
    """The hash and id of each (chain, seq) event asked for that exists."""
    found: dict[tuple[str, int], tuple[str, int]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = session.execute(
            select(CaseEvent.chain, CaseEvent.seq, CaseEvent.hash, CaseEvent.id).where(
                tuple_(CaseEvent.chain, CaseEvent.seq).in_(chunk)
            )
        )
        found.update({(chain, seq): (h, event_id) for chain, seq, h, event_id in rows})
    return found


# cases a ledger import still hides are not anchored: a discarded import removes them whole,
# which would read as truncation; they are anchored by the first checkpoint after they appear
HIDDEN_CHAINS = select(literal("case:").concat(cast(Case.id, String))).where(
    Case.import_batch_id.in_(select(ImportBatch.id).where(ImportBatch.hides_cases.is_(True)))
)


def write_checkpoint(
    session: Session,
    config: Mapping[str, Any],
    *,
    accept: bool = False,
    min_interval: dt.timedelta | None = None,
) -> CheckpointResult:
    """Append a signed checkpoint of every chain whose head moved since its last one.

    A chain that does not extend its checkpoint (shorter, or another hash at the checkpointed
    length) is left out and returned in ``refused``, unless ``accept``. With ``min_interval``
    nothing is written if another process wrote a checkpoint less than that long ago."""
    path = log_path(config)
    if not path:
        raise AnchorError("no checkpoint log is configured (LIANDONG_AUDIT_CHECKPOINT_LOG)")
    key = audit_key(config)
    at = now()
    with _locked_log(path) as f:
        text = f.read()
        log = _parse(text, key)
        if min_interval is not None and log.last_at and log.last_at <= at < log.last_at + min_interval:
            return CheckpointResult(None, 0, [], path)
        heads = {
            chain: (length, h)
            for chain, length, h in session.execute(
                select(ChainHead.chain, ChainHead.length, ChainHead.head_hash).where(
                    ChainHead.chain.not_in(HIDDEN_CHAINS)
                )
            )
        }
        changed = {
            chain: head
            for chain, head in heads.items()
            if chain not in log.anchors or head != (log.anchors[chain].length, log.anchors[chain].head_hash)
        }
        earlier = [
            (c, log.anchors[c].length)
            for c in changed
            if c in log.anchors and changed[c][0] >= log.anchors[c].length
        ]
        at_anchor = _events_at(session, earlier)
        session.rollback()  # read only: end the read transaction
        refused = []
        for chain, anchor in log.anchors.items():
            length, _head_hash = heads.get(chain, (0, ""))
            if length < anchor.length:
                refused.append(_truncated(chain, length, anchor))
            elif chain in changed and at_anchor.get((chain, anchor.length), ("", 0))[0] != anchor.head_hash:
                refused.append(
                    _rewritten(chain, length, anchor, at_anchor.get((chain, anchor.length), ("", None))[1])
                )
        if not accept:
            for verdict in refused:
                changed.pop(verdict.chain, None)
        else:
            # a chain gone whole (a backup older than it restored) is recorded as empty
            for verdict in refused:
                if verdict.chain not in heads:
                    changed[verdict.chain] = (0, "")
        if not changed:
            return CheckpointResult(None, 0, refused, path)
        body: dict[str, Any] = {
            "n": log.lines + 1,
            "at": at.isoformat(),
            "chains": {chain: [length, h] for chain, (length, h) in sorted(changed.items())},
        }
        body["mac"] = _sign(key, body)
        # a line cut short by a crash stays a line of its own (reported), not the start of this one
        start = "\n" if text and not text.endswith("\n") else ""
        f.write(start + json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return CheckpointResult(log.lines + 1, len(changed), refused, path)


def checkpoint_if_due(session: Session, config: Mapping[str, Any], log: Any) -> CheckpointResult | None:
    """The worker's hook: a checkpoint at most every ``AUDIT_CHECKPOINT_MINUTES`` (0: never).
    Problems are logged, never raised: the worker's other lanes go on."""
    minutes = float(config.get("AUDIT_CHECKPOINT_MINUTES") or 0)
    path = log_path(config)
    if minutes <= 0 or not path:
        return None
    interval = dt.timedelta(minutes=minutes)
    at = now()
    due = _next_due.get(path)
    if due is not None and due - interval <= at < due:
        return None
    _next_due[path] = at + interval
    try:
        result = write_checkpoint(session, config, min_interval=interval)
    except (AnchorError, OSError) as err:
        log.error("audit checkpoint not written: %s", err)
        return None
    for verdict in result.refused:
        log.error("audit checkpoint: %s", verdict.describe())
    return result


def verify(session: Session, config: Mapping[str, Any], chain: str | None = None) -> list[Verdict]:
    """Every chain (or ``chain``) as ``verify_all`` sees it and against its latest checkpoint,
    then the log's lines that cannot be trusted."""
    problems: list[Verdict] = []
    try:
        log = read_log(config)
    except AnchorError as err:
        log = Log()
        problems.append(Verdict(LOG_CHAIN, 0, False, problem=f"cannot be checked: {err}"))
    verdicts = [verify_chain(session, chain)] if chain else list(verify_all(session))
    anchors = {c: a for c, a in log.anchors.items() if chain is None or c == chain}
    seen = {v.chain for v in verdicts}
    # a chain whose events and head were all deleted is known only to its checkpoint
    verdicts += [_truncated(c, 0, a) for c, a in sorted(anchors.items()) if c not in seen and a.length]
    intact = [v for v in verdicts if v.ok and v.chain in anchors]
    at_anchor = _events_at(session, [(v.chain, anchors[v.chain].length) for v in intact])
    result = []
    for v in verdicts:
        anchor = anchors.get(v.chain)
        if v.ok and anchor is not None:
            if v.events < anchor.length:
                v = _truncated(v.chain, v.events, anchor)
            elif at_anchor.get((v.chain, anchor.length), ("", 0))[0] != anchor.head_hash:
                v = _rewritten(v.chain, v.events, anchor, at_anchor[(v.chain, anchor.length)][1])
        result.append(v)
    problems += [Verdict(LOG_CHAIN, 0, False, problem=f"line {n}: {why}") for n, why in log.forged]
    return result + problems


def _truncated(chain: str, events: int, anchor: Anchor) -> Verdict:
    return Verdict(
        chain,
        events,
        False,
        None,
        anchor.length,
        f"truncated: the chain has {events} events, its checkpoint of {anchor.at} recorded {anchor.length}",
    )


def _rewritten(chain: str, events: int, anchor: Anchor, event_id: int | None) -> Verdict:
    return Verdict(
        chain,
        events,
        False,
        event_id,
        anchor.length,
        f"rewritten: the hash at seq {anchor.length} is not the one its checkpoint of {anchor.at} recorded",
    )
