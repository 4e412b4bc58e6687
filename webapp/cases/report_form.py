"""Turning the HTML report form (flat fields, loan rows ``loans-<i>-<field>``) into the
payload that the JSON API takes as is."""

from __future__ import annotations

from typing import Any

from webapp.taskforms.schemas import FormSchema
from webapp.taskforms.validation import MultiDictLike, coerce_form

MAX_ROWS = 50


class _Prefixed:
    """The posted fields of one loan row, seen without their prefix."""

    def __init__(self, posted: MultiDictLike, prefix: str) -> None:
        self.posted, self.prefix = posted, prefix

    def getlist(self, key: str) -> list[str]:
        return self.posted.getlist(self.prefix + key)

    def __contains__(self, key: object, /) -> bool:
        return f"{self.prefix}{key}" in self.posted


def parse_report(form: FormSchema, posted: MultiDictLike) -> dict[str, Any]:
    data = coerce_form(form, posted)
    loan_form = FormSchema("loan", form.properties["loans"]["items"])
    loans = []
    for index in range(MAX_ROWS):
        row = coerce_form(loan_form, _Prefixed(posted, f"loans-{index}-"))
        if row:
            loans.append(row)
    data["loans"] = loans
    return data
