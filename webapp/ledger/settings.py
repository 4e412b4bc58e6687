"""Ledger limits and paths, from the app config (``LIANDONG_LEDGER_*`` in the environment)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULTS = {
    "LEDGER_MAX_BYTES": 32 * 2**20,
    "LEDGER_MAX_ROWS": 100_000,
    # the characters of one cell: Excel's own limit (webapp.ledger.limits)
    "LEDGER_MAX_CELL_CHARS": 32_767,
    # what a workbook may unpack to (a 100,000-row sheet is about 60 MB of XML)
    "LEDGER_MAX_UNPACKED_BYTES": 256 * 2**20,
    # a job that committed no chunk for this long was cut off and is run again (a chunk
    # commits every fraction of a second)
    "LEDGER_STALE_SECONDS": 120,
    # debtors an import's chunk opens cases for in one transaction; 0: by the database
    # (webapp.ledger.importer.chunk_size)
    "LEDGER_IMPORT_CHUNK": 0,
    # the share of its time an import works (0: by the database; webapp.ledger.importer.cpu_share)
    "LEDGER_IMPORT_SHARE": 0,
}


@dataclass(frozen=True)
class LedgerSettings:
    upload_dir: Path
    forms_dir: str
    processes_dir: str
    max_bytes: int
    max_rows: int
    max_cell_chars: int
    max_unpacked_bytes: int
    stale_seconds: int
    import_chunk: int
    import_share: float

    @classmethod
    def from_config(cls, config: Any) -> LedgerSettings:
        def get(key: str) -> int:
            return int(config.get(key, DEFAULTS[key]))

        return cls(
            upload_dir=Path(config["UPLOAD_DIR"]) / "imports",
            forms_dir=config["FORMS_DIR"],
            processes_dir=config["PROCESSES_DIR"],
            max_bytes=get("LEDGER_MAX_BYTES"),
            max_rows=get("LEDGER_MAX_ROWS"),
            max_cell_chars=get("LEDGER_MAX_CELL_CHARS"),
            max_unpacked_bytes=get("LEDGER_MAX_UNPACKED_BYTES"),
            stale_seconds=get("LEDGER_STALE_SECONDS"),
            import_chunk=get("LEDGER_IMPORT_CHUNK"),
            import_share=float(config.get("LEDGER_IMPORT_SHARE", DEFAULTS["LEDGER_IMPORT_SHARE"])),
        )
