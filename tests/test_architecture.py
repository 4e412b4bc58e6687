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
        # views modules: views.py, or *_views.py adding routes to its package's blueprint
        if path.name == "views.py" or path.name.endswith("_views.py"):
            continue
        if path.name == "__init__.py" and path.parent == WEBAPP:
            continue
        if any(n.endswith(".views") for n in _imports(path)):
            offenders.append(str(path.relative_to(WEBAPP)))
    assert offenders == []


def _private_reads(path: Path, root: Path = WEBAPP) -> list[str]:
    """``x._name`` on anything but ``self``/``cls``, and ``getattr``/``setattr``/``__dict__``
    with a ``_name``: a library's private state (dunders like ``__notes__`` are Python's)."""
    found = []

    def private(name: str) -> bool:
        return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        where = f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            if (private(node.attr) and owner not in {"self", "cls"}) or node.attr == "__dict__":
                found.append(f"{where} .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "setattr", "hasattr", "delattr"}
            and len(node.args) > 1
        ):
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and private(name.value):
                found.append(f"{where} {node.func.id}(..., {name.value!r})")
    return found


def test_no_private_attribute_of_any_object_but_its_own_class() -> None:
    """Issue 15: the engine state went through SpiffWorkflow's private fields and broke in
    production; rows through SQLAlchemy's. webapp/ uses libraries by their public API only."""
    offenders = [hit for path in sorted(WEBAPP.rglob("*.py")) for hit in _private_reads(path)]
    assert offenders == []


def test_the_private_attribute_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(task, state, obj):\n"
        "    task._children.append(1)\n"
        "    state._commit_all({}, None)\n"
        "    getattr(obj, '_state')\n"
        "    obj.__dict__['x'] = 1\n"
        "    return self._mine, obj.__notes__\n",
        encoding="utf-8",
    )
    hits = _private_reads(sample, tmp_path)
    assert sorted(h.split(" ", 1)[1] for h in hits) == sorted(
        ["._children", "._commit_all", "getattr(..., '_state')", ".__dict__"]
    )


# a process's own module of effects, the only code (with the engine) that may name its key
OWN_MODULES = {"judgment_defaulter": "defaulters"}


def test_no_code_names_a_process_but_the_engine_and_its_own_module():
    """Processes are data (processes/catalog.toml): inboxes, case pages, supervision, replay
    and exports work for every process without knowing its name."""
    import tomllib

    catalog = tomllib.loads((WEBAPP.parent / "processes" / "catalog.toml").read_text(encoding="utf-8"))
    keys = [p["key"] for p in catalog["process"]]
    assert len(keys) >= 2
    offenders = []
    for path in [*WEBAPP.rglob("*.py"), *WEBAPP.rglob("*.html"), *WEBAPP.rglob("*.js")]:
        parts = path.relative_to(WEBAPP).parts
        if "engine" in parts or "vendor" in parts:
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [
            f"{'/'.join(parts)}: {key}" for key in keys if key in text and OWN_MODULES.get(key) != parts[0]
        ]
    assert offenders == []
