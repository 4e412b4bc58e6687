from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from webapp.db import get_session
from webapp.paging import page_arg
from webapp.public.blacklist import listings

bp = Blueprint("public", __name__, url_prefix="/public")


@bp.get("/blacklist")
def blacklist() -> ResponseReturnValue:
    page, limit, offset = page_arg()
    query = (request.args.get("q") or "").strip()[:100] or None
    rows = listings(get_session(), limit=limit, offset=offset, query=query)
    return render_template(
        "public/blacklist.html", rows=rows, page=page, more=len(rows) == limit, q=query or ""
    )
