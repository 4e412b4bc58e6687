"""The kinds of official letters (``documents/kinds.toml``) and, for a case, the units each
kind may be addressed to now: a kind applies to a case when it has at least one addressee.

Every rule reads the projected tables (tasks, sanctions, the case's columns) and the
element properties of the case's diagram, never the engine state.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp import catalog
from webapp.cases import guarantees, referrals, versions
from webapp.cases.versions import WITHOUT_FILES, definition_of
from webapp.clock import now
from webapp.config import ROOT
from webapp.models import Case, ProcessVersion, Sanction, Task, Unit
from webapp.models.cases import CLOSED
from webapp.models.tasks import CANCELLED, COMPLETED, OPEN
from webapp.taskforms.schemas import enum_title, load_schema

REFERRED, OVERDUE, SANCTIONING, SANCTIONED = "referred", "overdue", "sanctioning", "sanctioned"
RULES = (REFERRED, OVERDUE, SANCTIONING, SANCTIONED)


@dataclass(frozen=True)
class Kind:
    code: str
    title: str
    title_en: str
    prefix: str
    template: str
    addressees: str
    units: tuple[str, ...] = ()

    def number(self, year: int, seq: int) -> str:
        """The letter's number as printed (文号), e.g. 联动移〔2026〕3号."""
        return f"{self.prefix}〔{year}〕{seq}号"


@dataclass(frozen=True)
class Addressee:
    """A unit a letter of the kind may go to, with what the letter says to it."""

    unit_code: str
    # the case's facts particular to this letter: the referral's grounds, the overdue steps,
    # why the debtor left the blacklist
    reason: str = ""
    # sanction measures (codes) the unit is asked to apply or to lift
    measures: list[str] = field(default_factory=list)


def documents_dir() -> Path:
    configured = current_app.config.get("DOCUMENTS_DIR") or os.environ.get("LIANDONG_DOCUMENTS_DIR")
    return Path(str(configured)) if configured else ROOT / "documents"


@cache
def _load(directory: str) -> dict[str, Kind]:
    with (Path(directory) / "kinds.toml").open("rb") as fh:
        data = tomllib.load(fh)
    kinds: dict[str, Kind] = {}
    for item in data["kind"]:
        kind = Kind(
            code=item["code"],
            title=item["title"],
            title_en=item.get("title_en", item["title"]),
            prefix=item["prefix"],
            template=item["template"],
            addressees=item["addressees"],
            units=tuple(item.get("units", ())),
        )
        if kind.addressees not in RULES:
            raise ValueError(f"documents/kinds.toml: {kind.code} has unknown addressees {kind.addressees!r}")
        if not (Path(directory) / kind.template).is_file():
            raise ValueError(f"documents/kinds.toml: {kind.code}'s template {kind.template} is missing")
        kinds[kind.code] = kind
    return kinds


def all_kinds() -> dict[str, Kind]:
    return _load(str(documents_dir()))


def addressees(session: Session, case: Case, kind: Kind) -> list[Addressee]:
    """The units a letter of this kind may go to now (none: the kind does not apply)."""
    if kind.addressees == REFERRED:
        return _referred(session, case, kind)
    if kind.addressees == OVERDUE:
        return _overdue(session, case)
    if kind.addressees == SANCTIONING:
        return _sanctioning(session, case)
    return _sanctioned(session, case)


def applicable(session: Session, case: Case) -> dict[str, list[Addressee]]:
    """Every kind that applies to the case, with its addressees, in the order of kinds.toml."""
    result = {}
    for code, kind in all_kinds().items():
        found = addressees(session, case, kind)
        if found:
            result[code] = found
    return result


def _properties(session: Session, case: Case) -> dict[str, dict[str, str]]:
    version = session.get(ProcessVersion, case.process_version_id, options=WITHOUT_FILES)
    if version is None:  # pragma: no cover - a case always has its version
        return {}
    return definition_of(version).element_properties


