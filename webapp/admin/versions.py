"""/admin/versions: the deployed process versions, and the move of running cases to a newer one.

The page lists every version with its running and closed cases; choosing a source and a
newer target of the same process shows the dry run (which cases can move, which cannot and
why); confirming it posts the move (``cases.migration.migrate``: one transaction per case)
and shows what moved. Views parse and render; the rules live in ``webapp.cases.migration``.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from webapp.cases import migration
from webapp.db import get_session
from webapp.engine import Obstacle
from webapp.errors import Invalid

FIELDS = ("from_version", "to_version")
# a version with more running cases is moved by ``flask processes migrate`` on the server: a
# case's check costs 1-5 ms (docs/ARCHITECTURE.md), so a page request would outlast its worker's
# timeout well before 100,000 cases
WEB_LIMIT = 2000


def register(bp: Blueprint) -> None:
    """The pages on the admin blueprint (behind its admins-only guard)."""
    bp.add_url_rule("/versions", "versions", versions_page)
    bp.add_url_rule("/versions/dry-run", "versions_dry_run", dry_run_page)
    bp.add_url_rule("/versions/migrate", "versions_migrate", migrate_page, methods=["POST"])
    bp.app_template_global("obstacle_reason")(obstacle_reason)


def versions_page(
    errors: dict[str, list[str]] | None = None, message: str | None = None
) -> ResponseReturnValue:
    rows = migration.versions(get_session(), current_app.config["PROCESSES_DIR"])
    return render_template(
        "admin/versions.html",
        versions=rows,
        errors=errors or {},
        message=message,
        values=request.values,
    ), 422 if errors else 200


def dry_run_page() -> ResponseReturnValue:
    try:
        source, target = _chosen(request.args)
        _within_limit(source)
        result = migration.dry_run(get_session(), source, target)
    except Invalid as err:
        return versions_page(err.fields or {"from_version": [err.message]}, err.message)
    return render_template("admin/versions_dry_run.html", result=result)


def migrate_page() -> ResponseReturnValue:
    try:
        source, target = _chosen(request.form)
        _within_limit(source)
        report = migration.migrate(get_session(), source, target, current_user)
    except Invalid as err:
        return versions_page(err.fields or {"from_version": [err.message]}, err.message)
    return render_template("admin/versions_result.html", report=report)


def _chosen(values: Mapping[str, str]) -> tuple[int, int]:
    """The source and target version ids the form names, or Invalid naming each field."""
    fields: dict[str, list[str]] = {}
    chosen = []
    for name in FIELDS:
        text = (values.get(name) or "").strip()
        if not text.isdigit() or len(text) > 9:
            fields[name] = [_("Choose a version.")]
        else:
            chosen.append(int(text))
    if fields:
        raise Invalid(_("Choose the source version and a newer target version."), fields)
    source, target = chosen
    if target <= source:
        message = _("The target version must be newer than the source version.")
        raise Invalid(message, {"to_version": [message]})
    return source, target


def _within_limit(source: int) -> None:
    running = next((v.running for v in migration.versions(get_session()) if v.id == source), 0)
    if running > WEB_LIMIT:
        message = _(
            "Version %(version)s has %(n)s running cases, more than this page moves at once "
            "(%(limit)s): run flask processes migrate --from %(version)s on the server.",
            version=source,
            n=running,
            limit=WEB_LIMIT,
        )
        raise Invalid(message, {"from_version": [message]})


_REASONS = {
    "missing": lambda: _("This element does not exist in the new version."),
    "kind_changed": lambda: _("This element is of another kind in the new version."),
    "lane_changed": lambda: _("This task belongs to another lane in the new version."),
    "subprocess_missing": lambda: _("Its subprocess does not exist in the new version."),
    "path_missing": lambda: _("The case's running path still passes this step, which the new version lacks."),
    "in_error": lambda: _("This step is in error: repair the case first."),
    "not_kept": lambda: _("The engine could not keep this step as it stands."),
    "unreadable": lambda: _("The case's state could not be read or compared."),
}


def obstacle_reason(obstacle: Obstacle) -> str:
    """What blocks the move, in the user's language (the engine's words when it has no code)."""
    reason = _REASONS.get(obstacle.code)
    return reason() if reason else obstacle.reason
