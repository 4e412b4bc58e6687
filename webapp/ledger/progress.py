"""A job's progress (rows done of total), kept beside the uploads rather than in the
database: the import holds its transaction open until the last row, and other connections
cannot write (SQLite) or see (PostgreSQL) anything it writes before it commits."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Progress:
    phase: str  # validating or importing
    done: int
    total: int | None
    updated: float  # seconds since the epoch

    @property
    def percent(self) -> int | None:
        return None if not self.total else min(100, self.done * 100 // self.total)


def _path(folder: Path, batch_id: int) -> Path:
    return folder / f"progress-{batch_id}.json"


def write(folder: Path, batch_id: int, phase: str, done: int, total: int | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = _path(folder, batch_id)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"phase": phase, "done": done, "total": total}), encoding="utf-8")
    os.replace(temporary, path)  # readers never see half a file


def read(folder: Path, batch_id: int) -> Progress | None:
    path = _path(folder, batch_id)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Progress(raw["phase"], int(raw["done"]), raw["total"], path.stat().st_mtime)
    except (OSError, ValueError, KeyError):
        return None


def clear(folder: Path, batch_id: int) -> None:
    _path(folder, batch_id).unlink(missing_ok=True)


def is_stale(folder: Path, batch_id: int, since: float, stale_seconds: int) -> bool:
    """No progress for ``stale_seconds`` (counted from ``since`` when none was written)."""
    current = read(folder, batch_id)
    last = current.updated if current else since
    return time.time() - last > stale_seconds
