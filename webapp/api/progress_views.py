"""API of the rectification progress: partial repayments and officials' withholdings
(routes on the API blueprint; the same domain functions as the case page)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from flask.typing import ResponseReturnValue

from webapp.api import idempotency
from webapp.api.idempotency import Answer
from webapp.api.views import _json_body, _reply, _user, bp, fields_and_upload, token_required
from webapp.cases import queries, repayments, withholdings
from webapp.cases.repayments import RepaymentSummary
from webapp.cases.withholdings import WithholdingSummary
from webapp.db import get_session
from webapp.models import Repayment, Withholding


def summary_json(found: RepaymentSummary) -> dict[str, Any]:
    """Amounts as strings (exact decimals, never floats)."""
    return {
        "case_id": found.case_id,
        "loans": [
            {
                "contract_no": ln.contract_no,
                "bank": ln.bank_unit_code,
                "reported": str(ln.reported),
                "repaid": str(ln.repaid),
                "outstanding": str(ln.outstanding),
                "settled": ln.settled,
            }
            for ln in found.loans
        ],
        "repayments": [
            {
                "id": r.id,
                "contract_no": r.contract_no,
                "amount": str(r.amount),
                "paid_on": r.paid_on.isoformat(),
                "source": r.source,
                "unit": r.unit_code,
                "notes": r.notes,
                "attachment_id": r.attachment_id,
                "withholding_id": r.withholding_id,
                "recorded_at": r.recorded_at.isoformat(),
            }
            for r in found.repayments
        ],
        "total_reported": str(found.total_reported),
        "total_repaid": str(found.total_repaid),
        "total_outstanding": str(found.total_outstanding),
    }


def withholding_json(entry: Withholding) -> dict[str, Any]:
    return {
        "id": entry.id,
        "month": entry.month,
        "salary": str(entry.salary),
        "withheld": str(entry.withheld),
        "minimum_wage": str(entry.minimum_wage),
        "notes": entry.notes,
        "unit": entry.unit_code,
        "recorded_at": entry.recorded_at.isoformat(),
    }


def withholdings_json(found: WithholdingSummary) -> dict[str, Any]:
    return {
        "case_id": found.case_id,
        "minimum_wage": str(found.minimum_wage),
        "started": found.started,
        "accepting": found.accepting,
        "total_withheld": str(found.total_withheld),
        "entries": [withholding_json(e) for e in found.entries],
    }


@bp.get("/cases/<int:case_id>/repayments")
@token_required
def list_repayments(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, _user(), case_id)
    return jsonify(summary_json(repayments.summary(session, case.id)))


@bp.post("/cases/<int:case_id>/repayments")
@token_required
def record_repayment(case_id: int) -> ResponseReturnValue:
    """JSON ``{"contract_no", "amount", "paid_on", "notes"}``, or multipart form fields of
    the same names with the evidence as ``evidence_file``."""
    session = get_session()
    fields, upload = fields_and_upload("evidence_file")
    case = queries.get_case(session, _user(), case_id)

    def answer() -> Answer:
        made: Repayment = repayments.record_repayment(
            session,
            _user(),
            case,
            str(fields.get("contract_no") or ""),
            fields.get("amount"),
            fields.get("paid_on"),
            fields.get("notes"),
            upload,
            current_app.config["UPLOAD_DIR"],
        )
        body = {"repayment_id": made.id, **summary_json(repayments.summary(session, case_id))}
        return Answer(body, 201)

    return _reply(idempotency.run(session, _user(), answer))


@bp.get("/cases/<int:case_id>/withholdings")
@token_required
def list_withholdings(case_id: int) -> ResponseReturnValue:
    session = get_session()
    case = queries.get_case(session, _user(), case_id)
    return jsonify(withholdings_json(withholdings.summary(session, case.id)))


@bp.post("/cases/<int:case_id>/withholdings")
@token_required
def record_withholding(case_id: int) -> ResponseReturnValue:
    """JSON ``{"month": "YYYY-MM", "salary", "withheld", "notes"}``."""
    session = get_session()
    body = _json_body()
    case = queries.get_case(session, _user(), case_id)

    def answer() -> Answer:
        entry = withholdings.record_withholding(
            session,
            _user(),
            case,
            body.get("month"),
            body.get("salary"),
            body.get("withheld"),
            body.get("notes"),
        )
        return Answer(
            {
                "withholding": withholding_json(entry),
                "repayments": summary_json(repayments.summary(session, case_id)),
            },
            201,
        )

    return _reply(idempotency.run(session, _user(), answer))
