"""Benchmark runner: ``python -m bench <scenario> [args...]``, ``python -m bench list``.

Each scenario is a module in ``bench/`` that prints its figures and writes its section of
docs/PERFORMANCE.md (with machine and date) when run as a script.
"""

from __future__ import annotations

import runpy
import sys

# name -> what it measures; ``all`` runs the ones marked quick, in this order
SCENARIOS: dict[str, tuple[str, bool]] = {
    "whole_case": ("whole case through the pages, Flask test client, SQLite", True),
    "timers": ("deadline lateness and overdue firing throughput", True),
    "ledger": (
        "100,000-row ledger file checked and imported on SQLite and PostgreSQL, as production runs"
        " it: rows/s, cases/s, memory, WAL, caseworkers' step p95 and deadlines during the import",
        False,
    ),
    "lanes": ("deadline lateness while a 100,000-row ledger import runs in its own worker lane", False),
    "step_cost": ("one step's cost against the completed steps of a case (1-100)", True),
    "time_split": ("a task completion's time: request, engine, serialization, database", True),
    "http_case": ("whole case over HTTP, gunicorn, peer shape and full path, 1 and 4 clients", True),
    "million": ("inbox, overdue list, case search with 1,000,000 cases in PostgreSQL", False),
    "million_stats": (
        "statistics, cycle times, assessment, look-ups and bulletins with 1,000,000 cases in PostgreSQL",
        False,
    ),
    "instructions": ("instructions per request of the peer-shaped case (valgrind), vs a commit", False),
    "compare": ("before/after over HTTP vs a commit (--before REV), the two servers interleaved", False),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"list", "-h", "--help"}:
        print("usage: python -m bench <scenario> [args...] | all | list\n")
        for name, (what, quick) in SCENARIOS.items():
            print(f"  {name:<14} {what}{'' if quick else '  (not in all)'}")
        return 0
    names = [n for n, (_, quick) in SCENARIOS.items() if quick] if argv[0] == "all" else [argv[0]]
    for name in names:
        if name not in SCENARIOS:
            print(f"unknown scenario {name!r}; try: python -m bench list", file=sys.stderr)
            return 2
        print(f"== {name}: {SCENARIOS[name][0]}", flush=True)
        sys.argv = [f"bench/{name}.py", *(argv[1:] if argv[0] != "all" else [])]
        runpy.run_module(f"bench.{name}", run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
