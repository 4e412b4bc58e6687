"""Every unit of units.toml has its part (seed 000 §五): a lane of a diagram with a user
task in it, a role lane its code can fill, or a view of its own. A unit added to the data
without one fails here."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from defusedxml import ElementTree

from tests.support import ROOT, Browser

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
DATA = ROOT / "webapp" / "data"


def _toml(path: Path) -> dict:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def units() -> list[dict]:
    return _toml(DATA / "units.toml")["unit"]


def lanes_with_user_tasks() -> set[str]:
    """Lane names holding at least one user task, over every diagram in processes/."""
    found: set[str] = set()
    for path in (ROOT / "processes").glob("*.bpmn"):
        root = ElementTree.parse(path).getroot()
        user_tasks = {t.get("id") for t in root.iter(f"{BPMN}userTask")}
        for lane in root.iter(f"{BPMN}lane"):
            refs = {ref.text for ref in lane.iter(f"{BPMN}flowNodeRef")}
            if refs & user_tasks:
                found.add(lane.get("name", ""))
    return found


def units_filling(role: str) -> set[str]:
    """The unit codes the data lets a role lane resolve to (processes/lanes.toml names the
    variable; where its value comes from is the case's data: the reporting banks, the
    debtor's employer, every process's catalogue of measures, the referral targets, the
    townships)."""
    processes = _toml(ROOT / "processes" / "catalog.toml")["process"]
    catalogue = [entry for p in processes for entry in _toml(DATA / p["measures"])["sanction"]]
    by_kind = lambda *kinds: {u["code"] for u in units() if u["kind"] in kinds}  # noqa: E731
    referral = json.loads((ROOT / "forms" / "decide_referral.json").read_text(encoding="utf-8"))
    targets = set(referral["properties"]["referral_decision"]["enum"])
    sanctioning = {s["unit"] for s in catalogue} - {"creditor_bank"} | by_kind("bank", "guarantor")
    sources = {
        "creditor_bank": by_kind("bank", "guarantor"),
        "employer": by_kind("employer"),
        "sanction_unit": sanctioning,
        "lift_unit": sanctioning | {"organization"},  # three stops, five nots are lifted too
        "referral_unit": (targets & {u["code"] for u in units()}) | {"discipline"},
        "township": by_kind("township"),
    }
    return sources[role]


# units whose part is a view rather than a task: the page and what it shows (seed 000 §五5)
VIEWS = {"political_legal": "/referrals/"}


def test_every_unit_has_a_lane_a_role_or_a_view():
    roles = set(_toml(ROOT / "processes" / "lanes.toml"))
    lanes = lanes_with_user_tasks()
    assert roles <= lanes, f"role lanes without a user task: {roles - lanes}"
    fixed = lanes - roles
    filled = set().union(*(units_filling(role) for role in roles))
    missing = [u["code"] for u in units() if u["code"] not in fixed | filled | set(VIEWS)]
    assert missing == [], f"units with no lane, task or view: {missing}"


def test_the_roles_only_name_units_that_exist():
    codes = {u["code"] for u in units()}
    for role in _toml(ROOT / "processes" / "lanes.toml"):
        assert units_filling(role) <= codes, role
    fixed = lanes_with_user_tasks() - set(_toml(ROOT / "processes" / "lanes.toml"))
    assert fixed <= codes, f"lanes that are no unit: {fixed - codes}"


@pytest.mark.parametrize("unit", sorted(VIEWS))
def test_a_unit_without_tasks_has_its_view(app, users, unit):
    response = Browser(app, unit).get(VIEWS[unit])
    assert response.status_code == 200
