"""Build the DOCX templates of the official letters (``python documents/build_templates.py``).

The templates are data: the generated .docx files are committed next to this script, and
anyone may edit them in Word afterwards (keep each ``{{ field }}`` inside one run). This
script only gives them a first, uniform layout after GB/T 9704 (党政机关公文格式): the
issuing office in red above a red rule, the number (文号), the title, the addressee, the
body with the case's facts and loans, the office and date at the foot.

Fields the application fills (webapp/documents/render.py): office, number, title, addressee,
debtor_name, debtor_kind, identifier_label, identifier, legal_representative, behaviour,
loans (contract_no, bank, principal, interest, overdue_since), total_principal,
total_interest, reason, measures, date, case_id.
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

HERE = Path(__file__).resolve().parent
RED = RGBColor(0xC0, 0x00, 0x00)
BODY_PT = 16  # 三号
TITLE_PT = 22  # 二号

FACTS = [
    ("h", "一、债务人基本情况"),
    (
        "p",
        "债务人：{{ debtor_name }}（{{ debtor_kind }}）；{{ identifier_label }}：{{ identifier }}"
        "{% if legal_representative %}；法定代表人：{{ legal_representative }}{% endif %}。",
    ),
    ("h", "二、债务情况"),
    (
        "p",
        "经债权银行报送，债务人下列贷款逾期未还，合计本金{{ total_principal }}元、"
        "利息{{ total_interest }}元。失信行为：{{ behaviour }}。",
    ),
    ("table", ""),
]

# each kind: its title line and its body (paragraphs "p", headings "h", the loans "table")
KINDS: dict[str, dict[str, object]] = {
    "referral": {
        "heading": "关于移送{{ debtor_name }}涉嫌逃废金融债务案件的函",
        "body": [
            (
                "p",
                "根据县打击逃废金融债务工作联动机制的规定，经县打击逃废金融债务工作领导小组办公室"
                "研究决定，现将{{ debtor_name }}涉嫌逃废金融债务一案移送你单位依法处理。有关情况函告如下：",
            ),
            *FACTS,
            ("h", "三、移送理由及材料"),
            ("p", "{{ reason }}"),
            ("p", "请你单位依法受理，并在规定期限内将处理意见书面反馈我办。"),
            ("p", "特此函告。"),
        ],
    },
    "supervision": {
        "heading": "关于督促办理{{ debtor_name }}案件有关事项的函",
        "body": [
            (
                "p",
                "{{ debtor_name }}逃废金融债务一案（案件编号{{ case_id }}）中，你单位承办的下列事项"
                "已超过办理期限，至今未办结：{{ reason }}。",
            ),
            *FACTS,
            (
                "p",
                "请你单位高度重视，自收到本函之日起三个工作日内办结并在系统中反馈办理结果；"
                "确有困难的，请书面说明原因。",
            ),
            ("p", "特此函告。"),
        ],
    },
    "sanction_notice": {
        "heading": "关于对{{ debtor_name }}实施联合惩戒的通知",
        "body": [
            (
                "p",
                "债务人{{ debtor_name }}经约谈告诫后，在整改期限内仍未履行还款义务。经县打击逃废"
                "金融债务工作领导小组办公室评估，决定对其实施联合惩戒。现将有关情况通知如下：",
            ),
            *FACTS,
            ("h", "三、惩戒措施"),
            (
                "p",
                "请你单位依照职责对其实施{% if measures %}以下惩戒措施：{{ measures }}{% else %}"
                "相应惩戒措施{% endif %}，并在系统中反馈实施情况。",
            ),
            ("p", "特此通知。"),
        ],
    },
    "delisting_notice": {
        "heading": "关于将{{ debtor_name }}移出黑名单的通知",
        "body": [
            (
                "p",
                "{{ reason }}。经县打击逃废金融债务工作领导小组办公室审核，决定将债务人"
                "{{ debtor_name }}移出逃废金融债务黑名单。现将有关情况通知如下：",
            ),
            *FACTS,
            ("h", "三、解除惩戒"),
            (
                "p",
                "你单位对其实施的{% if measures %}下列惩戒措施：{{ measures }}，{% else %}惩戒措施，"
                "{% endif %}请于收到本通知后及时解除，并在系统中反馈解除情况。",
            ),
            ("p", "特此通知。"),
        ],
    },
}


def _fonts(run_or_style: object, east_asian: str, size: int, bold: bool = False) -> None:
    font = run_or_style.font  # type: ignore[attr-defined]
    font.name = "Times New Roman"
    font.size = Pt(size)
    font.bold = bold
    element = run_or_style.element  # type: ignore[attr-defined]
    rpr = element.get_or_add_rPr()
    rpr.get_or_add_rFonts().set(qn("w:eastAsia"), east_asian)


def _red_rule(paragraph: object) -> None:
    """A red line under the issuing office (the paragraph's bottom border)."""
    ppr = paragraph.paragraph_format.element.get_or_add_pPr()  # type: ignore[attr-defined]
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in {"w:val": "single", "w:sz": "18", "w:space": "6", "w:color": "C00000"}.items():
        bottom.set(qn(key), value)
    borders.append(bottom)
    ppr.append(borders)


def build(code: str, spec: dict[str, object]) -> Path:
    doc = Document()
    section = doc.sections[0]
    section.page_height, section.page_width = Cm(29.7), Cm(21.0)
    section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
    section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
    normal = doc.styles["Normal"]
    _fonts(normal, "仿宋", BODY_PT)
    normal.paragraph_format.line_spacing = Pt(28)

    office = doc.add_paragraph()
    office.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = office.add_run("{{ office }}")
    _fonts(run, "宋体", TITLE_PT, bold=True)
    run.font.color.rgb = RED
    _red_rule(office)

    number = doc.add_paragraph()
    number.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    number.add_run("{{ number }}")

    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.space_before = Pt(12)
    title.paragraph_format.space_after = Pt(12)
    _fonts(title.add_run(str(spec["heading"])), "宋体", TITLE_PT, bold=True)

    doc.add_paragraph().add_run("{{ addressee }}：")
    body: list[tuple[str, str]] = spec["body"]  # type: ignore[assignment]
    for part, text in body:
        if part == "table":
            _loans_table(doc)
            continue
        paragraph = doc.add_paragraph()
        paragraph.paragraph_format.first_line_indent = Pt(2 * BODY_PT)
        run = paragraph.add_run(text)
        if part == "h":
            _fonts(run, "黑体", BODY_PT)

    doc.add_paragraph()
    for text in ("{{ office }}", "{{ date }}"):
        foot = doc.add_paragraph()
        foot.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        foot.add_run(text)
    note = doc.add_paragraph()
    note_text = "（案件编号：{{ case_id }}。本文书由联动系统生成，其SHA-256记入案件历史。）"
    _fonts(note.add_run(note_text), "仿宋", 12)

    path = HERE / str(spec.get("file", f"{code}.docx"))
    doc.save(str(path))
    return path


def _loans_table(doc: object) -> None:
    """The loans, one row each: docxtpl repeats the row between ``{%tr for %}`` and
    ``{%tr endfor %}``."""
    headers = ["合同编号", "债权银行", "本金（元）", "利息（元）", "逾期起始日"]
    fields = ["contract_no", "bank", "principal", "interest", "overdue_since"]
    table = doc.add_table(rows=4, cols=len(headers))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        _fonts(cell.paragraphs[0].add_run(text), "黑体", 12)
    table.rows[1].cells[0].paragraphs[0].add_run("{%tr for loan in loans %}")
    for cell, name in zip(table.rows[2].cells, fields, strict=True):
        _fonts(cell.paragraphs[0].add_run("{{ loan.%s }}" % name), "仿宋", 12)  # noqa: UP031 - braces
    table.rows[3].cells[0].paragraphs[0].add_run("{%tr endfor %}")


def main() -> None:
    for code, spec in KINDS.items():
        print(build(code, spec).relative_to(HERE.parent))


if __name__ == "__main__":
    main()
