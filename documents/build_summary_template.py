"""Build the DOCX template of the compiled campaign summary (``python documents/build_summary_template.py``).

The template is data: ``campaign_summary.docx`` is committed next to this script and may be
edited in Word afterwards (keep each ``{{ field }}`` and each ``{%p ... %}`` / ``{%tr ... %}``
tag inside one paragraph). Layout as the letters' (``build_templates.py``, GB/T 9704).

Fields the application fills (webapp/summaries/compilation.py): office, number, title, period,
date, figures (label, value), measures (unit, cases, measures), asked, submitted, late, missing,
summaries (index, unit, submitted, late, paragraphs, file).
"""

from __future__ import annotations

from pathlib import Path

from build_templates import BODY_PT, RED, TITLE_PT, _fonts, _red_rule
from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt

HERE = Path(__file__).resolve().parent
TARGET = HERE / "campaign_summary.docx"


def _paragraph(doc: object, text: str, *, heading: bool = False, indent: bool = True) -> None:
    paragraph = doc.add_paragraph()  # type: ignore[attr-defined]
    if indent:
        paragraph.paragraph_format.first_line_indent = Pt(2 * BODY_PT)
    run = paragraph.add_run(text)
    if heading:
        _fonts(run, "黑体", BODY_PT)


def _table(doc: object, headers: list[str], loop: str, fields: list[str]) -> None:
    """A table whose middle row docxtpl repeats (``{%tr for ... %}`` / ``{%tr endfor %}``)."""
    table = doc.add_table(rows=4, cols=len(headers))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        _fonts(cell.paragraphs[0].add_run(text), "黑体", 12)
    table.rows[1].cells[0].paragraphs[0].add_run("{%tr " + loop + " %}")
    for cell, field in zip(table.rows[2].cells, fields, strict=True):
        _fonts(cell.paragraphs[0].add_run("{{ " + field + " }}"), "仿宋", 12)
    table.rows[3].cells[0].paragraphs[0].add_run("{%tr endfor %}")


def build() -> Path:
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
    _fonts(title.add_run("{{ title }}"), "宋体", TITLE_PT, bold=True)

    _paragraph(
        doc,
        "根据打击逃废金融债务专项行动工作安排，小组办公室组织各成员单位对{{ period }}的工作进行"
        "全面总结。应报送单位{{ asked }}家，已报送{{ submitted }}家"
        "{% if late %}（其中逾期报送{{ late }}家）{% endif %}"
        "{% if missing %}，未报送：{{ missing }}{% endif %}。现将有关情况汇总如下。",
    )
    _paragraph(doc, "一、工作数据（{{ period }}）", heading=True)
    _table(doc, ["项目", "数值"], "for f in figures", ["f.label", "f.value"])
    _paragraph(doc, "{%p if measures %}", indent=False)
    _paragraph(doc, "各单位实施联合惩戒情况：", indent=False)
    _table(
        doc, ["单位", "案件（件）", "措施（项）"], "for m in measures", ["m.unit", "m.cases", "m.measures"]
    )
    _paragraph(doc, "{%p endif %}", indent=False)
    _paragraph(doc, "二、各成员单位工作总结", heading=True)
    _paragraph(doc, "{%p for s in summaries %}", indent=False)
    _paragraph(
        doc,
        "（{{ s.index }}）{{ s.unit }}（{{ s.submitted }}报送{% if s.late %}，逾期{% endif %}）",
        heading=True,
    )
    _paragraph(doc, "{%p for para in s.paragraphs %}", indent=False)
    _paragraph(doc, "{{ para }}")
    _paragraph(doc, "{%p endfor %}", indent=False)
    _paragraph(doc, "{%p if s.file %}", indent=False)
    _paragraph(doc, "附件：{{ s.file }}")
    _paragraph(doc, "{%p endif %}", indent=False)
    _paragraph(doc, "{%p endfor %}", indent=False)
    _paragraph(doc, "{%p if not summaries %}", indent=False)
    _paragraph(doc, "无。")
    _paragraph(doc, "{%p endif %}", indent=False)

    doc.add_paragraph()
    for text in ("{{ office }}", "{{ date }}"):
        foot = doc.add_paragraph()
        foot.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        foot.add_run(text)
    note = doc.add_paragraph()
    _fonts(note.add_run("（本汇总由联动系统生成，其SHA-256记入小组办公室的历史。）"), "仿宋", 12)
    doc.save(str(TARGET))
    return TARGET


if __name__ == "__main__":
    print(build().relative_to(HERE.parent))
