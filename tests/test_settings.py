"""Settings in one place: only qa_engine/config.py reads QA_* variables; the rest is handed a Settings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from qa_engine.config import Settings

REPO = Path(__file__).resolve().parents[1]
SETTINGS_MODULE = REPO / "qa_engine" / "config.py"
SOURCE_DIRS = ("qa_engine", "api", "migrations", "training", "bench", "datasets")


def _qa_name(node: ast.AST | None) -> bool:
    """A string that names a QA_* variable: "QA_X", or an f-string that starts with QA_."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value.startswith("QA_")
    if isinstance(node, ast.JoinedStr) and node.values:
        return _qa_name(node.values[0])
    return False


def _is_environ(node: ast.AST) -> bool:
    """`os.environ` or a bare `environ` (from os import environ)."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (isinstance(node, ast.Name) and node.id == "environ")


def qa_environment_reads(tree: ast.AST) -> list[int]:
    """Lines that read a QA_* variable: os.environ["QA_X"], os.environ.get("QA_X"), os.getenv("QA_X"),
    "QA_X" in os.environ. Setting one (for a child process) is not a read."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
            if _qa_name(node.slice):
                lines.append(node.lineno)
        elif isinstance(node, ast.Call) and node.args and _qa_name(node.args[0]):
            func = node.func
            getenv = (isinstance(func, ast.Attribute) and func.attr == "getenv") or (isinstance(func, ast.Name) and func.id == "getenv")
            environ_get = isinstance(func, ast.Attribute) and func.attr in ("get", "pop") and _is_environ(func.value)
            if getenv or environ_get:
                lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and _qa_name(node.left) and any(_is_environ(c) for c in node.comparators):
            lines.append(node.lineno)
    return lines


def _sources() -> list[Path]:
    return [p for d in SOURCE_DIRS for p in sorted((REPO / d).rglob("*.py")) if p != SETTINGS_MODULE]


def test_the_scan_finds_each_way_of_reading_a_variable():
    code = (
        'import os\nfrom os import environ, getenv\nname = "X"\n'
        'a = os.environ["QA_A"]\nb = os.environ.get("QA_B")\nc = os.getenv("QA_C", "1")\nd = getenv("QA_D")\n'
        'e = environ.get(f"QA_{name.upper()}")\nf = "QA_F" in os.environ\n'
        'os.environ["QA_G"] = "1"\nh = os.environ.get("HOME")\n'
    )
    assert qa_environment_reads(ast.parse(code)) == [4, 5, 6, 7, 8, 9]


def test_no_module_but_the_settings_module_reads_a_qa_variable():
    sources = _sources()
    assert len(sources) > 50  # the scan sees the code
    found = {f"{p.relative_to(REPO)}:{line}" for p in sources for line in qa_environment_reads(ast.parse(p.read_text("utf-8")))}
    assert not found, f"read QA_* through qa_engine.config.Settings instead: {sorted(found)}"


def test_one_settings_class():
    """pydantic-settings is used in the settings module only (no second class reading the environment)."""
    users = [str(p.relative_to(REPO)) for p in _sources() if "pydantic_settings" in p.read_text("utf-8")]
    assert users == []


def test_a_weak_signing_secret_in_the_environment_is_refused_once_without_its_value(monkeypatch):
    monkeypatch.setenv("QA_JWT_SECRET", "short-secret")
    with pytest.raises(ValidationError) as err:
        Settings()
    assert err.value.error_count() == 1
    message = str(err.value)
    assert "QA_JWT_SECRET must be at least 32 bytes (it has 12)" in message and "short-secret" not in message
    monkeypatch.setenv("QA_JWT_SECRET", "s" * 32)
    assert Settings().jwt_secret.get_secret_value() == "s" * 32
    monkeypatch.delenv("QA_JWT_SECRET")
    assert Settings().jwt_secret is None  # unset: the API signs with the secret stored in its database


# Where the settings are read (get_settings): the entries, each passing them down. The dataset
# loaders (evaluation and training only) default to the configured shared folder.
ENTRIES = {
    "qa_engine/cli.py", "qa_engine/store/cli.py", "qa_engine/batch/cli.py", "qa_engine/batch/celery_app.py",
    "api/main.py", "migrations/env.py", "datasets/jddc.py",
}


def test_library_code_is_handed_its_settings():
    """Scripts (training/, bench/) are entries of their own."""
    library = [p for p in _sources() if p.relative_to(REPO).parts[0] not in ("training", "bench")]
    readers = {str(p.relative_to(REPO)) for p in library if "get_settings()" in p.read_text("utf-8")}
    assert readers == ENTRIES


def test_the_api_config_is_derived_from_the_settings(monkeypatch):
    """api/config.py has no defaults or environment reads of its own: what it holds comes from Settings."""
    from api.config import ApiConfig

    monkeypatch.setenv("QA_QUEUE_SCORER", "off")
    monkeypatch.setenv("QA_QUEUE_BATCH", "5")
    monkeypatch.setenv("QA_MAX_BODY_MB", "3")
    config = ApiConfig.from_settings(Settings(database_url="sqlite:///unused.db"))
    assert (config.queue_scorer, config.queue_batch, config.max_body_bytes) == (False, 5, 3 * 1024 * 1024)
    monkeypatch.setenv("QA_QUEUE_BATCH", "0")  # was taken as 1 by the API; now refused like any bad setting
    with pytest.raises(ValidationError, match="queue_batch"):
        Settings()
