"""Due-process rules kept by the domain, whatever a diagram says (docs/GUARANTEES.md).

The diagram already follows them; these checks make an edited or faulty diagram fail loudly:
the step is refused and recorded as an incident instead of silently breaking a rule.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp import catalog, engine
from webapp.audit import chain
from webapp.models import Case, CaseEvent, Sanction

SANCTION_EFFECT = "sanction_applied"
TALK_STAGES = frozenset({"interview", "official_talk"})
# a case ending so has lifted every sanction (rule 2): settled and delisted, or closed by the office
LIFTING_OUTCOMES = frozenset({"delisted", "closed"})


def opens_sanction(ready: engine.ReadyTask) -> bool:
    return SANCTION_EFFECT in ready.properties.get("effect", "").split()


def sanction_may_open(
    session: Session, case: Case, pending: list[chain.NewEvent], definition: engine.Definition
) -> bool:
    """Rule 1, as the case's process says (``sanction_rule`` in processes/catalog.toml):
    ``after_talk_and_deadline``, only after the debtor was interviewed (or, for an official,
    talked to) and a deadline passed after that: the last talk's completion followed by a
    fired timer; ``while_listed``, only while the case's subject is on the list."""
    rule = catalog.current().process(definition.process_id).sanction_rule
    if rule == "while_listed":
        return case.blacklisted
    if rule != "after_talk_and_deadline":
        raise ValueError(f"unknown sanction_rule {rule!r} in processes/catalog.toml")
    talks = {
        element
        for element, props in definition.element_properties.items()
        if props.get("stage") in TALK_STAGES
    }
    stored = [
        (kind, element)
        for kind, element in session.execute(
            select(CaseEvent.kind, CaseEvent.element_id)
            .where(CaseEvent.case_id == case.id)
            .order_by(CaseEvent.seq)
        )
    ]
    history = stored + [(e.kind, e.element_id) for e in pending]
    last_talk = max(
        (i for i, (kind, element) in enumerate(history) if kind == "task_completed" and element in talks),
        default=None,
    )
    if last_talk is None:
        return False
    return any(kind == "timer_fired" for kind, _element in history[last_talk + 1 :])


def unlifted_sanctions(session: Session, case: Case) -> list[str]:
    return list(
        session.scalars(
            select(Sanction.unit_code).where(Sanction.case_id == case.id, Sanction.lifted_at.is_(None))
        )
    )


def units_to_lift(session: Session, case_id: int) -> list[str]:
    """The units whose sanctions on the case are in force, first applied first, once each:
    those asked to lift them when the case leaves the blacklist."""
    return list(
        dict.fromkeys(
            session.scalars(
                select(Sanction.unit_code)
                .where(Sanction.case_id == case_id, Sanction.lifted_at.is_(None))
                .order_by(Sanction.id)
            )
        )
    )
