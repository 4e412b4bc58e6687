"""History verdicts and chain names as people read them, in the UI's language.

``Verdict.describe`` stays the technical English of the CLI and of the logs; the pages show
these instead (and keep the technical text in an attribute for whoever needs it)."""

from __future__ import annotations

import json
import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webapp.audit.anchor import LOG_CHAIN
from webapp.audit.chain import SYSTEM, Verdict
from webapp.audit.replay import Step
from webapp.errors import NotFound
from webapp.taskforms.schemas import enum_title, load_schema, localized
from webapp.templating import locale

# a problem's text starts with its kind ("altered: the content does not match its hash")
PROBLEMS = {
    "removed": _l("An event was removed"),
    "inserted": _l("An event was inserted"),
    "broken link": _l("An event before this one was altered or replaced"),
    "altered": _l("The content of an event was altered"),
    "truncated": _l("Events recorded at the last checkpoint are missing"),
    "rewritten": _l("The history was rewritten since the last checkpoint"),
    "forged": _l("A checkpoint line is forged"),
    "out of sequence": _l("A checkpoint line is out of sequence"),
    "cannot be checked": _l("The checkpoint log cannot be checked"),
}
_LINE = re.compile(r"^line (\d+): (.*)$")


def chain_label(chain: str) -> str:
    if chain.startswith("case:"):
        return _("Case #%(id)s", id=chain[5:])
    if chain == SYSTEM:
        return _("Events outside cases")
    if chain == LOG_CHAIN:
        return _("Checkpoint log")
    return chain


def describe(verdict: Verdict) -> str:
    """What the verification found on one chain, in a sentence of the UI's language."""
    if verdict.ok:
        return _("Intact: %(n)s events", n=verdict.events)
    problem, line = verdict.problem, ""
    match = _LINE.match(problem)
    if match:
        line, problem = match.group(1), match.group(2)
    kind = next((k for k in PROBLEMS if problem.startswith(k + ":")), None)
    text = str(PROBLEMS[kind]) if kind else problem
    if line:
        text = _("Line %(n)s: %(problem)s", n=line, problem=text)
    if verdict.event_id:
        text += _(" (event no. %(seq)s, id %(id)s)", seq=verdict.seq, id=verdict.event_id)
    return text


def _value(node: dict[str, Any], value: Any, lang: str) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, str):
        return enum_title(node, value, lang)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = node.get("items", {}) if isinstance(node.get("items"), dict) else {}
        return ("、" if not lang.startswith("en") else ", ").join(enum_title(items, v, lang) for v in value)
    return json.dumps(value, ensure_ascii=False)


def changes(step: Step, form: str | None, forms_dir: str) -> list[list[str]]:
    """What a step changed in the case data as [field title, before, after], read from the
    step's task form (the field's code and raw values when the form is unknown)."""
    props: dict[str, dict[str, Any]] = {}
    if form:
        try:
            props = load_schema(forms_dir, form).properties
        except (NotFound, ValueError):
            props = {}
    lang = locale()
    shown = []
    for key, (before, after) in step.changes.items():
        node = props.get(key, {})
        title = localized(node, "title", lang) or key
        shown.append([title, _value(node, before, lang), _value(node, after, lang)])
    return shown
