"""Template helpers: labels for codes, dates in local time, masked identifiers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g
from flask_babel import get_locale, get_translations
from flask_babel import lazy_gettext as _l
from jinja2.runtime import Context
from jinja2.utils import pass_context
from markupsafe import Markup
from sqlalchemy import select

from webapp import catalog
from webapp.cases import closing
from webapp.cases.identifiers import mask
from webapp.clock import now
from webapp.db import get_session
from webapp.models import ProcessVersion, Unit
from webapp.taskforms.conditions import show_conditions
from webapp.taskforms.schemas import enum_title, load_schema, localized
from webapp.taskforms.validation import posted_rows
from webapp.tasks.service import nav_counts

STAGES = {
    "listed": _l("On the defaulter list"),
    "review": _l("Review"),
    "negotiation": _l("Negotiation"),
    "market_exit": _l("Market exit"),
    "interview": _l("Interview"),
    "official_talk": _l("Organisation talk"),
    "rectification": _l("Rectification deadline running"),
    "assessment": _l("Rectification assessment"),
    "repayment_plan": _l("Repayment plan"),
    "sanction": _l("Joint sanction"),
    "referral_decision": _l("Referral decision"),
    "referral": _l("Referral"),
    "monitoring": _l("Monitoring"),
    "delisting": _l("Delisting"),
    "closed": _l("Closed"),
}
OUTCOMES = {
    "rejected": _l("Rejected"),
    "negotiated": _l("Repayment agreed"),
    "market_exit": _l("Exited the market"),
    "delisted": _l("Settled and delisted"),
    "closed": _l("Closed without settlement"),
}
# an outcome reached while the units still lift their sanctions (the case is still open)
OUTCOMES_LIFTING = {
    "delisted": _l("Settled and delisted: sanctions being lifted"),
    "closed": _l("Closed without settlement: sanctions being lifted"),
}


def outcome_label(outcome: str | None, status: str = "closed") -> str:
    """A case's outcome for people; one reached while sanctions are still lifted says so."""
    if status == "open" and outcome in OUTCOMES_LIFTING:
        return str(OUTCOMES_LIFTING[outcome])
    return str(OUTCOMES.get(outcome or "", outcome or ""))


