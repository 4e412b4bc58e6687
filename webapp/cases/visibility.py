"""Cases a ledger import is still writing are seen by nobody.

A batch's new cases are committed a chunk at a time, with ``import_batch_id`` set and the
batch's ``hides_cases`` flag up; when the last chunk is in, one short transaction lowers the
flag and every case of the batch appears at once (``webapp.ledger.importer``). Every read
that lists, counts, searches or acts on cases for a user (inboxes, case pages, supervision,
reminders, timers, the public list) adds ``SHOWN``. The set of hiding batches is tiny (the
imports under way), so the subquery is read once per statement.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from webapp.models import Case, ImportBatch

HIDING_BATCHES = select(ImportBatch.id).where(ImportBatch.hides_cases.is_(True))
SHOWN = or_(Case.import_batch_id.is_(None), Case.import_batch_id.not_in(HIDING_BATCHES))
