"""The shape of the code: one seam to the engine; domain code never imports views."""

from __future__ import annotations

import ast
from pathlib import Path

WEBAPP = Path(__file__).resolve().parent.parent / "webapp"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_engine_package_imports_spiffworkflow():
    offenders = [
        str(p.relative_to(WEBAPP))
        for p in WEBAPP.rglob("*.py")
        if "engine" not in p.relative_to(WEBAPP).parts
        and any(n.split(".")[0] == "SpiffWorkflow" for n in _imports(p))
    ]
    assert offenders == []


def test_domain_modules_do_not_import_views():
    offenders = []
    for path in WEBAPP.rglob("*.py"):
        if path.name == "views.py" or (path.name == "__init__.py" and path.parent == WEBAPP):
            continue
        if any(n.endswith(".views") for n in _imports(path)):
            offenders.append(str(path.relative_to(WEBAPP)))
    assert offenders == []
