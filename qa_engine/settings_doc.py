"""Every `QA_*` setting as a Markdown table, generated from `qa_engine.config.Settings` (its fields,
types, defaults and the comments written above or beside each field), so that docs/configuration.md
cannot drift from the class: `qa-engine config --markdown > docs/configuration.md`; a test compares.
"""

from __future__ import annotations

import ast
import inspect
import io
import tokenize
from pathlib import Path

from pydantic import SecretStr

from qa_engine.config import REPO_ROOT, Settings

HEADER = """# Configuration

Every setting is an environment variable with the prefix `QA_` (or a line in a `.env` file in the
working folder); lists and tuples are JSON (`QA_RULE_PACKS='["politeness", "forbidden"]'`). A bad
value stops every command with one line naming the variable. `qa-engine config` prints the values in
effect. `<checkout>` is the folder of the installed code, `~` the user's home folder.

This file is generated from the settings class (`qa_engine/config.py`): after changing a setting, run
`qa-engine config --markdown > docs/configuration.md` (tests/test_cli.py fails while they differ).

| variable | type | default | what |
|---|---|---|---|
"""


def _comments() -> dict[str, str]:
    """Field name -> its description: the comment lines right above it and the comment at the end of
    its line."""
    source = inspect.getsource(Settings)
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    lines = source.splitlines()
    out: dict[str, str] = {}
    settings_class = ast.parse(source).body[0]
    assert isinstance(settings_class, ast.ClassDef)
    for node in settings_class.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        row = node.lineno - 1
        while row >= 1 and lines[row - 1].strip().startswith("#"):
            above.insert(0, comments[row])
            row -= 1
        inline = comments.get(node.end_lineno) if node.end_lineno is not None else None
        out[node.target.id] = " ".join(" ".join(above + ([inline] if inline else [])).split())
    return out


def _type(annotation) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    for long, short in (("pathlib.", ""), ("typing.", ""), ("pydantic.types.", ""), ("NoneType", "None")):
        text = text.replace(long, short)
    return text


def _show(value, *, portable: bool = True) -> str:
    """A value as the doc shows it; `portable`: paths under the checkout or the home folder as
    `<checkout>/…` and `~/…`, the same on every machine."""
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(hidden)"
    if isinstance(value, Path) and not portable:
        return str(value)
    if isinstance(value, Path):
        text = str(value)
        for base, shown in ((str(REPO_ROOT), "<checkout>"), (str(REPO_ROOT.parent), "<checkout>/.."), (str(Path.home()), "~")):
            if text == base or text.startswith(base + "/"):
                text = shown + text[len(base) :]
        return text
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_markdown() -> str:
    described = _comments()
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        rows.append(f"| `QA_{name.upper()}` | {_cell(_type(field.annotation))} | `{_cell(_show(default))}` | "
                    f"{_cell(described.get(name, ''))} |")  # fmt: skip
    return HEADER + "\n".join(rows) + "\n"


def settings_values(settings: Settings) -> str:
    """`QA_NAME=value` of each setting in effect (secrets hidden)."""
    from qa_engine.store.db import database_url

    lines = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if name == "database_url" and value is None:
            value = database_url(settings, create=False)
        lines.append(f"QA_{name.upper()}={_show(value, portable=False) if value is not None else ''}")
    return "\n".join(lines)