def _referred(session: Session, case: Case, kind: Kind) -> list[Addressee]:
    """The office's completed referral decisions that named a unit of the kind; the grounds of
    the latest decision for each unit."""
    decisions = {
        element
        for element, props in _properties(session, case).items()
        if props.get("stage") == referrals.DECISION_STAGE
    }
    if not decisions:
        return []
    done = session.scalars(
        select(Task)
        .where(Task.case_id == case.id, Task.element_id.in_(sorted(decisions)), Task.status == COMPLETED)
        .order_by(Task.completed_at, Task.id)
    )
    reasons: dict[str, str] = {}
    for task in done:
        submitted = task.submitted or {}
        target = submitted.get("referral_decision")
        if isinstance(target, str) and target in kind.units:
            reasons.pop(target, None)  # the latest decision comes last
            reasons[target] = str(submitted.get("referral_reason") or "").strip()
    return [Addressee(unit, reason) for unit, reason in reasons.items()]


def _overdue(session: Session, case: Case) -> list[Addressee]:
    """Units with an open task of the case past its due date, with those steps."""
    at = now()
    tasks = session.scalars(
        select(Task)
        .where(Task.case_id == case.id, Task.status == OPEN, Task.due_at < at)
        .order_by(Task.due_at, Task.id)
    )
    steps: dict[str, list[str]] = {}
    for task in tasks:
        due = local_date(task.due_at or at)
        steps.setdefault(task.unit_code, []).append(f"“{chinese(task.title)}”（应于{date_zh(due)}前办结）")
    return [Addressee(unit, "；".join(items)) for unit, items in steps.items()]


def _sanctioning(session: Session, case: Case) -> list[Addressee]:
    """The units asked to apply sanctions (a task whose element applies one, open or done),
    with the measures applied, or else allowed, or else all of the unit's."""
    effects = {
        element
        for element, props in _properties(session, case).items()
        if guarantees.SANCTION_EFFECT in props.get("effect", "").split()
    }
    if not effects:
        return []
    tasks = list(
        session.scalars(
            select(Task)
            .where(Task.case_id == case.id, Task.element_id.in_(sorted(effects)), Task.status != CANCELLED)
            .order_by(Task.created_at, Task.id)
        )
    )
    applied = _applied(session, case)
    kinds = {code: kind for code, kind in session.execute(select(Unit.code, Unit.kind))}
    cat = catalog.current()
    process = versions.process_key(session, case)
    result: dict[str, Addressee] = {}
    for task in tasks:
        if task.unit_code in result:
            continue
        measures = applied.get(task.unit_code) or list(task.context.get("allowed_measures") or [])
        if not measures:
            measures = [
                m.code for m in cat.measures_for(task.unit_code, kinds.get(task.unit_code, ""), process)
            ]
        result[task.unit_code] = Addressee(task.unit_code, "", measures)
    return list(result.values())


def _sanctioned(session: Session, case: Case) -> list[Addressee]:
    """Once the debtor left the blacklist (settled and delisted, or the case closed by the
    office), every unit that applied a sanction, with its measures."""
    left = not case.blacklisted and (
        case.delisted_at is not None or case.closing_reason is not None or case.status == CLOSED
    )
    if not left:
        return []
    if case.closing_reason:
        node = load_schema(str(current_app.config["FORMS_DIR"]), "close_case.json").properties.get(
            "closing_reason", {}
        )
        reason = f"该案件因“{enum_title(node, case.closing_reason, 'zh')}”已由办公室决定未结清结案"
    else:
        reason = "债务人已结清全部逾期贷款本息，经核验属实"
    return [Addressee(unit, reason, measures) for unit, measures in _applied(session, case).items()]


def _applied(session: Session, case: Case) -> dict[str, list[str]]:
    """The measures each unit applied on the case, first applied first."""
    applied: dict[str, list[str]] = {}
    rows = session.scalars(select(Sanction).where(Sanction.case_id == case.id).order_by(Sanction.id))
    for row in rows:
        measures = applied.setdefault(row.unit_code, [])
        measures.extend(m for m in row.measures or [] if m not in measures)
    return applied


def local_date(moment: dt.datetime) -> dt.date:
    """The date in the county's time zone (letters are dated and numbered by it)."""
    return moment.astimezone(ZoneInfo(str(current_app.config["BABEL_DEFAULT_TIMEZONE"]))).date()


def date_zh(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def chinese(title: str) -> str:
    """The Chinese part of a diagram name ("中文 English")."""
    for index, char in enumerate(title):
        if char.isascii() and char.isalpha():
            return title[:index].strip() or title
    return title
