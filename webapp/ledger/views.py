"""Ledger import pages under /ledger: upload, preview, confirm, progress, files (the pages
of every kind of file: ``webapp.ledger.batch_views``)."""

from __future__ import annotations

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from webapp.ledger.batch_views import BatchPages, add_batch_views
from webapp.models.imports import LEDGER

bp = Blueprint("ledger", __name__, url_prefix="/ledger")

# the bank's own unit's batches: any of its users may look at them; uploading, confirming,
# discarding and resuming are the reporters' (the ledger's kind)
add_batch_views(
    bp,
    LEDGER,
    BatchPages(
        index_template="ledger/index.html",
        show_template="ledger/show.html",
        file_name="ledger",
        no_file=_l("Choose a ledger file to upload."),
        discarding=_l(
            "The import is being discarded: every case it opened is removed; this page shows the progress."
        ),
    ),
)
