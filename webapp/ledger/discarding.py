"""Removing what a discarded import created, in short transactions (run by the worker).

The batch's cases were never seen (the batch hid them): each chunk removes some of them
whole, with their loans, tasks, participants, history chains and the debtors that have no
other case, and commits with the count removed. The batch's own history records the
discard and how much it removed.
"""

from __future__ import annotations

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.orm import Session

from webapp.audit import chain
from webapp.cases import history
from webapp.clock import now
from webapp.models import (
    Case,
    CaseEvent,
    CaseLink,
    CaseParticipant,
    ChainHead,
    Debtor,
    ImportBatch,
    ImportRow,
    Loan,
    Notification,
    Sanction,
    Task,
)
from webapp.models.imports import DISCARDED, DISCARDING

CASES_PER_CHUNK = 500


def remove_cases(session: Session, batch_id: int) -> None:
    """Remove every case of the batch, a chunk at a time, then mark it discarded."""
    while True:
        ids = list(
            session.scalars(select(Case.id).where(Case.import_batch_id == batch_id).limit(CASES_PER_CHUNK))
        )
        if not ids:
            break
        chains = [chain.chain_of(case_id) for case_id in ids]
        debtors = list(session.scalars(select(Case.debtor_id).where(Case.id.in_(ids))))
        session.execute(delete(CaseEvent).where(CaseEvent.chain.in_(chains)))
        session.execute(delete(ChainHead).where(ChainHead.chain.in_(chains)))
        # links to a listing the court made of the same debtor (the listing's history keeps
        # its ``case_linked`` event, naming the removed case)
        session.execute(
            delete(CaseLink).where(or_(CaseLink.case_id.in_(ids), CaseLink.linked_case_id.in_(ids)))
        )
        for model in (Task, CaseParticipant, Loan, Notification, Sanction):
            session.execute(delete(model).where(model.case_id.in_(ids)))
        session.execute(delete(Case).where(Case.id.in_(ids)))
        session.execute(
            delete(Debtor).where(Debtor.id.in_(debtors), ~exists().where(Case.debtor_id == Debtor.id))
        )
        session.execute(
            update(ImportBatch)
            .where(ImportBatch.id == batch_id, ImportBatch.status == DISCARDING)
            .values(cases_removed=ImportBatch.cases_removed + len(ids), progress_at=now())
        )
        session.commit()
    # the rows no longer point at cases (SQLite may give their ids to new cases later)
    session.execute(
        update(ImportRow).where(ImportRow.batch_id == batch_id).values(case_id=None, placed=False)
    )
    batch = session.get_one(ImportBatch, batch_id, populate_existing=True)
    batch.status = DISCARDED
    batch.finished_at = now()
    history.batch_event(session, batch, "import_discarded", None, cases_removed=batch.cases_removed)
    session.commit()
