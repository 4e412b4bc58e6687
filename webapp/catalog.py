"""Reference data that changes by county: units, processes and their catalogues of
measures, settings, lanes.

Loaded from TOML files (``webapp/data/``, ``processes/catalog.toml`` and
``processes/lanes.toml``) once per app. A process is known here only by the key its data
gives; nothing outside the data files and the process's own module names one.
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
    # every bank applies it, not only a creditor (seed 004 §三(十七)): a bank's look-up shows it
    every_bank: bool = False


@dataclass(frozen=True)
class ProcessSpec:
    """One process of ``processes/catalog.toml``."""

    key: str
    zh: str
    en: str
    # unit kinds or unit codes whose caseworkers open a case of it
    started_by: tuple[str, ...]
    # its catalogue of measures: unit code -> measures ("creditor_bank": every reporting bank)
    measures: dict[str, tuple[Measure, ...]]
    # when a measure may be applied (webapp.cases.guarantees.sanction_may_open)
    sanction_rule: str
    # the unit that ends a case without its normal exit, and that page's form (if any)
    closing_unit: str | None
    closing_form: str | None
    # its short name in lists (zh, en)
    short_zh: str = ""
    short_en: str = ""
    # what case and task pages show of the case's subject: "loans" or "court_listing"
    facts: str = "loans"

    def name(self, locale: str) -> str:
        return self.en if locale.startswith("en") else self.zh

    def short_name(self, locale: str) -> str:
        if locale.startswith("en"):
            return self.short_en or self.en
        return self.short_zh or self.zh

    def started_by_unit(self, unit_code: str, unit_kind: str) -> bool:
        return unit_code in self.started_by or unit_kind in self.started_by

    def sanctioning_units(self) -> list[str]:
        """Fixed units of the catalogue, in order (creditor banks are added per case)."""
        return [code for code in self.measures if code != CREDITOR_BANK]

    def measures_for(self, unit_code: str, unit_kind: str) -> tuple[Measure, ...]:
        if unit_kind in ("bank", "guarantor") and CREDITOR_BANK in self.measures:
            return self.measures[CREDITOR_BANK]
        return self.measures.get(unit_code, ())


@dataclass(frozen=True)
class Catalog:
    units: tuple[UnitSpec, ...]
    processes: dict[str, ProcessSpec]
    dynamic_lanes: dict[str, str]
    settings: dict[str, Any]

    def unit_codes(self) -> set[str]:
        return {u.code for u in self.units}

    @property
    def default_process(self) -> ProcessSpec:
        """The first process of the catalogue: the one a bank's report opens."""
        return next(iter(self.processes.values()))

    def process(self, key: str) -> ProcessSpec:
        return self.processes[key]

    @property
    def sanctions(self) -> dict[str, tuple[Measure, ...]]:
        """The default process's catalogue of measures."""
        return self.default_process.measures

    def sanctioning_units(self) -> list[str]:
        return self.default_process.sanctioning_units()

    def all_measures(self) -> list[Measure]:
        """Every measure of every process (codes are distinct across processes)."""
        return [m for p in self.processes.values() for measures in p.measures.values() for m in measures]

    def field_measures(self, unit_code: str, unit_kind: str) -> frozenset[str]:
        """The measures of a unit's field in every process; a bank's field includes the
        measures every bank applies."""
        codes = {m.code for p in self.processes.values() for m in p.measures_for(unit_code, unit_kind)}
        if unit_kind in ("bank", "guarantor"):
            codes |= {m.code for m in self.all_measures() if m.every_bank}
        return frozenset(codes)

    def public_measures(self) -> frozenset[str]:
        """Measures that expose the debtor in public (seed 000 §四(二)2: exposure is a sanction)."""
        return frozenset(m.code for m in self.all_measures() if m.public)

    def measures_for(
        self, unit_code: str, unit_kind: str, process_key: str | None = None
    ) -> tuple[Measure, ...]:
        """The unit's measures in a process (the default process when none is named)."""
        spec = self.processes[process_key] if process_key else self.default_process
        return spec.measures_for(unit_code, unit_kind)

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
    processes = {p["key"]: _process(p) for p in _read(Path(processes_dir) / "catalog.toml")["process"]}
    lanes = {str(k): str(v) for k, v in _read(Path(processes_dir) / "lanes.toml").items()}
    return Catalog(units, processes, lanes, _read(DATA / "settings.toml"))


def _process(entry: dict[str, Any]) -> ProcessSpec:
    measures = {
        s["unit"]: tuple(
            Measure(
                m["code"], m["zh"], m["en"], bool(m.get("public", False)), bool(m.get("every_bank", False))
            )
            for m in s["measures"]
        )
        for s in _read(DATA / entry["measures"])["sanction"]
    }
    return ProcessSpec(
        key=entry["key"],
        zh=entry["zh"],
        en=entry["en"],
        started_by=tuple(entry["started_by"]),
        measures=measures,
        sanction_rule=entry["sanction_rule"],
        closing_unit=entry.get("closing", {}).get("unit"),
        closing_form=entry.get("closing", {}).get("form"),
        short_zh=entry.get("short", {}).get("zh", ""),
        short_en=entry.get("short", {}).get("en", ""),
        facts=entry.get("facts", "loans"),
    )


def current() -> Catalog:
    from flask import current_app

    return load(str(current_app.config["PROCESSES_DIR"]))