CLOSING_REASONS = {
    "written_off": _l("Written off by the bank"),
    "enforcement_terminated": _l("Enforcement terminated by the court"),
    "deceased_dissolved": _l("Debtor deceased or dissolved"),
    "bankruptcy": _l("Bankruptcy completed"),
    # a judgment defaulter's exit (forms/record_exit.json)
    "fulfilled": _l("Judgment fulfilled"),
    "settlement_performed": _l("Settlement agreement performed"),
    "revoked": _l("Listing revoked"),
}
EVENTS = {
    "reported": _l("Debtor reported"),
    "loan_added": _l("Loan added"),
    "task_opened": _l("Task opened"),
    "task_claimed": _l("Task claimed"),
    "task_unclaimed": _l("Task returned to the unit"),
    "task_completed": _l("Task completed"),
    "task_cancelled": _l("Task cancelled"),
    "timer_fired": _l("Deadline passed"),
    "settlement_reported": _l("Settlement reported"),
    "repayment_recorded": _l("Partial repayment recorded"),
    "withholding_recorded": _l("Withholding recorded"),
    "attachment_added": _l("Attachment added"),
    "comment_added": _l("Comment posted"),
    "document_generated": _l("Official letter generated"),
    "identifier_revealed": _l("Identifier shown in full"),
    "task_reassigned": _l("Task reassigned"),
    "reminder_sent": _l("Reminder sent"),
    "password_changed": _l("Password changed"),
    "message_received": _l("Settlement received by the case"),
    "settlement_rejected": _l("Settlement certificate found invalid"),
    "blacklist_entered": _l("Entered the blacklist"),
    "blacklist_left": _l("Left the blacklist"),
    "sanction_applied": _l("Sanction applied"),
    "sanction_lifted": _l("Sanction lifted"),
    "referral_answered": _l("Referral answered"),
    "case_closed": _l("Case closed"),
    "closing_ordered": _l("Closing without settlement ordered"),
    "incident": _l("Incident"),
    "case_repaired": _l("Case repaired and run on"),
    "case_retried": _l("Case retried"),
    "version_migrated": _l("Moved to a newer process version"),
    "login": _l("Logged in"),
    "login_failed": _l("Failed login"),
    "unit_saved": _l("Unit saved"),
    "user_created": _l("User created"),
    "user_updated": _l("User changed"),
    "token_revoked": _l("API token revoked"),
    "calendar_year_added": _l("Calendar year added"),
    "calendar_year_changed": _l("Calendar year changed"),
    "no_measure_applicable": _l("No measure applicable"),
    "publicly_listed": _l("Publicly listed"),
    "publicly_delisted": _l("Removed from the published list"),
    "import_started": _l("Ledger import started"),
    "import_failed": _l("Ledger import failed"),
    "import_resumed": _l("Ledger import resumed"),
    "cases_shown": _l("Imported cases shown to the units"),
    "import_finished": _l("Ledger import finished"),
    "discard_requested": _l("Ledger import to be discarded"),
    "import_discarded": _l("Ledger import discarded"),
    "blacklist_lookup": _l("Blacklist look-up"),
    "blacklist_lookup_batch": _l("Blacklist look-up of a list"),
    "summary_round_opened": _l("Summary round opened"),
    "summary_submitted": _l("Work summary submitted"),
    "summary_compiled": _l("Summary round compiled"),
}
DEBTOR_KINDS = {
    "enterprise": _l("Enterprise"),
    "organisation": _l("Other organisation"),
    "individual": _l("Individual"),
    "official": _l("Public official"),
}
ROLE_LABELS = {
    "caseworker": _l("Caseworker"),
    "supervisor": _l("Supervisor"),
    "auditor": _l("Auditor"),
    "admin": _l("Administrator"),
}
UNIT_KIND_LABELS = {
    "office": _l("Group office"),
    "department": _l("Member department"),
    "bank": _l("Bank"),
    "guarantor": _l("Guarantor"),
    "township": _l("Township"),
    "employer": _l("Employer"),
}
# diagram lanes that stand for a role of the case (processes/lanes.toml); other lanes are units
LANE_ROLES = {
    "creditor_bank": _l("Creditor bank"),
    "employer": _l("Debtor's employer"),
    "sanction_unit": _l("Sanctioning units"),
    "lift_unit": _l("Units lifting sanctions"),
    "referral_unit": _l("Receiving unit"),
    "township": _l("Township"),
}


def bilingual(name: str | None) -> str:
    """Diagram names read "中文 English": show the part of the user's language."""
    if not name:
        return ""
    for index, char in enumerate(name):
        if char.isascii() and char.isalpha():
            zh, en = name[:index].strip(), name[index:].strip()
            break
    else:
        return name
    if locale().startswith("en"):
        return en or zh
    return zh or en


def measure_label(code: str) -> str:
    """The label of a sanction measure code from the catalogue (or the code itself)."""
    if "measure_labels" not in g:
        cat = catalog.current()
        labels = {m.code: (m.zh, m.en) for m in cat.all_measures()}
        stops = load_schema(str(current_app.config["FORMS_DIR"]), "three_stops.json").properties["measures"]
        for value, zh in stops.get("x-enum-titles", {}).items():
            labels[value] = (zh, stops.get("x-enum-titles-en", {}).get(value, value))
        g.measure_labels = labels
    pair = g.measure_labels.get(code)
    if pair is None:
        return code
    return pair[1] if locale().startswith("en") else pair[0]


def locale() -> str:
    return str(get_locale() or "zh")


_UNIT_NAMES = select(Unit.code, Unit.name_zh, Unit.name_en)


