"""The transaction boundary used by views, the API and CLI commands.

Domain functions flush; this commits. When the engine could not run a step, the step is
rolled back and the incident is recorded on the case in its own transaction, so a broken
diagram never leaves a half-written case nor a silent one. A caller that records failures its
own way (the timer worker's backoff, ``webapp.cases.timers``) passes its ``incident`` recorder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from webapp.cases.attachments import forget_written
from webapp.cases.steps import record_incident
from webapp.errors import Conflict, StepFailed

T = TypeVar("T")
IncidentRecorder = Callable[[Session, StepFailed], None]


def atomic(session: Session, work: Callable[[], T], *, incident: IncidentRecorder = record_incident) -> T:
    try:
        result = work()
        session.commit()
        forget_written(session, delete=False)
        return result
    except StepFailed as failure:
        _rollback(session)
        _record(session, incident, failure)
        raise
    except StaleDataError as err:
        _rollback(session)
        raise Conflict(_("The case was changed by someone else at the same time; please try again.")) from err
    except IntegrityError as err:
        _rollback(session)
        raise Conflict(_("This conflicts with data saved at the same time; please try again.")) from err
    except BaseException:
        _rollback(session)
        raise


def _record(session: Session, incident: IncidentRecorder, failure: StepFailed) -> None:
    try:
        incident(session, failure)
        session.commit()
    except (StaleDataError, IntegrityError):
        # the case changed meanwhile: the step stays refused, and its next attempt records it
        _rollback(session)
    except BaseException:
        _rollback(session)
        raise


def _rollback(session: Session) -> None:
    session.rollback()
    forget_written(session, delete=True)
