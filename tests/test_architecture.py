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
