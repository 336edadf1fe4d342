"""Rule packs: YAML files under ``lexicons/packs`` turned into an ordered set of rule operators."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from qa_engine.rules import OPERATORS, Resources, RuleOperator, RuleSpec
from qa_engine.rules.base import rule_matches


class RulePackError(ValueError):
    """A rule pack or scorecard is invalid; the message says where."""


def read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise RulePackError(f"file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RulePackError(f"{path.name}: invalid YAML{where}: {' '.join(str(problem).split())}") from exc
    if not isinstance(data, dict):
        raise RulePackError(f"{path.name}: expected a mapping at the top level")
    return data


def _pydantic_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors())


@dataclass
class RuleSet:
    rules: list[RuleOperator]  # in evaluation order (dependencies first)
    version: str
    packs: dict[str, str]  # pack name -> its declared version

    def ids(self) -> list[str]:
        return [r.spec.id for r in self.rules]


def _order(rules: list[RuleOperator]) -> list[RuleOperator]:
    by_id = {r.spec.id: r for r in rules}
    ordered: list[RuleOperator] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(rule: RuleOperator, path: list[str]) -> None:
        rid = rule.spec.id
        if state.get(rid) == 2:
            return
        if state.get(rid) == 1:
            raise RulePackError(f"rule dependency cycle: {' -> '.join(path + [rid])}")
        state[rid] = 1
        for ref in rule.depends_on():
            deps = [r for r in rules if rule_matches(ref, r.spec.id) and r.spec.id != rid]
            if not deps and ref not in rule.optional_dependencies():
                raise RulePackError(f"rule {rid} refers to unknown rule {ref!r}")
            for dep in deps:
                visit(dep, path + [rid])
        state[rid] = 2
        ordered.append(rule)

    for rule in by_id.values():
        visit(rule, [])
    return ordered


def load_rules(pack_paths: list[Path], resources: Resources) -> RuleSet:
    rules: list[RuleOperator] = []
    packs: dict[str, str] = {}
    digest = hashlib.sha256()
    seen: set[str] = set()
    for path in pack_paths:
        data = read_yaml(path)
        name = str(data.get("pack") or path.stem)
        packs[name] = str(data.get("version", "0"))
        digest.update(path.read_bytes())
        for n, raw in enumerate(data.get("rules") or []):
            where = f"{path.name} rule #{n + 1}"
            try:
                spec = RuleSpec.model_validate(raw)
            except ValidationError as exc:
                raise RulePackError(f"{where}: {_pydantic_message(exc)}") from exc
            if spec.id in seen:
                raise RulePackError(f"{where}: duplicate rule id {spec.id}")
            seen.add(spec.id)
            operator = OPERATORS.get(spec.operator)
            if operator is None:
                raise RulePackError(f"{where} ({spec.id}): unknown operator {spec.operator!r}; known: {sorted(OPERATORS)}")
            try:
                rules.append(operator(spec, resources))
            except ValidationError as exc:
                raise RulePackError(f"{where} ({spec.id}): {_pydantic_message(exc)}") from exc
            except ValueError as exc:
                raise RulePackError(f"{where} ({spec.id}): {exc}") from exc
    # Word lists are part of the ruleset: a changed list is a new version.
    words_dir = resources.lexicons_dir / "words"
    if words_dir.is_dir():
        for f in sorted(words_dir.glob("*.txt")):
            digest.update(f.name.encode() + f.read_bytes())
    return RuleSet(rules=_order(rules), version=digest.hexdigest()[:12], packs=packs)
