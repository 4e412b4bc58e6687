"""The case page's letters (文书): the list, and the office's form to generate one (routes on
the cases blueprint; the rules live in ``webapp.documents.service``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.cases import queries
from webapp.cases.views import _case_page, bp
from webapp.db import get_session
from webapp.documents import kinds, render, service
from webapp.errors import Invalid
from webapp.models import Case
from webapp.transactions import atomic


@dataclass(frozen=True)
class Choice:
    """One option of the form: a kind of letter to one unit."""

    value: str
    kind: kinds.Kind
    unit_code: str


@dataclass(frozen=True)
class DocumentPanel:
    letters: list[service.Letter]
    may_generate: bool
    choices: list[Choice]
    pdf_available: bool


def document_panel(case: Case) -> DocumentPanel:
    session = get_session()
    allowed = service.may_generate(current_user)
    choices = []
    if allowed:
        known = kinds.all_kinds()
        for code, found in kinds.applicable(session, case).items():
            choices += [Choice(f"{code}:{a.unit_code}", known[code], a.unit_code) for a in found]
    return DocumentPanel(
        service.letters(session, current_user, case), allowed, choices, render.libreoffice() is not None
    )


@bp.context_processor
def document_panels() -> dict[str, Any]:
    """Built only when the case page's letters section asks for it."""
    return {"document_panel": document_panel}


@bp.post("/cases/<int:case_id>/documents")
@login_required
def generate(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, current_user, case_id)
    kind, _sep, unit = request.form.get("document", "").partition(":")

    def work() -> service.Letter:
        return service.generate(session, current_user, case, kind, unit, current_app.config["UPLOAD_DIR"])

    try:
        letter = atomic(session, work)
    except Invalid as err:
        fields = {"document": [m for messages in err.fields.values() for m in messages]}
        return _case_page(case_id, document_errors=fields, error=err), 422
    flash(_("%(title)s %(number)s generated.", title=letter.title, number=letter.number), "success")
    return redirect(url_for("cases.show", case_id=case_id, _anchor="documents"))
