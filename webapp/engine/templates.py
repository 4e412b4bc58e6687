"""Starting many cases of one process version at once (a ledger import).

Cases whose start data differ only in their id run the same way up to their first user
task. ``StartTemplate.build`` runs that start through the engine, keeps the state the
library's serializer wrote (``CaseRun.dump``) cut at every task id and at the case id, and
``derive`` joins the pieces again with fresh task ids and another case's id: the state the
engine would have saved for that case, without running it again (a start costs about a
millisecond; a derivation, a few microseconds).

A template is only made when that is sound, and checked before it is used:
- the start is run twice with two different case ids and must reach the same elements
  (a diagram that routes on the case id gets no template);
- no element completed on the way has an ``effect`` (a step's effects are not replayed);
- one derived state is loaded back by the engine and must give the derived snapshot, task
  ids included, with the case id in its data.
The snapshot is the one taken before the state was saved (saving forgets finished history),
as a step records it.
``build`` answers None otherwise, and the caller starts those cases one by one.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webapp.engine.definitions import Definition
from webapp.engine.runtime import CaseRun, EngineError, Snapshot

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_CASE_SLOT = -1


@dataclass(frozen=True)
class DerivedStart:
    state: str
    snapshot: Snapshot


@dataclass(frozen=True)
class StartTemplate:
    """A started case's saved state as pieces of text between its task ids and case id."""

    literals: tuple[str, ...]
    # what goes between literals[i] and literals[i + 1]: a task id's index, or _CASE_SLOT
    slots: tuple[int, ...]
    task_ids: tuple[str, ...]
    snapshot: Snapshot

    @classmethod
    def build(
        cls,
        definition: Definition,
        data: Mapping[str, Any],
        dynamic_lanes: Mapping[str, str],
        case_key: str = "case_id",
    ) -> StartTemplate | None:
        """The template for cases started with ``data`` (``case_key`` set per case), or None
        when their start cannot be shared (see the module's docstring)."""
        first, second = _sentinels()
        try:
            run = CaseRun.start(definition, {**data, case_key: first})
            other = CaseRun.start(definition, {**data, case_key: second})
        except EngineError:
            return None  # the one-by-one start records the failure as the case's incident
        if any(element.properties.get("effect") for element in run.completed):
            return None
        snapshot = run.snapshot(dynamic_lanes)
        if _shape(snapshot) != _shape(other.snapshot(dynamic_lanes)):
            return None
        pieces = re.split(rf"({_UUID}|(?<![0-9.]){first}(?![0-9.]))", run.dump())
        literals, tokens = tuple(pieces[0::2]), pieces[1::2]
        task_ids = tuple(dict.fromkeys(t for t in tokens if t != str(first)))
        if any(ready.id not in task_ids for ready in snapshot.ready):
            return None
        slots = tuple(_CASE_SLOT if t == str(first) else task_ids.index(t) for t in tokens)
        template = cls(literals, slots, task_ids, snapshot)
        return template if template.loads_back(definition, dynamic_lanes, case_key) else None

    def derive(self, case_id: int) -> DerivedStart:
        """The state and snapshot of case ``case_id`` started from this template."""
        fresh = _uuid4s(len(self.task_ids))
        case = str(case_id)
        parts = [self.literals[0]]
        for slot, literal in zip(self.slots, self.literals[1:], strict=True):
            parts.append(case if slot == _CASE_SLOT else fresh[slot])
            parts.append(literal)
        renamed = dict(zip(self.task_ids, fresh, strict=True))
        ready = [dataclasses.replace(r, id=renamed[r.id]) for r in self.snapshot.ready]
        return DerivedStart("".join(parts), dataclasses.replace(self.snapshot, ready=ready))

    def loads_back(self, definition: Definition, dynamic_lanes: Mapping[str, str], case_key: str) -> bool:
        """A derived state, loaded by the engine, is the case the derivation says."""
        case_id = _sentinels()[0]
        derived = self.derive(case_id)
        try:
            run = CaseRun.load(definition, derived.state)
            snapshot = run.snapshot(dynamic_lanes)
            data = [run.task_data(ready.id).get(case_key) for ready in snapshot.ready]
        except EngineError:
            return False
        # the saved state forgets finished history (``compact``): what the start completed is
        # the snapshot taken before saving, as a step records it
        expected = derived.snapshot
        return (
            dataclasses.replace(snapshot, completed_elements=expected.completed_elements) == expected
            and set(snapshot.completed_elements) <= set(expected.completed_elements)
            and all(value == case_id for value in data)
        )


def _uuid4s(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs as text, from one read of the OS's randomness
    (``uuid.uuid4`` per id was a third of a derivation)."""
    digits = os.urandom(16 * count).hex()
    ids = []
    for at in range(0, 32 * count, 32):
        h = digits[at : at + 32]
        ids.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}")
    return ids


# the variant bits of RFC 4122 (10xx) put into the 17th digit
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def _sentinels() -> tuple[int, int]:
    """Two distinct case ids no real case has, long enough never to occur by chance in a state."""
    first = 10**17 + secrets.randbelow(10**16)
    return first, first + 1 + secrets.randbelow(10**15)


def _shape(snapshot: Snapshot) -> Snapshot:
    """The snapshot without its task ids: what two starts must share."""
    return dataclasses.replace(snapshot, ready=[dataclasses.replace(r, id="") for r in snapshot.ready])
