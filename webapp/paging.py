"""The ``?page=`` argument of list pages and API lists."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _

from webapp.errors import NotFound
from webapp.inputs import INT64_MAX

PAGE_SIZE = 50
# the last page whose offset a database can take (a signed 64-bit integer on SQLite and
# PostgreSQL alike); past it each failed its own way, with a 500
MAX_PAGE = INT64_MAX // PAGE_SIZE


def page_arg() -> tuple[int, int, int]:
    """(page, limit, offset) from ``?page=`` (1-based; anything that is not a number is page
    1; a number past ``MAX_PAGE`` is a page that does not exist: 404)."""
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    if page > MAX_PAGE:
        raise NotFound(_("No such page."))
    return page, PAGE_SIZE, (page - 1) * PAGE_SIZE
