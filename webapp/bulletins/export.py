"""A bulletin as sections of rows (the printable page and the XLSX both show them), the XLSX
itself, and its PDF when LibreOffice is there.

A bulletin is an official document of the office: always in Chinese, whatever the language
of the page that asks for it (as the office's letters, ``webapp.documents.render``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.bulletins.service import FIGURES, OFFICE, first_day, last_day
from webapp.documents.kinds import date_zh
from webapp.documents.render import libreoffice
from webapp.documents.render import pdf as convert_to_pdf
from webapp.models import Bulletin, Unit
from webapp.templating import STAGES

KIND_TITLES = {
    "weekly": "工作周报",
    "monthly": "工作月报",
    "quarterly": "工作季报",
    "on_demand": "工作通报",
}
FIGURE_LABELS = {
    "reported": "报送债务人（户）",
    "confirmed": "确认列入名单（户）",
    "rejected": "审核退回（户）",
    "interviews": "约谈（次）",
    "deadlines_expired": "整改期限届满（件）",
    "sanctioned": "实施联合惩戒（件）",
    "referrals": "移送（件）",
    "referral_answers": "移送反馈（件）",
    "settled": "结清并移出名单（户）",
    "delisted": "移出名单（户）",
    "amount_reported": "报送金额（元）",
    "amount_recovered": "清收金额（元）",
    "amount_outstanding": "未清收余额（元）",
}
MONEY = {"amount_reported", "amount_recovered", "amount_outstanding"}


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    header: list[str]
    rows: list[list[Any]]


def title(bulletin: Bulletin) -> str:
    return f"{unit_names_title()}{KIND_TITLES.get(bulletin.kind, '工作通报')}"


def unit_names_title() -> str:
    return "联动惩戒"


def period_text(bulletin: Bulletin) -> str:
    return f"{date_zh(first_day(bulletin))}至{date_zh(last_day(bulletin))}"


def money(value: Any) -> str:
    return f"{Decimal(str(value)):,.2f}"


def _stage(code: str) -> str:
    with force_locale("zh"):
        return str(STAGES.get(code, code))


def sections(session: Session, bulletin: Bulletin) -> list[Section]:
    names = {code: name for code, name in session.execute(select(Unit.code, Unit.name_zh))}
    content = bulletin.content
    found = content.get("figures", {})
    result = [
        Section(
            "figures",
            "一、本期工作数据",
            ["项目", "数值"],
            [[FIGURE_LABELS[k], money(found[k]) if k in MONEY else found[k]] for k in FIGURES if k in found],
        )
    ]
    measures = found.get("measures", [])
    if measures:
        result.append(
            Section(
                "measures",
                "二、各单位实施惩戒情况",
                ["单位", "案件（件）", "措施（项）"],
                [[names.get(m["unit"], m["unit"]), m["cases"], m["measures"]] for m in measures],
            )
        )
    result += [
        Section(
            "lagging",
            "三、工作滞后单位（按逾期任务数排序）",
            ["名次", "单位", "逾期任务（件）", "最早应办结日期", "最长逾期（天）"],
            [
                [i, names.get(r["unit"], r["unit"]), r["overdue"], r["oldest_due"], r["days"]]
                for i, r in enumerate(content.get("lagging", []), start=1)
            ],
        ),
        Section(
            "stalled",
            "四、久未推进的案件",
            ["案件", "债务人", "当前阶段", "最近办理日期", "停滞（天）"],
            [
                [f"#{r['case_id']}", r["debtor"], _stage(r["stage"]), r["last_step"], r["days"]]
                for r in content.get("stalled", [])
            ],
        ),
        Section(
            "typical",
            "五、典型案例",
            ["案件", "债务人", "当前阶段"],
            [[f"#{r['case_id']}", r["debtor"], _stage(r["stage"])] for r in content.get("typical", [])],
        ),
    ]
    return result


def issuer(session: Session) -> str:
    return str(session.scalar(select(Unit.name_zh).where(Unit.code == OFFICE)) or OFFICE)


def safe(value: Any) -> Any:
    """Text a spreadsheet would take for a formula is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_xlsx(session: Session, bulletin: Bulletin) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "通报"
    sheet.append([title(bulletin)])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([bulletin.number])
    sheet.append(["统计期间", period_text(bulletin)])
    sheet.append(["印发单位", issuer(session)])
    for section in sections(session, bulletin):
        sheet.append([])
        sheet.append([section.title])
        sheet.cell(sheet.max_row, 1).font = Font(bold=True)
        sheet.append(section.header)
        if not section.rows:
            sheet.append(["无"])
        for row in section.rows:
            sheet.append([safe(v) for v in row])
    for letter in "ABCDE":
        sheet.column_dimensions[letter].width = 24
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pdf_available() -> bool:
    return libreoffice() is not None


def to_pdf(session: Session, bulletin: Bulletin) -> bytes | None:
    """The XLSX converted by LibreOffice, or None when it is missing, fails or hangs."""
    return convert_to_pdf(to_xlsx(session, bulletin), suffix="xlsx")
