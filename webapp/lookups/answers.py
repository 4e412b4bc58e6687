"""What a look-up answers: listed or not, since when, the measures in force in the looking
unit's field, and the case only to a unit taking part in it.

A debtor whose cases were never on the blacklist is answered "not listed" like an unknown
one: a case still under review is no business of the looking unit. Every look-up (a batch:
once, with its counts) is an event in the looking unit's chain (``unit:<code>``), the
identifier masked and digested, never in clear.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from webapp import catalog as catalog_mod
from webapp.cases import history
from webapp.cases.identifiers import mask
from webapp.cases.search_filters import any_identifier
from webapp.cases.visibility import SHOWN
from webapp.errors import Forbidden, Invalid
from webapp.models import Case, CaseParticipant, Debtor, Sanction, User
from webapp.models.cases import identifier_digest

T = TypeVar("T")
LISTED, DELISTED, NOT_LISTED = "listed", "delisted", "not_listed"
MAX_ROWS = 10_000
MAX_NAME = 200
# identifiers and names per IN list: well under SQLite's and PostgreSQL's parameter limits
_CHUNK = 500


def may_look_up(user: User) -> bool:
    """Caseworkers and supervisors of any unit; not auditors (read only) nor administrators."""
    return bool(user.role_set & {"caseworker", "supervisor"})


def check_user(user: User) -> None:
    if not may_look_up(user):
        raise Forbidden(_("Only caseworkers and supervisors of units look up the blacklist."))


@dataclass(frozen=True)
class Query:
    """One question: a compact, valid identifier or a name (exact)."""

    identifier: str | None = None
    name: str | None = None

    @property
    def shown(self) -> str:
        """The question as it may be shown and recorded: the identifier masked."""
        return mask(self.identifier) if self.identifier else str(self.name)


def parse(identifier: object = None, name: object = None) -> Query:
    """A query from what was typed; ``Invalid`` naming the field otherwise. An identifier, when
    given, is what is looked up (a name beside it is ignored)."""
    ident = str(identifier or "").strip().replace(" ", "").upper()
    text = " ".join(str(name or "").split())
    if ident:
        return Query(identifier=_valid_identifier(ident))
    if not text:
        message = _("Give an identifier or a name.")
        raise Invalid(message, {"identifier": [message]})
    if len(text) > MAX_NAME:
        message = _("The name is longer than %(n)s characters.", n=MAX_NAME)
        raise Invalid(message, {"name": [message]})
    return Query(name=text)


def _valid_identifier(ident: str) -> str:
    if len(ident) != 18:
        message = _("An identifier has 18 characters (identity number or unified social credit code).")
        raise Invalid(message, {"identifier": [message]})
    return any_identifier(ident)


@dataclass(frozen=True)
class Match:
    """A debtor the question found, as the looking unit may see it."""

    name: str
    identifier_masked: str
    status: str  # LISTED or DELISTED
    listed_since: dt.datetime | None
    delisted_at: dt.datetime | None
    # codes of the measures in force that the looking unit's field applies
    measures: tuple[str, ...]
    # the case, only when the looking unit takes part in it (or sees every case)
    case_id: int | None


@dataclass(frozen=True)
class Answer:
    query: Query | None
    status: str
    matches: tuple[Match, ...] = ()
    # a batch row that is not a valid question: why (no answer then)
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "query": self.query.shown if self.query else None,
            "status": self.status if self.error is None else None,
            "error": self.error,
            "matches": [
                {
                    "name": m.name,
                    "identifier": m.identifier_masked,
                    "status": m.status,
                    "listed_since": m.listed_since.isoformat() if m.listed_since else None,
                    "delisted_at": m.delisted_at.isoformat() if m.delisted_at else None,
                    "measures": list(m.measures),
                    "case_id": m.case_id,
                }
                for m in self.matches
            ],
        }


@dataclass
class _Debtor:
    name: str
    identifier: str
    digest: str
    cases: list[tuple[int, bool, dt.datetime | None, dt.datetime | None]] = field(default_factory=list)


def field_measures(user: User) -> frozenset[str]:
    """The measures of the looking unit's field: a bank's are the creditor banks' measures."""
    return catalog_mod.current().field_measures(user.unit_code, user.unit.kind)


def answer(session: Session, user: User, questions: Sequence[Query | Invalid]) -> list[Answer]:
    """Each question's answer, in order; an ``Invalid`` in place of a question (a bad row)
    gets its message back. Reads only: the caller records the look-up."""
    check_user(user)
    valid = [q for q in questions if isinstance(q, Query)]
    digests = {identifier_digest(q.identifier) for q in valid if q.identifier}
    names = {q.name for q in valid if q.name}
    debtors: dict[int, _Debtor] = {}
    for column, values in ((Debtor.identifier_hash, digests), (Case.debtor_name, names)):
        for chunk in _chunks(sorted(values)):
            _read_cases(session, column.in_(chunk), debtors)
    matches = _matches(session, user, debtors)
    by_digest = {d.digest: [matches[i]] for i, d in debtors.items() if i in matches}
    by_name: dict[str, list[Match]] = defaultdict(list)
    for debtor_id, d in debtors.items():
        if debtor_id in matches:
            by_name[d.name].append(matches[debtor_id])
    answers = []
    for q in questions:
        if isinstance(q, Invalid):
            answers.append(Answer(None, NOT_LISTED, error=q.message))
            continue
        found = (
            by_digest.get(identifier_digest(q.identifier), [])
            if q.identifier
            else by_name.get(str(q.name), [])
        )
        found = sorted(found, key=lambda m: (m.status != LISTED, m.identifier_masked))
        status = NOT_LISTED
        if found:
            status = LISTED if any(m.status == LISTED for m in found) else DELISTED
        answers.append(Answer(q, status, tuple(found)))
    return answers


