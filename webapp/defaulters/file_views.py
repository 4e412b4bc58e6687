"""The court's file of listings under /defaulters/files: upload, preview, confirm, progress and
error files, the pages of every kind of file (``webapp.ledger.batch_views``; the rows:
``webapp.defaulters.listing_file``)."""

from __future__ import annotations

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from webapp.defaulters import intake, listing_file
from webapp.ledger.batch_views import BatchPages, add_batch_views

bp = Blueprint("defaulter_files", __name__, url_prefix="/defaulters/files")

# the court's listers only, on every page (a bank's user has no business with the court's files)
add_batch_views(
    bp,
    listing_file.LISTINGS,
    BatchPages(
        index_template="defaulters/files.html",
        show_template="defaulters/file.html",
        file_name="listings",
        no_file=_l("Choose a file of listings to upload."),
        discarding=_l("The import is being discarded."),
        check_viewer=intake.check_lister,
    ),
)
