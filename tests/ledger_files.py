"""Real ledger files for tests and the benchmark: CSV in UTF-8 or GBK, and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from openpyxl import Workbook

from tests.support import credit_code, identity_number

HEADER_ZH = [
    "债务人类型",
    "债务人名称/姓名",
    "统一社会信用代码/公民身份号码",
    "法定代表人",
    "实际控制人",
    "工作单位",
    "职务",
    "逃废债行为",
    "借款合同编号",
    "逾期本金（元）",
    "欠息（元）",
    "逾期日期",
    "担保方式/担保人",
    "证据材料说明",
]
HEADER_EN = [
    "Debtor kind",
    "Debtor name",
    "Credit code / identity number",
    "Legal representative",
    "Actual controller",
    "Employer",
    "Position",
    "Evasion behaviour",
    "Loan contract number",
    "Overdue principal (CNY)",
    "Outstanding interest (CNY)",
    "Overdue since",
    "Guarantee",
    "Evidence",
]


def enterprise_row(n: int, contract: str, **changes: object) -> list[object]:
    row: list[object] = [
        "企业",
        f"淮远县第{n}建材有限公司",
        credit_code(n),
        f"法人{n}",
        "",
        "",
        "",
        "抽逃、隐匿、转移资产逃废债务",
        contract,
        "1,250,000.00",
        "35000",
        "2024-03-01",
        "保证",
        "",
    ]
    return _changed(row, changes)


def person_row(n: int, contract: str, **changes: object) -> list[object]:
    row: list[object] = [
        "个人",
        f"张{n}",
        identity_number(n),
        "",
        "",
        "",
        "",
        "生产经营正常，恶意拖欠银行债务",
        contract,
        "80000",
        "1200.5",
        "2024/5/6",
        "",
        "催收记录",
    ]
    return _changed(row, changes)


COLUMN = {
    "kind": 0,
    "name": 1,
    "identifier": 2,
    "legal_representative": 3,
    "behaviour": 7,
    "contract": 8,
    "principal": 9,
    "interest": 10,
    "overdue_since": 11,
}


def _changed(row: list[object], changes: dict[str, object]) -> list[object]:
    for key, value in changes.items():
        row[COLUMN[key]] = value
    return row


def to_csv(rows: Iterable[list[object]], encoding: str = "utf-8-sig", header: list[str] = HEADER_ZH) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def to_xlsx(rows: Iterable[list[object]], header: list[str] = HEADER_ZH) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
