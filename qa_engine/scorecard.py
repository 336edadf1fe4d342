"""Scorecards: how hits become dimension scores, a 0-100 score and a red/yellow/green flag.

One YAML scorecard per channel under ``lexicons/scorecards``. Each dimension starts at 100 and
loses points for the rules listed under `rules` (per hit, capped, or once when a required rule has
no hit), for a low share of agent turns showing it (`turn_rates`), for missing or out-of-order
script steps, and for emotion. The optional dimension `customer_outcome` scores the predicted
customer satisfaction (result.satisfaction): 100 at +2, 50 at 0, 0 at -2 on the STC-3 scale, and
`customer_outcome.dissatisfied_deduct` more points when the model says dissatisfied (probability >=
0.5); it is absent from the default cards (a contact centre adds it with a weight). A critical rule (一票否决) sets the score to 0 and the flag to red.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qa_engine.rulepack import RulePackError, read_yaml
from qa_engine.schema import (
    DIMENSIONS,
    DimensionScore,
    EmotionResult,
    Hit,
    SatisfactionResult,
    ScriptResult,
    ScriptStep,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DimensionConfig(_Strict):
    weight: float = Field(ge=0)


class RuleScoring(_Strict):
    deduct: float = Field(default=0, ge=0, le=100)
    max_deduct: float = Field(default=100, ge=0, le=100)
    require: bool = False  # deduct once when the rule has no hit at all
    critical: bool = False


class TurnRate(_Strict):
    min: float = Field(ge=0, le=1)
    deduct: float = Field(ge=0, le=100)
    role: Literal["agent", "customer"] = "agent"


class ScriptConfig(_Strict):
    steps: dict[str, str] = Field(default_factory=dict, description="step name -> rule id, in required order")
    required: list[str] = Field(default_factory=list)
    deduct_missing: float = Field(default=15, ge=0, le=100)
    deduct_order: float = Field(default=10, ge=0, le=100)

    @model_validator(mode="after")
    def _required_known(self):
        unknown = set(self.required) - set(self.steps)
        if unknown:
            raise ValueError(f"required script steps not in steps: {sorted(unknown)}")
        return self


class EmotionConfig(_Strict):
    customer_end_negative_deduct: float = Field(default=30, ge=0, le=100)


class CustomerOutcomeConfig(_Strict):
    dissatisfied_deduct: float = Field(default=0, ge=0, le=100)


class FlagConfig(_Strict):
    red_below: float = Field(default=60, ge=0, le=100)
    yellow_below: float = Field(default=80, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self):
        if self.red_below > self.yellow_below:
            raise ValueError("red_below must not exceed yellow_below")
        return self


class Scorecard(_Strict):
    name: str
    version: str = "0"
    channel: Literal["call", "chat"]
    description: str = ""
    flags: FlagConfig = Field(default_factory=FlagConfig)
    dimensions: dict[str, DimensionConfig]
    rules: dict[str, RuleScoring] = Field(default_factory=dict)
    turn_rates: dict[str, TurnRate] = Field(default_factory=dict)
    script: ScriptConfig = Field(default_factory=ScriptConfig)
    emotion: EmotionConfig = Field(default_factory=EmotionConfig)
    customer_outcome: CustomerOutcomeConfig = Field(default_factory=CustomerOutcomeConfig)

    @model_validator(mode="after")
    def _dimensions(self):
        missing = [d for d in DIMENSIONS[:5] if d not in self.dimensions]
        if missing:
            raise ValueError(f"scorecard lacks dimensions {missing}")
        unknown = [d for d in self.dimensions if d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown dimensions {unknown}; known: {', '.join(DIMENSIONS)}")
        if sum(d.weight for d in self.dimensions.values()) <= 0:
            raise ValueError("dimension weights sum to zero")
        return self

    @classmethod
    def load(cls, path: Path) -> Scorecard:
        try:
            return cls.model_validate(read_yaml(path))
        except ValidationError as exc:
            msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise RulePackError(f"{path.name}: {msg}") from exc

    def check_rules(self, rule_ids: list[str], model_rules: set[str] | frozenset[str] = frozenset()) -> None:
        """Every rule the card names exists; none of `model_rules` (rules whose only evidence is a
        model's probability: the classifier operator) is critical, so a model-only hit never zeroes a score."""
        known = set(rule_ids)
        unknown = (set(self.rules) | set(self.script.steps.values())) - known
        if unknown:
            raise RulePackError(f"scorecard {self.name}: unknown rules {sorted(unknown)}")
        critical = sorted(r for r, cfg in self.rules.items() if cfg.critical and r in model_rules)
        if critical:
            raise RulePackError(f"scorecard {self.name}: model rules may not be critical (一票否决): {critical}")

    def check_satisfaction(self, available: bool) -> None:
        """A card that scores customer_outcome needs the satisfaction model (settings.satisfaction)."""
        if "customer_outcome" in self.dimensions and not available:
            raise RulePackError(
                f"scorecard {self.name}: dimension customer_outcome needs the satisfaction model (QA_SATISFACTION=true)"
            )

    # --- scoring -----------------------------------------------------------------------------

    def script_result(self, hits: dict[str, list[Hit]]) -> ScriptResult:
        steps: dict[str, ScriptStep] = {}
        for name, rule_id in self.script.steps.items():
            turns = [h.turn for h in hits.get(rule_id, []) if h.turn is not None]
            steps[name] = ScriptStep(present=bool(turns), turn=min(turns) if turns else None)
        order = [s.turn for s in steps.values() if s.turn is not None]
        return ScriptResult(steps=steps, order_ok=order == sorted(order))

    def score(
        self,
        hits: dict[str, list[Hit]],
        script: ScriptResult,
        emotion: EmotionResult,
        turn_roles: Sequence[str],
        rule_dimensions: dict[str, str],
        satisfaction: SatisfactionResult | None = None,
    ) -> tuple[dict[str, DimensionScore], float, str, list[str]]:
        lost: dict[str, list[tuple[float, str]]] = {d: [] for d in self.dimensions}
        critical: list[str] = []

        for rule_id, cfg in self.rules.items():
            rule_hits = hits.get(rule_id, [])
            dim = rule_dimensions.get(rule_id, "")
            if dim not in lost:
                continue
            if cfg.critical and rule_hits:
                critical.append(rule_id)
            if cfg.require and not rule_hits:
                lost[dim].append((cfg.deduct, f"{rule_id}: 未出现 (-{cfg.deduct:g})"))
            elif not cfg.require and rule_hits and cfg.deduct:
                points = min(cfg.deduct * len(rule_hits), cfg.max_deduct)
                lost[dim].append((points, f"{rule_id}: {len(rule_hits)} 处 (-{points:g})"))

        for dim, rate_cfg in self.turn_rates.items():
            if dim not in lost:
                continue
            role_turns = [i for i, r in enumerate(turn_roles) if r == rate_cfg.role]
            if not role_turns:
                continue
            showing = {h.turn for hs in hits.values() for h in hs if h.dimension == dim and h.turn is not None}
            rate = len(showing & set(role_turns)) / len(role_turns)
            if rate < rate_cfg.min:
                lost[dim].append((rate_cfg.deduct, f"{dim} 使用率 {rate:.0%} 低于 {rate_cfg.min:.0%} (-{rate_cfg.deduct:g})"))

        if "script_compliance" in lost:
            for name in self.script.required:
                if not script.steps[name].present:
                    lost["script_compliance"].append(
                        (self.script.deduct_missing, f"{MISSING_STEP}{name} (-{self.script.deduct_missing:g})")
                    )
            if not script.order_ok:
                lost["script_compliance"].append((self.script.deduct_order, f"话术顺序错误 (-{self.script.deduct_order:g})"))

        if "emotion" in lost:
            if emotion.customer_end == "negative":
                d = self.emotion.customer_end_negative_deduct
                lost["emotion"].append((d, f"客户结束时情绪仍为负面 (-{d:g})"))

        if "customer_outcome" in lost and satisfaction is not None:
            below = round(100 * (2 - satisfaction.predicted) / 4, 1)
            if below:
                lost["customer_outcome"].append((below, f"预测客户满意度 {satisfaction.predicted:+.2f}（-2..2，-{below:g}）"))
            d = self.customer_outcome.dissatisfied_deduct
            if d and satisfaction.dissatisfied >= 0.5:
                lost["customer_outcome"].append((d, f"预测客户不满意（概率 {satisfaction.dissatisfied:.0%}，-{d:g}）"))

        dimensions = {
            dim: DimensionScore(
                score=max(0.0, 100.0 - sum(p for p, _ in lost[dim])),
                weight=cfg.weight,
                deductions=[why for _, why in lost[dim]],
            )
            for dim, cfg in self.dimensions.items()
        }
        total_weight = sum(d.weight for d in dimensions.values())
        score = round(sum(d.score * d.weight for d in dimensions.values()) / total_weight, 1)
        if critical:
            score = 0.0
        flag = "red" if critical or score < self.flags.red_below else "yellow" if score < self.flags.yellow_below else "green"
        return dimensions, score, flag, critical


MISSING_STEP = "缺少话术环节 "  # a deduction for a required step not found: MISSING_STEP + step name + points


def missing_steps(deductions: list[str]) -> list[str]:
    """The required script steps a run deducted points for (from its script_compliance deductions)."""
    return [d[len(MISSING_STEP) :].split(" ", 1)[0] for d in deductions if d.startswith(MISSING_STEP)]


def load_scorecards(directory: Path) -> dict[str, Scorecard]:
    """One scorecard per channel from `<dir>/<channel>.yaml`."""
    cards: dict[str, Scorecard] = {}
    for channel in ("call", "chat"):
        card = Scorecard.load(directory / f"{channel}.yaml")
        if card.channel != channel:
            raise RulePackError(f"{channel}.yaml declares channel {card.channel!r}")
        cards[channel] = card
    return cards
