"""A letter's DOCX from its kind's template (docxtpl), and its PDF when LibreOffice is there.

Letters are always in Chinese: they go to the county's units whatever the language of the
page that asked for them. They name the debtor and its identifier in full (the receiving
unit acts on them); who may read them is ``webapp.documents.access``.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import signal
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from docxtpl import DocxTemplate
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp import catalog
from webapp.documents.kinds import Addressee, Kind, date_zh, documents_dir
from webapp.models import Case, Unit
from webapp.taskforms.schemas import enum_title, load_schema

OFFICE = "office"
# a conversion that takes longer is given up (the letter is kept as DOCX only)
PDF_TIMEOUT_SECONDS = 60
IDENTIFIER_LABELS = {"enterprise": "统一社会信用代码", "organisation": "统一社会信用代码"}


def libreoffice() -> str | None:
    """The LibreOffice program on PATH, or None (letters are then DOCX only)."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def context(
    session: Session, case: Case, kind: Kind, addressee: Addressee, number: str, day: dt.date
) -> dict[str, Any]:
    """What the template's fields are filled with."""
    names = {code: name for code, name in session.execute(select(Unit.code, Unit.name_zh))}
    report = load_schema(str(current_app.config["FORMS_DIR"]), "report.json").properties
    debtor = case.debtor
    loans = list(case.loans)
    behaviours = list(
        dict.fromkeys(enum_title(report.get("behaviour", {}), ln.behaviour, "zh") for ln in loans)
    )
    return {
        "office": names.get(OFFICE, OFFICE),
        "number": number,
        "title": kind.title,
        "addressee": names.get(addressee.unit_code, addressee.unit_code),
        "debtor_name": debtor.name,
        "debtor_kind": enum_title(report.get("debtor_kind", {}), debtor.kind, "zh"),
        "identifier_label": IDENTIFIER_LABELS.get(debtor.kind, "公民身份号码"),
        "identifier": debtor.identifier,
        "legal_representative": debtor.legal_representative or "",
        "behaviour": "；".join(behaviours),
        "loans": [
            {
                "contract_no": ln.contract_no,
                "bank": names.get(ln.bank_unit_code, ln.bank_unit_code),
                "principal": _money(ln.principal),
                "interest": _money(ln.interest),
                "overdue_since": date_zh(ln.overdue_since),
            }
            for ln in loans
        ],
        "total_principal": _money(sum((ln.principal for ln in loans), Decimal(0))),
        "total_interest": _money(sum((ln.interest for ln in loans), Decimal(0))),
        "reason": addressee.reason,
        "measures": "、".join(_measure_labels().get(m, m) for m in addressee.measures),
        "date": date_zh(day),
        "case_id": case.id,
    }


def docx(kind: Kind, values: dict[str, Any]) -> bytes:
    """The filled template (values escaped for the document's XML)."""
    template = DocxTemplate(str(documents_dir() / kind.template))
    template.render(values, autoescape=True)
    out = io.BytesIO()
    template.save(out)
    return out.getvalue()


def pdf(content: bytes, program: str | None = None, suffix: str = "docx") -> bytes | None:
    """The DOCX (or another office file: ``suffix``, e.g. a bulletin's "xlsx") converted by
    LibreOffice headless in a directory of its own (its profile too, so conversions never
    share state), or None when it is missing, fails or hangs."""
    program = program or libreoffice()
    if program is None:
        return None
    with tempfile.TemporaryDirectory(prefix="liandong-pdf-") as work:
        source = Path(work) / f"letter.{suffix}"
        source.write_bytes(content)
        command = [
            program,
            f"-env:UserInstallation=file://{work}/profile",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            work,
            str(source),
        ]
        try:
            # a session of its own: on timeout the whole group goes (soffice starts children
            # that would outlive their parent and keep the letter waiting)
            with subprocess.Popen(  # noqa: S603 - a fixed program and arguments, no shell
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
            ) as process:
                try:
                    process.wait(timeout=PDF_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        except OSError:
            process = None
        if process is None or process.returncode != 0:
            current_app.logger.warning("LibreOffice could not convert a letter to PDF")
            return None
        target = Path(work) / "letter.pdf"
        return target.read_bytes() if target.is_file() else None


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _measure_labels() -> dict[str, str]:
    """Chinese labels of the catalogue's measures and of the official's three stops."""
    labels = {m.code: m.zh for m in catalog.current().all_measures()}
    stops = load_schema(str(current_app.config["FORMS_DIR"]), "three_stops.json").properties.get(
        "measures", {}
    )
    labels.update({str(k): str(v) for k, v in stops.get("x-enum-titles", {}).items()})
    return labels
