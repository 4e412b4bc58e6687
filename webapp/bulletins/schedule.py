"""The worker's bulletin job: once a week, month and quarter has ended (local time), its
bulletin is made once. Two workers may try at the same moment: the bulletin's unique period
key lets one commit and the other's transaction roll back (its number is given back)."""

from __future__ import annotations

import datetime as dt
import os
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from webapp.bulletins import service
from webapp.errors import Conflict
from webapp.stats import totals
from webapp.transactions import atomic


def periods(config: Any) -> tuple[str, ...]:
    """The periodic kinds the worker makes (``LIANDONG_BULLETIN_PERIODS``, comma-separated;
    all three by default, empty for none)."""
    value = config.get(
        "BULLETIN_PERIODS", os.environ.get("LIANDONG_BULLETIN_PERIODS", ",".join(service.PERIODIC))
    )
    return tuple(k for k in (p.strip() for p in str(value).split(",")) if k in service.PERIODIC)


def make_due(session: Session, at: dt.datetime, config: Any) -> list[str]:
    """Make the bulletins due at ``at``; their numbers as printed."""
    made = []
    kinds = periods(config)
    for kind, first, last in service.due_periods(session, at):
        if kind not in kinds:
            continue
        try:
            bulletin = atomic(session, partial(service.create, session, kind, first, last, at=at))
        except Conflict:  # another worker made it at the same moment
            continue
        except totals.NotFolded:  # the statistics' history is being folded: a later pass
            break
        made.append(bulletin.number)
    return made
