"""Personal identifiers are shown masked; allowed users reveal one with a stated reason,
and each reveal is an event of the case's history."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from webapp.cases import history
from webapp.cases.steps import creditor_banks
from webapp.errors import Forbidden, Invalid
from webapp.models import Case, User


def may_reveal(session: Session, user: User, case: Case) -> bool:
    """The group office, auditors, and caseworkers of a creditor of the case."""
    if user.unit_code == "office" or user.has_role("auditor"):
        return True
    return user.has_role("caseworker") and user.unit_code in creditor_banks(session, case.id)


def reveal_identifier(session: Session, user: User, case: Case, reason: str) -> str:
    reason = (reason or "").strip()
    if not may_reveal(session, user, case):
        raise Forbidden(_("You may not see this identifier in full."))
    if len(reason) < 4:
        message = _("State why you need the full identifier.")
        raise Invalid(message, {"reason": [message]})
    history.append(session, case, "identifier_revealed", user, field="identifier", reason=reason[:500])
    return case.debtor.identifier
