"""Hash chains over the history (tamper evidence).

Every event is sealed when it is flushed: it gets the next sequence number of its chain
(``case:<id>``; outside cases ``user:<id>`` or ``login:<name>``), the hash of the previous event, and its
own hash = SHA-256(previous hash + canonical JSON of its content). ``chain_heads`` keeps
each chain's length and last hash. Verification walks a chain and names the first event
that was altered, removed or inserted.

The canonical form is a contract with every hash already stored: never change it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from webapp import bulkwrite
from webapp.clock import now
from webapp.models import CaseEvent, ChainHead

GENESIS = "0" * 64
SYSTEM = "system"
_ORDER = itertools.count()


def chain_of(case_id: int | None) -> str:
    """The chain of a case's events (events outside cases name their own chain)."""
    return f"case:{case_id}" if case_id else SYSTEM


@dataclass
class NewEvent:
    """An event a step makes, sealed and inserted by ``insert_events``: a plain object, not
    an ORM one (a ledger import's chunk makes thousands, and building ORM objects was a
    sixth of its time). Its attributes are ``CaseEvent``'s columns."""

    case_id: int | None
    kind: str
    actor_id: int | None
    unit_code: str | None
    task_id: str | None
    element_id: str | None
    data: dict[str, Any]
    active_elements: list[str]
    completed_elements: list[str]
    created_at: dt.datetime
    chain: str | None = None
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""
    # the order events were made in this process: a step's events are sealed in that order
    made_order: int = field(default_factory=lambda: next(_ORDER))


def canonical(e: CaseEvent | NewEvent) -> bytes:
    content = {
        "chain": e.chain,
        "seq": e.seq,
        "case_id": e.case_id,
        "kind": e.kind,
        "actor_id": e.actor_id,
        "unit_code": e.unit_code,
        "task_id": e.task_id,
        "element_id": e.element_id,
        "data": e.data or {},
        "active_elements": list(e.active_elements or []),
        "completed_elements": list(e.completed_elements or []),
        "created_at": e.created_at.isoformat(),
    }
    return json.dumps(
        content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    ).encode()


def event_hash(prev_hash: str, e: CaseEvent | NewEvent) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(e)).hexdigest()


def mark_order(e: CaseEvent) -> None:
    """Remember creation order: events of one flush are sealed in the order they were made."""
    e.made_order = next(_ORDER)


@event.listens_for(Session, "before_flush")
def _seal_new_events(session: Session, _context: Any, _instances: Any) -> None:
    fresh = [o for o in session.new if isinstance(o, CaseEvent) and not o.hash]
    if not fresh:
        return
    fresh.sort(key=lambda e: e.made_order)
    with session.no_autoflush:
        heads: dict[str, ChainHead] = {}
        for e in fresh:
            chain = e.chain or chain_of(e.case_id)
            head = heads.get(chain) or session.get(ChainHead, chain)
            if head is None:
                head = ChainHead(chain=chain, length=0, head_hash=GENESIS)
                session.add(head)
            heads[chain] = head
            e.chain = chain
            e.seq = head.length + 1
            e.prev_hash = head.head_hash
            if e.created_at is None:
                e.created_at = now()
            e.hash = event_hash(e.prev_hash, e)
            head.length = e.seq
            head.head_hash = e.hash


_EVENTS = cast(Table, CaseEvent.__table__)
_HEADS = cast(Table, ChainHead.__table__)
# every column but the generated id, in table order
_EVENT_COLUMNS = [c.key for c in _EVENTS.columns if c.key != "id"]
# built once: building a statement costs about as much as running it
_INSERT_EVENTS = insert(_EVENTS)
_INSERT_HEAD = insert(_HEADS)
# more rows than this (a ledger import's chunk) are written by COPY on PostgreSQL
BULK_ROWS = 100
_UPDATE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.chain == bindparam("head_chain"))
    .values(length=bindparam("new_length"), head_hash=bindparam("new_hash"))
)
_READ_HEAD = select(_HEADS.c.length, _HEADS.c.head_hash).where(_HEADS.c.chain == bindparam("chain"))


def _head(session: Session, chain: str, stored: bool) -> tuple[ChainHead | None, tuple[int, str] | None]:
    """The session's copy of a chain's head if it holds one (current: the caller flushed),
    else the head's length and hash as stored (if it may be: ``stored``), read without
    building an ORM object."""
    held = session.identity_map.get(identity_key(ChainHead, chain))
    if isinstance(held, ChainHead):
        return held, (held.length, held.head_hash)
    if not stored:
        return None, None
    row = session.execute(_READ_HEAD, {"chain": chain}).first()
    return None, (int(row[0]), str(row[1])) if row else None


def seal(
    events: Sequence[NewEvent], tip_of: Callable[[str], tuple[int, str]] = lambda _chain: (0, GENESIS)
) -> tuple[list[dict[str, Any]], dict[str, tuple[int, str]]]:
    """Seal ``events`` on their chains in the order they were made: their rows to insert, and
    each chain's new length and last hash. ``tip_of``: a chain's length and last hash before
    (by default a new chain)."""
    tips: dict[str, tuple[int, str]] = {}
    rows: list[dict[str, Any]] = []
    for e in sorted(events, key=lambda e: e.made_order):
        chain = e.chain or chain_of(e.case_id)
        if chain not in tips:
            tips[chain] = tip_of(chain)
        length, head_hash = tips[chain]
        e.chain = chain
        e.seq = length + 1
        e.prev_hash = head_hash
        e.hash = event_hash(e.prev_hash, e)
        tips[chain] = (e.seq, e.hash)
        rows.append({key: getattr(e, key) for key in _EVENT_COLUMNS})
    return rows, tips


