"""Versions of rule packs and scorecards: the built-in files under lexicons/, and uploaded versions
stored in `rule_versions` after validation with the same loaders the engine uses.

An uploaded version does not change live scoring (the process-wide Inspector keeps the files); a
rescore names the versions to use and `build_inspector` puts them together.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qa_engine.config import Settings
from qa_engine.rulepack import RulePackError, read_yaml
from qa_engine.scorecard import Scorecard
from qa_engine.store.models import RuleVersion

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
CHANNELS = ("call", "chat")
MAX_CONTENT_CHARS = 1_000_000


@dataclass(frozen=True)
class RuleDoc:
    """One version of a pack or scorecard; `version` None is the built-in file."""

    kind: str
    name: str
    version: int | None
    declared_version: str | None
    content: str
    sha256: str
    comment: str | None = None
    uploaded_by: str | None = None
    created_at: object = None


def _sha(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _declared(content: str) -> str | None:
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError:
        return None
    value = data.get("version") if isinstance(data, dict) else None
    return str(value) if value is not None else None


def builtin_path(settings: Settings, kind: str, name: str) -> Path:
    base = settings.lexicons_dir / "packs" if kind == "pack" else settings.scorecards_path
    return base / f"{name}.yaml"


def builtin_names(settings: Settings, kind: str) -> list[str]:
    if kind == "scorecard":
        return [c for c in CHANNELS if builtin_path(settings, kind, c).is_file()]
    return sorted(p.stem for p in (settings.lexicons_dir / "packs").glob("*.yaml"))


def builtin(settings: Settings, kind: str, name: str) -> RuleDoc | None:
    if not re.match(NAME_PATTERN, name):
        return None
    path = builtin_path(settings, kind, name)
    if not path.is_file():
        return None
    content = path.read_text(encoding="utf-8")
    return RuleDoc(kind, name, None, _declared(content), content, _sha(content))


def _doc(row: RuleVersion) -> RuleDoc:
    return RuleDoc(
        row.kind, row.name, row.version, row.declared_version, row.content, row.sha256, row.comment,
        row.uploaded_by, row.created_at,
    )  # fmt: skip


def versions(session: Session, kind: str, name: str | None = None) -> list[RuleDoc]:
    stmt = select(RuleVersion).where(RuleVersion.kind == kind)
    if name is not None:
        stmt = stmt.where(RuleVersion.name == name)
    return [_doc(r) for r in session.scalars(stmt.order_by(RuleVersion.name, RuleVersion.version))]


def get(session: Session, kind: str, name: str, version: int) -> RuleDoc | None:
    row = session.scalar(
        select(RuleVersion).where(RuleVersion.kind == kind, RuleVersion.name == name, RuleVersion.version == version)
    )
    return _doc(row) if row else None


def names(session: Session, settings: Settings, kind: str) -> list[str]:
    stored = session.scalars(select(RuleVersion.name).where(RuleVersion.kind == kind).distinct())
    return sorted(set(builtin_names(settings, kind)) | set(stored))


# --- validation and assembly -----------------------------------------------------------------------


def _write(directory: Path, name: str, content: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(content, encoding="utf-8")
    return path


def _pack_paths(settings: Settings, directory: Path, packs: dict[str, str]) -> list[Path]:
    """The configured packs, with uploaded contents in place of (or added to) the built-in files."""
    paths = []
    for name in list(settings.rule_packs) + [n for n in packs if n not in settings.rule_packs]:
        paths.append(_write(directory, name, packs[name]) if name in packs else builtin_path(settings, "pack", name))
    return paths


def _scorecard(channel: str, content: str, where: str) -> Scorecard:
    with tempfile.TemporaryDirectory() as tmp:
        card = Scorecard.load(_write(Path(tmp), where, content))
    if card.channel != channel:
        raise RulePackError(f"scorecard {where} declares channel {card.channel!r}, not {channel!r}")
    return card


def build_inspector(settings: Settings, packs: dict[str, str] | None = None, scorecards: dict[str, str] | None = None):
    """An Inspector on the configured packs and scorecards with some replaced by the given contents.

    Raises RulePackError (with the file and rule) when the combination does not load.
    """
    from qa_engine.engine import Inspector
    from qa_engine.scorecard import load_scorecards

    packs, scorecards = packs or {}, scorecards or {}
    cards = load_scorecards(settings.scorecards_path)
    for channel, content in scorecards.items():
        cards[channel] = _scorecard(channel, content, channel)
    with tempfile.TemporaryDirectory() as tmp:  # the loaders read files; rules are in memory afterwards
        return Inspector(settings, pack_paths=_pack_paths(settings, Path(tmp), packs), scorecards=cards)


def _rule_ids(content: str, operators: set[str] | None = None) -> set[str]:
    """The ids of a pack's rules (of these operators only, if given)."""
    data = yaml.safe_load(content) or {}
    return {
        str(r.get("id"))
        for r in data.get("rules") or []
        if isinstance(r, dict) and (operators is None or r.get("operator") in operators)
    }


