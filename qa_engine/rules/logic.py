"""Operators over other rules' hits: boolean and/or/not, and model output (emotion)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from qa_engine.context import InspectionContext, TurnView
from qa_engine.rules.base import RuleOperator, register, rule_matches
from qa_engine.schema import BooleanEvidence, EmotionEvidence, EmotionLabel, Hit, Polarity

__all__ = ["BooleanOperator", "EmotionOperator", "rule_matches"]


@register("boolean")
class BooleanOperator(RuleOperator):
    """Hit when every `all` rule, at least one `any` rule (if given) and no `none` rule has hits,
    per turn (`within: turn`) or over the whole interaction."""

    params: Params

    class Params(RuleOperator.Params):
        all: list[str] = Field(default_factory=list)
        any: list[str] = Field(default_factory=list)
        none: list[str] = Field(default_factory=list)
        within: Literal["turn", "interaction"] = "interaction"

        @model_validator(mode="after")
        def _not_empty(self):
            if not (self.all or self.any or self.none):
                raise ValueError("boolean rule needs at least one of all / any / none")
            return self

    def depends_on(self) -> list[str]:
        p = self.params
        return super().depends_on() + p.all + p.any + p.none

    def _hits(self, ctx: InspectionContext, ref: str, turn: int | None) -> list[Hit]:
        return [h for rid, hits in ctx.hits.items() if rule_matches(ref, rid) for h in hits if turn is None or h.turn == turn]

    def _holds(self, ctx: InspectionContext, turn: int | None) -> list[Hit] | None:
        p = self.params
        evidence: list[Hit] = []
        for ref in p.all:
            found = self._hits(ctx, ref, turn)
            if not found:
                return None
            evidence += found
        if p.any:
            found = [h for ref in p.any for h in self._hits(ctx, ref, turn)]
            if not found:
                return None
            evidence += found
        if any(self._hits(ctx, ref, turn) for ref in p.none):
            return None
        return evidence

    def _explain(self, evidence: list[Hit]) -> str:
        cited = "；".join(f"{h.rule_id}@{h.turn}「{h.text}」" if h.text else f"{h.rule_id}@{h.turn}" for h in evidence[:5])
        return self.spec.explanation.format(text=cited, turn=None, role=None) + (f"（依据：{cited}）" if cited else "")

    def _evidence(self, combined: list[Hit]) -> BooleanEvidence:
        p = self.params
        return BooleanEvidence(
            operator=self.name,
            all=p.all,
            any=p.any,
            none=p.none,
            within=p.within,
            combined=[f"{h.rule_id}@{h.turn}" for h in combined],
        )

    def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
        if self.params.within == "interaction":
            combined = self._holds(ctx, None)
            if combined is None:
                return []
            return [self.interaction_hit(self._explain(combined), evidence=self._evidence(combined))]
        hits = []
        for view in turns:
            combined = self._holds(ctx, view.index)
            if combined is not None:
                hits.append(self.turn_hit(view, evidence=self._evidence(combined), prose=self._explain(combined)))
        return hits


@register("emotion")
class EmotionOperator(RuleOperator):
    """Turns whose emotion (from the selected emotion scorer) has one of `labels` or `polarities`."""

    params: Params

    class Params(RuleOperator.Params):
        labels: list[EmotionLabel] = Field(default_factory=list)
        polarities: list[Polarity] = Field(default_factory=list)
        min_confidence: float = Field(default=0.5, ge=0, le=1)

    def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
        selected = {v.index for v in turns}
        hits = []
        for emo in ctx.emotions:
            if emo.turn not in selected:
                continue
            wanted = emo.label in self.params.labels or emo.polarity in self.params.polarities
            if ctx.trace is not None and wanted:
                sure = emo.confidence >= self.params.min_confidence
                ctx.trace.note(
                    self.spec.id,
                    emo.turn,
                    "emotion",
                    sure,
                    f"{emo.label} ({emo.polarity}) confidence {emo.confidence:.2f} "
                    f"{'>=' if sure else '<'} min_confidence {self.params.min_confidence:.2f}",
                )
            if emo.confidence < self.params.min_confidence:
                continue
            if wanted:
                evidence = EmotionEvidence(
                    operator=self.name,
                    scorer=ctx.emotion_source,
                    label=emo.label,
                    polarity=emo.polarity,
                    confidence=emo.confidence,
                    min_confidence=self.params.min_confidence,
                )
                prose = self.spec.explanation.format(text=evidence.label, turn=emo.turn, role=emo.role)
                hits.append(self.turn_hit(ctx.turns[emo.turn], score=emo.confidence, evidence=evidence, prose=prose))
        return hits
