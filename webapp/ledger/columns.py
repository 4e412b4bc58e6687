"""The ledger file's columns, one row per loan, taken from the report form (forms/report.json):
its titles are the Chinese headers, ``x-title-en`` the English ones, and its enum titles the
values a cell may hold besides the codes."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from webapp.taskforms import FormSchema

# debtor-level columns first, then the loan's; the order of the template
DEBTOR_FIELDS = (
    "debtor_kind",
    "name",
    "identifier",
    "legal_representative",
    "actual_controller",
    "employer_unit",
    "position",
    "behaviour",
)
LOAN_FIELDS = ("contract_no", "principal", "interest", "overdue_since", "guarantee")
TRAILING_FIELDS = ("evidence",)


@dataclass(frozen=True)
class Column:
    key: str
    title_zh: str
    title_en: str
    required: bool
    kind: str  # text, number, date, choice
    # accepted cell text (normalised) -> code, for choice columns
    choices: dict[str, str] = field(default_factory=dict)
    max_length: int | None = None

    def title(self, language: str) -> str:
        return self.title_en if language == "en" else self.title_zh


def fold(text: str) -> str:
    """Header and choice text compared loosely: full-width forms, case, spaces and marks."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if not ch.isspace() and ch not in "*＊")


def columns(report: FormSchema) -> list[Column]:
    """The ledger columns of a resolved report form (employer units filled in)."""
    props = report.properties
    loan = props["loans"]["items"]
    top_required = set(report.schema.get("required", []))
    loan_required = set(loan.get("required", []))
    result = []
    for key in (*DEBTOR_FIELDS, *LOAN_FIELDS, *TRAILING_FIELDS):
        in_loan = key in LOAN_FIELDS
        node: dict[str, Any] = loan["properties"][key] if in_loan else props[key]
        result.append(column(key, node, key in (loan_required if in_loan else top_required)))
    return result


def form_columns(form: FormSchema) -> list[Column]:
    """One column per property of a flat form, in the form's order (the court's listings)."""
    required = set(form.schema.get("required", []))
    return [column(key, node, key in required) for key, node in form.properties.items()]


def column(key: str, node: dict[str, Any], required: bool) -> Column:
    """The column of a form's property ``node``: its titles, kind and accepted values."""
    kind = "text"
    if "enum" in node:
        kind = "choice"
    elif node.get("type") == "number":
        kind = "number"
    elif node.get("format") == "date":
        kind = "date"
    return Column(
        key=key,
        title_zh=str(node.get("title", key)),
        title_en=str(node.get("x-title-en", key)),
        required=required,
        kind=kind,
        choices=_choices(node) if kind == "choice" else {},
        max_length=node.get("maxLength"),
    )


def _choices(node: dict[str, Any]) -> dict[str, str]:
    accepted: dict[str, str] = {}
    for code in node["enum"]:
        accepted[fold(code)] = code
        for titles in (node.get("x-enum-titles", {}), node.get("x-enum-titles-en", {})):
            if code in titles:
                accepted[fold(titles[code])] = code
    return accepted


def choice_titles(report: FormSchema, key: str, language: str) -> list[str]:
    """The values offered for a choice column, in the template's language."""
    props = report.properties
    node = props[key]
    titles = node.get("x-enum-titles-en" if language == "en" else "x-enum-titles", {})
    return [str(titles.get(code, code)) for code in node["enum"]]
