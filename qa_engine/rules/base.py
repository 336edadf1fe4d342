"""Rules, their operators and the registry, in the spirit of presidio's recognisers.

A rule is one YAML entry: common fields (id, dimension, severity, roles, scope, explanation) plus
parameters of its operator. An operator is a small class registered under a name; it validates its
own parameters and returns hits that explain themselves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from qa_engine.context import InspectionContext, TurnView
from qa_engine.ml.text_cache import Staged
from qa_engine.schema import Channel, Hit, HitEvidence, OperatorEvidence, Role, Severity
from qa_engine.text.lexicon import PhraseIndex


class Near(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: str
    turns: int = Field(default=1, ge=0)


class Scope(BaseModel):
    """Where a rule looks: first/last N turns (of its roles) or seconds, or near another rule's hit."""

    model_config = ConfigDict(extra="forbid")
    first_turns: int | None = Field(default=None, ge=1)
    last_turns: int | None = Field(default=None, ge=1)
    first_seconds: float | None = Field(default=None, gt=0)
    last_seconds: float | None = Field(default=None, gt=0)
    near: Near | None = None


def _all_roles() -> list[Role]:
    return ["agent", "customer"]


def _all_channels() -> list[Channel]:
    return ["call", "chat"]


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
    dimension: str
    operator: str
    severity: Severity = "minor"
    roles: list[Role] = Field(default_factory=_all_roles)
    channels: list[Channel] = Field(default_factory=_all_channels)
    scope: Scope = Field(default_factory=Scope)
    explanation: str = "{text}"
    description: str = ""
    # What people read instead of the id (review page, queue, exports): Chinese and English.
    name_zh: str = ""
    name_en: str = ""
    # Rules of one group are alternative ways to find one kind of finding (a phrase list and its
    # paraphrase patterns); overlapping hits within a group count once. Default: the rule alone.
    group: str | None = None
    # A veto: no hit of this rule on a turn where one of these rules (ids, or `prefix.*` for every
    # loaded rule under a prefix) has a hit; they are evaluated first. An id must name a loaded rule;
    # a `prefix.*` may match none (its pack is not loaded: nothing vetoes). The empathy pack says
    # `unless: [forbidden.*, paraphrase.*]`: a turn with a 服务禁语 hit earns no empathy hit.
    unless: list[str] = Field(default_factory=list)

    @property
    def finding_group(self) -> str:
        return self.group or self.id

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


@dataclass
class Resources:
    """What operators may use while they are built: word lists, the shared phrase index, and
    models loaded once on first use (a ruleset without `similar` rules never loads the embedder)."""

    lexicons_dir: Path
    index: PhraseIndex
    embedder_dir: Path | None = None
    onnx_threads: int = 2
    models_dir: Path | None = None  # where `classifier` rules find their model folders by name (Settings.models_dir)
    _embedder: Any = None
    _classifiers: dict[Path, Any] = field(default_factory=dict)

    def words_path(self, name: str) -> Path:
        return self.lexicons_dir / "words" / name

    def embedder(self):
        if self._embedder is None:
            from qa_engine.ml.embedder import SentenceEmbedder

            if self.embedder_dir is None or not (self.embedder_dir / "model.onnx").is_file():
                raise ValueError(f"sentence-embedding model not found in {self.embedder_dir}")
            self._embedder = SentenceEmbedder(self.embedder_dir, threads=self.onnx_threads)
        return self._embedder

    def turn_classifier(self, model: str):
        """A fine-tuned ONNX turn classifier, by folder name under models_dir (or a path); loaded once
        and shared by every rule that names it, so its prediction cache is shared too."""
        path = Path(model)
        if not path.is_absolute():
            if self.models_dir is None:
                raise ValueError(f"turn classifier {model!r} is named relative to models_dir, which is not given")
            path = self.models_dir / model
        if path not in self._classifiers:
            from qa_engine.ml.turn_classifier import TurnClassifier

            if not (path / "model.onnx").is_file():
                raise ValueError(f"turn classifier not found: {path / 'model.onnx'}")
            self._classifiers[path] = TurnClassifier(path, threads=self.onnx_threads)
        return self._classifiers[path]

    def model_dirs(self) -> dict[str, Path]:
        """The model folders loaded so far (the embedder and each turn classifier), by folder name."""
        dirs = {path.name: path for path in self._classifiers}
        if self._embedder is not None and self.embedder_dir is not None:
            dirs[Path(self.embedder_dir).name] = Path(self.embedder_dir)
        return dirs


