"""Closing a case without its normal exit, by the unit its process names in
``processes/catalog.toml`` (``closing``), with that process's form.

A debt case (seed 000: cases that can never be settled still end) is closed by the office,
with its reason and evidence (forms/close_case.json): written off by the bank (核销),
enforcement terminated by the court (终本), the debtor deceased or dissolved, bankruptcy
completed. A judgment defaulter comes off the court's list (seed 004) when the court records
the judgment fulfilled, a settlement agreement performed or the listing revoked
(forms/exit_listing.json). Either way the ``case_closing`` message interrupts the case body
wherever it stands; the diagram then takes the debtor off the list and asks every unit whose
measure is still applied to lift it, as delisting does. A write-off keeps the bank's own
credit record of the loan: the case page says so.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from webapp.cases import attachments, guarantees, history, steps, versions
from webapp.cases.attachments import Upload
from webapp.catalog import ProcessSpec
from webapp.errors import Conflict, Forbidden, NotFound, StepFailed
from webapp.models import Case, Notification, User
from webapp.models.cases import OPEN
from webapp.taskforms import FormSchema, load_schema, validate

MESSAGE = "case_closing"
# reasons whose closing keeps a record beyond the lifted sanctions, and what the case page says
KEEPS_RECORD = {
    "written_off": _l(
        "Written off by the bank: the bank keeps its credit record of the loan;"
        " the joint sanctions are lifted."
    ),
}


def form(forms_dir: str, spec: ProcessSpec) -> FormSchema:
    if spec.closing_form is None:
        raise NotFound(_("A case of this kind is not closed on this page."))
    return load_schema(forms_dir, spec.closing_form)


def check_closer(user: User, spec: ProcessSpec) -> None:
    """Only the caseworkers of the unit the process names close its cases."""
    if spec.closing_unit is None:
        raise NotFound(_("A case of this kind is not closed on this page."))
    if user.unit_code == spec.closing_unit and user.has_role("caseworker"):
        return
    if spec.closing_unit == "office":
        raise Forbidden(_("Only the group office closes a case."))
    raise Forbidden(_("Only the unit in charge of this kind of case closes it."))


def close_case(
    session: Session,
    user: User,
    case: Case,
    data: dict[str, Any],
    forms_dir: str,
    upload: Upload | None = None,
    upload_dir: str = "",
) -> list[str]:
    """Close ``case`` without settlement; the units asked to lift their sanctions. Every
    check comes before the evidence file is written; nothing is kept if the step fails."""
    spec = versions.process_spec(session, case)
    check_closer(user, spec)
    data = validate(form(forms_dir, spec), data)
    if upload is not None:
        attachments.check(upload)
    case = steps.lock_case(session, case.id)
    if case.status != OPEN:
        raise Conflict(_("The case is closed."))
    if case.stage == "delisting":
        raise Conflict(_("The case is being delisted already."))
    attachment = attachments.store_on_case(session, upload_dir, upload, user, case)
    lift_units = guarantees.units_to_lift(session, case.id)
    history.append(
        session,
        case,
        "closing_ordered",
        user,
        attachment_id=attachment.id if attachment else None,
        lift_units=lift_units,
        **data,
    )
    case.closing_reason = data["closing_reason"]
    for bank in steps.creditor_banks(session, case.id):
        session.add(
            Notification(
                unit_code=bank,
                case_id=case.id,
                kind="case_closed_without_settlement",
                params={"reason": data["closing_reason"]},
            )
        )
    payload = {"reason": data["closing_reason"], "lift_units": lift_units}
    # the banks were just told: a case that closes at once (nothing to lift) is not told twice
    if not steps.deliver_message(session, case, MESSAGE, payload, user, banks_told=True):
        # the case's diagram takes no closing where it stands: an incident, never a silent no-op
        raise StepFailed("the case's diagram did not accept the closing", case.id, user.id)
    session.flush()
    return lift_units
