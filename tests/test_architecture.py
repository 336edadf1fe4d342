"""The house rules a newcomer can rely on, checked on the source tree: no import cycles between the
modules of qa_engine/ and api/ (counting imports inside functions, which only hide a cycle)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter

from conftest import REPO

PACKAGES = ("qa_engine", "api")


def _modules() -> dict[str, ast.Module]:
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = ast.parse(path.read_text(encoding="utf-8"))
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of the two packages it imports (a `from package import name` counts as
    the submodule `name` when there is one, else as the package)."""
    modules = _modules()

    def owner(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    graph: dict[str, set[str]] = {}
    for name, tree in modules.items():
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps |= {owner(f"{node.module}.{a.name}") or owner(node.module) for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {owner(a.name) for a in node.names}
        graph[name] = {d for d in deps if d and d != name and not name.startswith(d + ".")}
    return graph


def test_no_import_cycles():
    graph = import_graph()
    assert {"qa_engine.engine", "qa_engine.batch.runner", "api.main"} <= set(graph)
    assert "qa_engine.batch.plan" in graph["qa_engine.batch.celery_driver"]
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_the_cycle_check_finds_a_cycle():
    graph = {**import_graph(), "qa_engine.engine": {"qa_engine.batch.runner"}, "qa_engine.batch.runner": {"qa_engine.engine"}}
    try:
        TopologicalSorter(graph).prepare()
    except CycleError:
        return
    raise AssertionError("a two-module cycle went unnoticed")


def _module_table() -> list[str]:
    """The paths in the first column of README's module table (section "How it works")."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("| module | concern |", 1)[1].split("\n\n", 1)[0]
    first = [line.split("|")[1] for line in table.splitlines()[2:] if line.startswith("|")]
    return [p.strip("` ") for cell in first for p in cell.split(",")]


def test_the_readme_module_table_names_every_module_and_only_real_ones():
    named = _module_table()
    missing_paths = [p for p in named if not (REPO / p).exists()]
    assert not missing_paths, f"README's module table names paths that do not exist: {missing_paths}"
    covered = {p.rstrip("/") for p in named}
    modules = [f"qa_engine/{p.name}" for p in sorted((REPO / "qa_engine").glob("*.py")) if not p.name.startswith("__")]
    packages = [f"qa_engine/{p.name}" for p in sorted((REPO / "qa_engine").iterdir()) if (p / "__init__.py").is_file()]
    unnamed = [m for m in modules + packages + ["api"] if m not in covered and not any(m.startswith(c + "/") for c in covered)]
    assert not unnamed, f"add these to README's module table (How it works): {unnamed}"
