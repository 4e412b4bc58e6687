"""Reporting a settlement through the case page, with the certificate file."""

from __future__ import annotations

import io

from sqlalchemy import select

from tests.support import case_row, open_tasks, report_payload
from webapp.models import Loan


def _loan(app, case_id: int) -> Loan:
    with app.extensions["db_sessionmaker"]() as session:
        loan = session.scalar(select(Loan).where(Loan.case_id == case_id))
        assert loan is not None
        session.expunge(loan)
        return loan


def test_settlement_with_certificate_file(app, browser):
    bank = browser("bank_icbc")
    case_id = bank.report(report_payload(1))
    page = bank.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="settlement-form"' in page
    pdf = (io.BytesIO(b"%PDF-1.4 settlement certificate"), "结清证明.pdf")
    response = bank.post(
        f"/cases/{case_id}/settlement",
        data={"certificate_no": "JQ-9", "certificate_file": pdf},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    loan = _loan(app, case_id)
    assert loan.settlement_certificate_no == "JQ-9" and loan.settlement_attachment_id is not None
    assert open_tasks(app, case_id) == [("verify_settlement", "office")]
    # the office downloads the certificate to verify it; a unit outside the case cannot
    download = browser("office").get(f"/attachments/{loan.settlement_attachment_id}")
    assert download.status_code == 200
    assert download.data == b"%PDF-1.4 settlement certificate"
    assert download.mimetype == "application/pdf"
    download.close()
    assert browser("court").get(f"/attachments/{loan.settlement_attachment_id}").status_code == 404


def test_bad_settlement_changes_nothing(app, browser):
    bank = browser("bank_icbc")
    case_id = bank.report(report_payload(2))
    exe = (io.BytesIO(b"MZ..."), "certificate.exe")
    response = bank.post(
        f"/cases/{case_id}/settlement",
        data={"certificate_no": "JQ-1", "certificate_file": exe},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "field-error" in response.get_data(as_text=True)
    missing_number = bank.post(f"/cases/{case_id}/settlement", data={"certificate_no": " "})
    assert missing_number.status_code == 422
    assert _loan(app, case_id).settled_at is None
    assert case_row(app, case_id).stage == "review"
    # only a creditor of the case reports its settlement
    assert (
        browser("bank_abc").post(f"/cases/{case_id}/settlement", data={"certificate_no": "X"}).status_code
        == 404
    )
    assert (
        browser("office").post(f"/cases/{case_id}/settlement", data={"certificate_no": "X"}).status_code
        == 403
    )