def insert_rows(session: Session, rows: list[dict[str, Any]], tips: dict[str, tuple[int, str]]) -> None:
    """Insert the rows and the new chains' heads ``seal`` gave, for chains that are all new
    (a ledger import's chunk: COPY on PostgreSQL)."""
    bulkwrite.insert_rows(session, _EVENTS, rows)
    heads = [{"chain": chain, "length": length, "head_hash": h} for chain, (length, h) in tips.items()]
    bulkwrite.insert_rows(session, _HEADS, heads)


def insert_events(session: Session, events: Sequence[NewEvent], new_chains: Collection[str] = ()) -> None:
    """Seal ``events`` (not added to the session) and insert them in one statement.

    A step writes several events; as ORM objects each cost the unit of work's bookkeeping and
    an INSERT of its own (to fetch its id). Events already pending in the session are flushed
    (and sealed) first, so these follow them on their chain. The events stay transient: read
    them back from the database when their ids are needed. ``new_chains``: chains that have no
    stored head (a case created in this transaction), so none is read; if one had, its head's
    INSERT fails and the transaction with it.
    """
    session.flush()
    if not events:
        return
    held: dict[str, ChainHead | None] = {}
    stored: set[str] = set()

    def tip_of(chain: str) -> tuple[int, str]:
        held[chain], tip = _head(session, chain, stored=chain not in new_chains)
        if tip is not None:
            stored.add(chain)
        return tip or (0, GENESIS)

    with session.no_autoflush:
        rows, tips = seal(events, tip_of)
    if len(rows) > BULK_ROWS:
        bulkwrite.insert_rows(session, _EVENTS, rows)
    else:
        session.execute(_INSERT_EVENTS, rows)
    new_heads = [
        {"chain": chain, "length": length, "head_hash": head_hash}
        for chain, (length, head_hash) in tips.items()
        if chain not in stored
    ]
    if len(new_heads) > BULK_ROWS:  # a ledger import's chunk: one COPY for many new chains
        bulkwrite.insert_rows(session, _HEADS, new_heads)
    elif new_heads:
        session.execute(_INSERT_HEAD, new_heads)
    for chain, (length, head_hash) in tips.items():
        if chain not in stored:
            continue
        session.execute(_UPDATE_HEAD, {"head_chain": chain, "new_length": length, "new_hash": head_hash})
        head = held[chain]
        if head is not None:
            # the session's copy of the head says what the database says, without a flush
            set_committed_value(head, "length", length)
            set_committed_value(head, "head_hash", head_hash)


@dataclass(frozen=True)
class Verdict:
    chain: str
    events: int
    ok: bool
    event_id: int | None = None
    seq: int | None = None
    problem: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"{self.chain}: {self.events} events, chain intact"
        where = f" [event id {self.event_id}, seq {self.seq}]" if self.event_id else ""
        return f"{self.chain}: {self.problem}{where}"


def verify_chain(session: Session, chain: str) -> Verdict:
    events = list(
        session.scalars(
            select(CaseEvent).where(CaseEvent.chain == chain).order_by(CaseEvent.seq, CaseEvent.id)
        )
    )
    head = session.get(ChainHead, chain)
    return check(chain, events, head.length if head else 0, head.head_hash if head else GENESIS)


def check(chain: str, events: list[CaseEvent], head_length: int, head_hash: str) -> Verdict:
    """The first problem of a chain's events (ordered by seq), or ok."""
    prev_hash, expected = GENESIS, 1
    hashes = [GENESIS]
    for index, e in enumerate(events):
        if e.seq > expected:
            return Verdict(
                chain,
                len(events),
                False,
                e.id,
                e.seq,
                f"removed: the event with seq {expected} is missing before this one",
            )
        if e.seq < expected:
            return Verdict(
                chain, len(events), False, e.id, e.seq, "inserted: a second event with the same seq"
            )
        if e.prev_hash != prev_hash:
            if len(hashes) >= 2 and e.prev_hash == hashes[-2] and index > 0:
                before = events[index - 1]
                return Verdict(
                    chain,
                    len(events),
                    False,
                    before.id,
                    before.seq,
                    "inserted: this event is not part of the chain",
                )
            return Verdict(
                chain,
                len(events),
                False,
                e.id,
                e.seq,
                "broken link: the event before this one was altered or replaced",
            )
        if event_hash(prev_hash, e) != e.hash:
            return Verdict(
                chain, len(events), False, e.id, e.seq, "altered: the content does not match its hash"
            )
        prev_hash, expected = e.hash, expected + 1
        hashes.append(e.hash)
    if len(events) > head_length:
        extra = events[head_length] if head_length < len(events) else None
        return Verdict(
            chain,
            len(events),
            False,
            extra.id if extra else None,
            extra.seq if extra else None,
            "inserted: an event after the recorded end of the chain",
        )
    if len(events) < head_length or prev_hash != head_hash:
        return Verdict(
            chain,
            len(events),
            False,
            None,
            head_length,
            f"removed: the chain should end at seq {head_length} (last event missing)",
        )
    return Verdict(chain, len(events), True)


def verify_all(session: Session) -> Iterable[Verdict]:
    chains = set(session.scalars(select(ChainHead.chain))) | set(
        session.scalars(select(CaseEvent.chain).distinct())
    )
    for chain in sorted(chains):
        yield verify_chain(session, chain)