def unit_name(code: str | None) -> str:
    if not code:
        return ""
    user = g.get("user")
    if "unit_names" in g:
        names = g.unit_names.get(code)
    elif user is not None and user.unit_code == code:
        # the user's own unit (every page's top bar) came with the user: no statement
        names = (user.unit.name_zh, user.unit.name_en)
    else:
        # the three columns, not Unit objects: building 20-odd ORM objects cost a page 0.1 ms
        g.unit_names = {unit: (zh, en) for unit, zh, en in get_session().execute(_UNIT_NAMES)}
        names = g.unit_names.get(code)
    if names is None:
        return code
    return str(names[1] if locale().startswith("en") else names[0])


_VERSION_PROCESSES = select(ProcessVersion.id, ProcessVersion.process_id)


def process_key_of(version_id: int) -> str:
    """The process key of a deployed version: every version's in one statement per page (a
    version never changes its process, and there are few)."""
    if "version_processes" not in g or version_id not in g.version_processes:
        g.version_processes = {vid: key for vid, key in get_session().execute(_VERSION_PROCESSES)}
    return str(g.version_processes.get(version_id, ""))


def process_name(key: str, short: bool = False) -> str:
    """A process's name (``processes/catalog.toml``), or its short name for lists."""
    spec = catalog.current().processes.get(key)
    if spec is None:
        return key
    return spec.short_name(locale()) if short else spec.name(locale())


def process_label(version_id: int) -> str:
    """The short name of the process a case of ``version_id`` runs."""
    return process_name(process_key_of(version_id), short=True)


def lane_labels() -> dict[str, str]:
    """The diagram's lane names (unit codes and case roles) as people read them."""
    english = locale().startswith("en")
    labels = {code: str(en if english else zh) for code, zh, en in get_session().execute(_UNIT_NAMES)}
    labels.update({lane: str(label) for lane, label in LANE_ROLES.items()})
    return labels


def local_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    zone = ZoneInfo(str(current_app.config["BABEL_DEFAULT_TIMEZONE"]))
    return value.astimezone(zone).strftime(fmt)


def money(value: Decimal | float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def register(app: Flask) -> None:
    app.jinja_env.filters.update(unit_label=unit_name)
    app.jinja_env.filters.update(
        local_time=local_time, money=money, mask=mask, bilingual=bilingual, measure_label=measure_label
    )
    app.jinja_env.globals.update(
        unit_name=unit_name,
        process_label=process_label,
        process_name=process_name,
        now_local=lambda: local_time(now()),
        locale=locale,
        nav_counts=lambda unit: nav_counts(get_session(), unit),
        stage_label=lambda s: STAGES.get(s, s),
        outcome_label=outcome_label,
        closing_reason_label=lambda s: CLOSING_REASONS.get(s, s or ""),
        closing_note=lambda s: closing.KEEPS_RECORD.get(s, ""),
        event_label=lambda s: EVENTS.get(s, s),
        debtor_kind_label=lambda s: DEBTOR_KINDS.get(s, s),
        role_label=lambda s: ROLE_LABELS.get(s, s),
        unit_kind_label=lambda s: UNIT_KIND_LABELS.get(s, s),
        lane_labels=lane_labels,
        schema_text=lambda node, key: localized(node, key, locale()),
        enum_title=lambda node, value: enum_title(node, value, locale()),
        field_conditions=show_conditions,
        form_rows=posted_rows,
    )

    @app.context_processor
    def _inject() -> dict[str, Any]:
        gettext = request_gettext()
        return {"current_locale": locale(), "_": gettext, "gettext": gettext}


def request_gettext() -> Any:
    """``_`` for one rendering, bound to the request's catalogue. Flask-Babel's looks up the
    context, locale and catalogue again at every call (about 9 µs; a page makes 30-100 calls,
    7-9 % of its time). Same meaning as Jinja's new-style gettext, which Flask-Babel installs:
    the text is marked safe when autoescaping, then always %-formatted with the keywords.
    Macros imported without context keep using Flask-Babel's."""
    lookup = get_translations().ugettext

    @pass_context
    def gettext(context: Context, message: str, **variables: Any) -> str:
        text = lookup(message)
        if context.eval_ctx.autoescape:
            text = Markup(text)  # noqa: S704 - our catalogue's text; the % below escapes the values
        return text % variables  # type: ignore[no-any-return]

    return gettext