def _check_text(content: str) -> None:
    if not content.strip():
        raise RulePackError("empty content")
    if len(content) > MAX_CONTENT_CHARS:
        raise RulePackError(f"content longer than {MAX_CONTENT_CHARS} characters")


def validate_pack(settings: Settings, name: str, content: str) -> None:
    """The pack must load together with the other configured packs (operators, references, ids)."""
    from qa_engine.rulepack import load_rules
    from qa_engine.rules import Resources
    from qa_engine.text.lexicon import PhraseIndex

    _check_text(content)
    with tempfile.TemporaryDirectory() as tmp:
        paths = _pack_paths(settings, Path(tmp), {name: content})
        data = read_yaml(paths[[p.stem for p in paths].index(name)])
        if str(data.get("pack") or name) != name:
            raise RulePackError(f"{name}.yaml: declares pack {data.get('pack')!r}, not {name!r}")
        resources = Resources(
            lexicons_dir=settings.lexicons_dir,
            index=PhraseIndex(),
            embedder_dir=settings.embedder_path,
            onnx_threads=settings.onnx_threads,
            models_dir=settings.models_dir,
        )
        load_rules(paths, resources)


def validate_scorecard(session: Session, settings: Settings, channel: str, content: str) -> None:
    """Structure and channel; referenced rules must exist in a built-in or an uploaded pack (the exact
    combination is checked again when a rescore uses it)."""
    _check_text(content)
    if channel not in CHANNELS:
        raise RulePackError(f"scorecards are per channel: {', '.join(CHANNELS)}")
    card = _scorecard(channel, content, channel)
    from qa_engine.rules import OPERATORS

    model_operators = {name for name, op in OPERATORS.items() if op.model_backed}
    known: set[str] = set()
    model_rules: set[str] = set()  # refused as critical, as the engine refuses them when it loads the card
    packs = [builtin_path(settings, "pack", name).read_text(encoding="utf-8") for name in builtin_names(settings, "pack")]
    for content in packs + [doc.content for doc in versions(session, "pack")]:
        known |= _rule_ids(content)
        model_rules |= _rule_ids(content, model_operators)
    try:
        card.check_rules(sorted(known), model_rules)
    except ValidationError as exc:  # pragma: no cover - check_rules raises RulePackError
        raise RulePackError(str(exc)) from exc


def add_version(
    session: Session, settings: Settings, kind: str, name: str, content: str, *, uploaded_by: str, comment: str | None
) -> RuleDoc:
    """Validate and store the next version of (kind, name). Flushes but does not commit."""
    if kind == "pack":
        validate_pack(settings, name, content)
    else:
        validate_scorecard(session, settings, name, content)
    latest = session.scalar(select(func.max(RuleVersion.version)).where(RuleVersion.kind == kind, RuleVersion.name == name))
    row = RuleVersion(
        kind=kind,
        name=name,
        version=(latest or 0) + 1,
        declared_version=_declared(content),
        content=content,
        sha256=_sha(content),
        comment=comment,
        uploaded_by=uploaded_by,
    )
    session.add(row)
    session.flush()
    return _doc(row)
