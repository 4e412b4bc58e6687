"""Compiling a summary round: one numbered DOCX (``documents/campaign_summary.docx``, docxtpl)
holding the figures of the round's period (``webapp.stats.figures`` through the bulletins'
snapshot) and every unit's summary text, and its PDF when LibreOffice is there.

The compilation closes the round (no submission after it), takes the office's running number
of kind "summary" (e.g. 联动总〔2026〕1号), keeps the files as attachments outside any case
(served by ``/summaries`` only, to the office and auditors) and records their SHA-256 in the
office's chain. The document is always in Chinese, as the office's letters.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from docxtpl import DocxTemplate
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.bulletins.export import FIGURE_LABELS, MONEY, money
from webapp.bulletins.service import FIGURES, figures_snapshot
from webapp.cases import attachments, history
from webapp.clock import now
from webapp.deadlines.calendar import LOCAL
from webapp.documents.kinds import date_zh, documents_dir
from webapp.documents.numbering import next_number
from webapp.documents.render import pdf as convert_to_pdf
from webapp.models import Attachment, SummaryRequest, SummaryRound, Unit, User
from webapp.summaries import service

TEMPLATE = "campaign_summary.docx"


def period_text(summary_round: SummaryRound) -> str:
    return f"{date_zh(summary_round.period_start)}至{date_zh(summary_round.period_end)}"


def paragraphs(text: str) -> list[str]:
    """A summary's paragraphs: its non-empty lines."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def context(
    session: Session,
    summary_round: SummaryRound,
    requests: list[SummaryRequest],
    number: str,
    at: dt.datetime,
) -> dict[str, Any]:
    """What the template's fields are filled with."""
    names = {code: name for code, name in session.execute(select(Unit.code, Unit.name_zh))}
    found = figures_snapshot(session, summary_round.period_start, summary_round.period_end, at)
    due = summary_round.due_date
    submitted = [r for r in requests if r.submitted_at is not None and r.text is not None]
    files = {
        a.id: a.original_name
        for a in session.scalars(
            select(Attachment).where(
                Attachment.id.in_([r.attachment_id for r in submitted if r.attachment_id])
            )
        )
    }
    return {
        "office": names.get(service.OFFICE, service.OFFICE),
        "number": number,
        "title": summary_round.title,
        "period": period_text(summary_round),
        "date": date_zh(at.astimezone(LOCAL).date()),
        "figures": [
            {"label": FIGURE_LABELS[k], "value": money(found[k]) if k in MONEY else found[k]} for k in FIGURES
        ],
        "measures": [
            {"unit": names.get(m["unit"], m["unit"]), "cases": m["cases"], "measures": m["measures"]}
            for m in found["measures"]
        ],
        "asked": len(requests),
        "submitted": len(submitted),
        "late": sum(1 for r in submitted if service.is_late(r, due)),
        "missing": "、".join(names.get(r.unit_code, r.unit_code) for r in requests if r not in submitted),
        "summaries": [
            {
                "index": index,
                "unit": names.get(r.unit_code, r.unit_code),
                "submitted": date_zh(r.submitted_at.astimezone(LOCAL).date()) if r.submitted_at else "",
                "late": service.is_late(r, due),
                "paragraphs": paragraphs(r.text or ""),
                "file": files.get(r.attachment_id, "") if r.attachment_id else "",
            }
            for index, r in enumerate(submitted, start=1)
        ],
    }


def docx(values: dict[str, Any]) -> bytes:
    """The filled template (values escaped for the document's XML)."""
    template = DocxTemplate(str(documents_dir() / TEMPLATE))
    template.render(values, autoescape=True)
    out = io.BytesIO()
    template.save(out)
    return out.getvalue()


def compile_round(session: Session, user: User, round_id: int, upload_dir: str) -> SummaryRound:
    """Close the round and keep its compiled document (DOCX, and PDF where LibreOffice is)."""
    service.require_opener(user)
    summary_round = service.get_round(session, round_id)
    # first: closed under its row lock, so a submission either landed before (and is read
    # below) or is refused after
    service.close(session, summary_round, user)
    requests = service.requests_of(session, summary_round)
    at = now()
    year = at.astimezone(LOCAL).year
    seq = next_number(session, service.NUMBER_KIND, year)
    number = f"{service.settings().number_prefix}〔{year}〕{seq}号"
    content = docx(context(session, summary_round, requests, number, at))
    printed = convert_to_pdf(content)
    outputs = [(content, "docx")] + ([(printed, "pdf")] if printed is not None else [])
    stored = [
        attachments.store(
            session,
            upload_dir,
            attachments.Upload(io.BytesIO(data), f"工作总结汇总-{number}.{suffix}"),
            user,
            None,
        )
        for data, suffix in outputs
    ]
    summary_round.year, summary_round.seq, summary_round.number = year, seq, number
    summary_round.docx_attachment_id = stored[0].id
    summary_round.pdf_attachment_id = stored[1].id if len(stored) > 1 else None
    history.unit_event(
        session,
        service.OFFICE,
        "summary_compiled",
        user,
        round=summary_round.id,
        number=number,
        attachment_ids=[a.id for a in stored],
        sha256=[a.sha256 for a in stored],
        submitted=[r.unit_code for r in requests if r.submitted_at is not None],
        missing=[r.unit_code for r in requests if r.submitted_at is None],
    )
    session.flush()
    return summary_round