def _chunks(values: list[T]) -> Iterable[list[T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _read_cases(session: Session, where: ColumnElement[bool], debtors: dict[int, _Debtor]) -> None:
    """The debtors' cases that were ever on the blacklist (and are shown)."""
    stmt = (
        select(
            Case.debtor_id,
            Case.debtor_name,
            Debtor.identifier,
            Debtor.identifier_hash,
            Case.id,
            Case.blacklisted,
            Case.blacklisted_at,
            Case.delisted_at,
        )
        .join(Debtor, Debtor.id == Case.debtor_id)
        .where(where, SHOWN, or_(Case.blacklisted.is_(True), Case.delisted_at.is_not(None)))
    )
    for debtor_id, name, identifier, digest, case_id, listed, since, delisted in session.execute(stmt):
        debtor = debtors.setdefault(
            debtor_id, _Debtor(name, identifier, digest or identifier_digest(identifier))
        )
        if all(c[0] != case_id for c in debtor.cases):
            debtor.cases.append((case_id, listed, since, delisted))


def _matches(session: Session, user: User, debtors: dict[int, _Debtor]) -> dict[int, Match]:
    case_ids = [c[0] for d in debtors.values() for c in d.cases]
    in_force: dict[int, set[str]] = defaultdict(set)
    taking_part: set[int] = set()
    for chunk in _chunks(case_ids):
        for case_id, measures in session.execute(
            select(Sanction.case_id, Sanction.measures).where(
                Sanction.case_id.in_(chunk), Sanction.lifted_at.is_(None)
            )
        ):
            in_force[case_id].update(measures or [])
        if not user.sees_all_cases:
            taking_part.update(
                session.scalars(
                    select(CaseParticipant.case_id).where(
                        CaseParticipant.case_id.in_(chunk), CaseParticipant.unit_code == user.unit_code
                    )
                )
            )
    own_field = field_measures(user)
    order = {code: i for i, code in enumerate(sorted(own_field))}
    for i, m in enumerate(catalog_mod.current().all_measures()):
        if m.code in own_field:
            order[m.code] = i
    result = {}
    for debtor_id, d in debtors.items():
        listed = [c for c in d.cases if c[1]]
        seen = [c[0] for c in d.cases if user.sees_all_cases or c[0] in taking_part]
        if listed:
            since = min((c[2] for c in listed if c[2]), default=None)
            codes = {code for c in listed for code in in_force[c[0]] if code in own_field}
            result[debtor_id] = Match(
                d.name,
                mask(d.identifier),
                LISTED,
                since,
                None,
                tuple(sorted(codes, key=lambda code: order.get(code, 0))),
                max((c[0] for c in listed if c[0] in seen), default=None),
            )
        else:
            delisted = max((c[3] for c in d.cases if c[3]), default=None)
            result[debtor_id] = Match(
                d.name, mask(d.identifier), DELISTED, None, delisted, (), max(seen, default=None)
            )
    return result


def record(session: Session, user: User, answers: Sequence[Answer], *, source: str, batch: bool) -> None:
    """The look-up in the looking unit's chain: one event per question asked alone, one per
    batch with its counts. The identifier is kept masked and digested, never in clear."""
    query = answers[0].query if len(answers) == 1 else None
    if not batch and query is not None:
        asked: dict[str, object] = {"name": query.name}
        if query.identifier:
            asked = {"identifier": query.shown, "identifier_hash": identifier_digest(query.identifier)}
        status = answers[0].status
        history.unit_event(
            session, user.unit_code, "blacklist_lookup", user, source=source, status=status, **asked
        )
        return
    history.unit_event(
        session,
        user.unit_code,
        "blacklist_lookup_batch",
        user,
        source=source,
        count=len(answers),
        invalid=sum(1 for a in answers if a.error),
        listed=sum(1 for a in answers if a.error is None and a.status == LISTED),
    )


def look_up(
    session: Session, user: User, questions: Sequence[Query | Invalid], *, source: str, batch: bool = False
) -> list[Answer]:
    """Answer and record (the caller commits)."""
    if not questions:
        raise Invalid(_("Nothing to look up."))
    if len(questions) > MAX_ROWS:
        raise Invalid(_("At most %(n)s look-ups at once.", n=f"{MAX_ROWS:,}"))
    answers = answer(session, user, questions)
    record(session, user, answers, source=source, batch=batch)
    return answers
