"""The ``?page=`` argument of list pages and API lists."""

from __future__ import annotations

from flask import request

PAGE_SIZE = 50


def page_arg() -> tuple[int, int, int]:
    """(page, limit, offset) from ``?page=`` (1-based; anything invalid is page 1)."""
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    return page, PAGE_SIZE, (page - 1) * PAGE_SIZE