class RuleOperator(ABC):
    name: ClassVar[str]

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, spec: RuleSpec, resources: Resources) -> None:
        self.spec = spec
        self.params = self.Params.model_validate(spec.params)

    def depends_on(self) -> list[str]:
        """Rules whose hits this rule reads; they are evaluated first."""
        near = self.spec.scope.near
        return ([near.rule] if near else []) + list(self.spec.unless)

    def optional_dependencies(self) -> set[str]:
        """References of depends_on that may match no loaded rule: the `prefix.*` ones of `unless`."""
        return {ref for ref in self.spec.unless if ref.endswith(".*")}

    @abstractmethod
    def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
        """Hits of this rule on the turns its roles and scope select."""

    # A rule whose hits are a model's judgement (a probability, not a phrase): a scorecard may not
    # make it critical (Scorecard.check_rules) — a model-only hit is evidence to review, never 一票否决.
    model_backed: ClassVar[bool] = False

    def stage(self, contexts: list[InspectionContext], done: set) -> Staged | None:
        """The model work this rule will need for many interactions, done ahead in large batches
        (Inspector.inspect_many), or None. Contract: evaluate() must then find every model output it
        reads in the model's cache, so stage must cover a superset of the texts evaluate() reads.
        `done` is shared by the rules of one round: a key added there tells rules sharing a model
        that its work is staged already. Default: nothing ahead, evaluate() does all the work."""
        return None

    def cache_clear(self) -> None:
        """Forget the per-text model outputs this rule keeps (a benchmark's cold start). Default: none."""
        return None

    # Helpers shared by operators.
    def turn_hit(
        self, view: TurnView, start: int | None = None, end: int | None = None, *, evidence: HitEvidence | None = None, **how: Any
    ) -> Hit:
        """A hit of this rule on a turn (TurnView.make_hit: `score`, `detail`, `prose`, `time`); an
        operator that gives no evidence gets OperatorEvidence (its name only)."""
        return view.make_hit(
            rule_id=self.spec.id,
            dimension=self.spec.dimension,
            severity=self.spec.severity,
            explanation=self.spec.explanation,
            start=start,
            end=end,
            evidence=evidence if evidence is not None else OperatorEvidence(operator=self.name),
            **how,
        )

    def interaction_hit(
        self, explanation: str, *, evidence: HitEvidence | None = None, time: tuple[float, float] | None = None
    ) -> Hit:
        return Hit(
            dimension=self.spec.dimension,
            rule_id=self.spec.id,
            turn=None,
            severity=self.spec.severity,
            explanation=explanation,
            time=time,
            evidence=evidence if evidence is not None else OperatorEvidence(operator=self.name),
        )


def rule_matches(ref: str, rule_id: str) -> bool:
    """`ref` names one rule, or all rules under a prefix with a trailing `.*`."""
    return rule_id.startswith(ref[:-1]) if ref.endswith(".*") else rule_id == ref


@lru_cache(maxsize=4096)
def _matching_ids(refs: tuple[str, ...], ids: tuple[str, ...]) -> tuple[str, ...]:
    """The ids among `ids` that one of `refs` names: resolved once per rule and rule set, not per
    interaction (matching every ref against every evaluated rule id was a quarter of the engine's CPU)."""
    return tuple(rid for rid in ids if any(rule_matches(ref, rid) for ref in refs))


def vetoed_turns(spec: RuleSpec, ctx: InspectionContext) -> set[int]:
    """Turns where a rule of `spec.unless` has a hit (their hits are already in ctx.hits)."""
    if not spec.unless:
        return set()
    return {h.turn for rid in _matching_ids(tuple(spec.unless), tuple(ctx.hits)) for h in ctx.hits[rid] if h.turn is not None}


def vetoing_rules(spec: RuleSpec, ctx: InspectionContext, turn: int) -> list[str]:
    """The rules of `spec.unless` with a hit on `turn` (what a trace says vetoed it)."""
    return [rid for rid in _matching_ids(tuple(spec.unless), tuple(ctx.hits)) if any(h.turn == turn for h in ctx.hits[rid])]


OPERATORS: dict[str, type[RuleOperator]] = {}


def register(name: str):
    def wrap(cls: type[RuleOperator]) -> type[RuleOperator]:
        if name in OPERATORS:
            raise ValueError(f"operator {name!r} registered twice")
        cls.name = name
        OPERATORS[name] = cls
        return cls

    return wrap


def select_turns(spec: RuleSpec, ctx: InspectionContext) -> list[TurnView]:
    """Turns of the rule's roles inside its scope."""
    turns = ctx.turns_of(tuple(spec.roles))
    scope = spec.scope
    if scope.first_turns:
        turns = turns[: scope.first_turns]
    if scope.last_turns:
        turns = turns[-scope.last_turns :]
    if scope.first_seconds is not None:
        turns = [t for t in turns if t.turn.start is not None and t.turn.start < scope.first_seconds]
    if scope.last_seconds is not None:
        ends = [t.turn.end for t in ctx.turns if t.turn.end is not None]
        total = max(ends) if ends else None
        turns = [t for t in turns if total is not None and t.turn.end is not None and t.turn.end > total - scope.last_seconds]
    if scope.near:
        anchors = {h.turn for h in ctx.hits.get(scope.near.rule, []) if h.turn is not None}
        turns = [t for t in turns if any(abs(t.index - a) <= scope.near.turns for a in anchors)]
    return turns
