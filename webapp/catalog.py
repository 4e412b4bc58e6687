"""Reference data that changes by county: units, sanction catalogue, settings, lanes.

Loaded from TOML files (``webapp/data/`` and ``processes/lanes.toml``) once per app.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
CREDITOR_BANK = "creditor_bank"


@dataclass(frozen=True)
class UnitSpec:
    code: str
    kind: str
    zh: str
    en: str


@dataclass(frozen=True)
class Measure:
    code: str
    zh: str
    en: str
    # exposes the debtor to the public: the debtor is on the published list while it is applied
    public: bool = False


@dataclass(frozen=True)
class Catalog:
    units: tuple[UnitSpec, ...]
    sanctions: dict[str, tuple[Measure, ...]]
    dynamic_lanes: dict[str, str]
    settings: dict[str, Any]

    def unit_codes(self) -> set[str]:
        return {u.code for u in self.units}

    def sanctioning_units(self) -> list[str]:
        """Fixed units of the catalogue, in order (creditor banks are added per case)."""
        return [code for code in self.sanctions if code != CREDITOR_BANK]

    def public_measures(self) -> frozenset[str]:
        """Measures that expose the debtor in public (seed 000 §四(二)2: exposure is a sanction)."""
        return frozenset(m.code for measures in self.sanctions.values() for m in measures if m.public)

    def measures_for(self, unit_code: str, unit_kind: str) -> tuple[Measure, ...]:
        if unit_kind in ("bank", "guarantor"):
            return self.sanctions.get(CREDITOR_BANK, ())
        return self.sanctions.get(unit_code, ())

    @property
    def rectification_default_days(self) -> int:
        return int(self.settings["rectification"]["default_days"])

    @property
    def monitoring_period(self) -> str:
        return str(self.settings["monitoring"]["period"])


def _read(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


@cache
def load(processes_dir: str) -> Catalog:
    units = tuple(
        UnitSpec(u["code"], u["kind"], u["zh"], u["en"]) for u in _read(DATA / "units.toml")["unit"]
    )
    sanctions = {
        s["unit"]: tuple(
            Measure(m["code"], m["zh"], m["en"], bool(m.get("public", False))) for m in s["measures"]
        )
        for s in _read(DATA / "sanctions.toml")["sanction"]
    }
    lanes = {str(k): str(v) for k, v in _read(Path(processes_dir) / "lanes.toml").items()}
    return Catalog(units, sanctions, lanes, _read(DATA / "settings.toml"))


def current() -> Catalog:
    from flask import current_app

    return load(str(current_app.config["PROCESSES_DIR"]))
