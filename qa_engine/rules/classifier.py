"""The `classifier` operator: an ONNX turn classifier (models/forbidden_ngram by default, the fine-tuned
models/forbidden_e5, or models/empathy_ngram in the `empathy` pack) as a rule.

All turns the rule selects are classified in one batch per interaction (the model and its
prediction cache are shared by every rule naming it, so five per-category rules cost one model call
per turn). The model reads the turn's own text (see model_inputs). A turn whose violation probability reaches the threshold is a hit when its most likely
category is one of the rule's `categories`. The hit's span is the clause the model scores highest
when that clause alone reaches the threshold, else the whole turn; its score is the probability and
the explanation names the model, the probability and the category. A classifier rule is never severity
critical, and a scorecard may not mark it critical (Scorecard.check_rules): a model-only hit is
evidence to review, never 一票否决. What the probability is of comes
from the model's labels.json (`label_zh`, default 违规: "模型 forbidden_ngram：违规概率 0.91，类别 推诿 0.80";
"模型 empathy_ngram：同理心概率 0.87"); a one-category model names no category.
"""

from __future__ import annotations

from pydantic import Field

from qa_engine.context import InspectionContext, TurnView
from qa_engine.ml.text_cache import Staged
from qa_engine.rules.base import Resources, RuleOperator, RuleSpec, register, vetoed_turns, vetoing_rules
from qa_engine.rules.similar import clauses
from qa_engine.schema import Hit, ModelEvidence
from qa_engine.text.normalize import to_simplified

PREFETCH_BATCH = 256  # texts per onnxruntime call when many interactions are scored at once

CATEGORY_NAMES = {
    "deflect": "推诿",
    "impatience": "不耐烦",
    "blame": "指责",
    "mock_insult": "嘲讽/辱骂",
    "improper_promise": "违规承诺",
}


@register("classifier")
class ClassifierOperator(RuleOperator):
    model_backed = True

    params: Params

    class Params(RuleOperator.Params):
        model: str = Field(default="forbidden_ngram", description="folder under models_dir, or a path")
        threshold: float | None = Field(default=None, gt=0, lt=1, description="default: the model's labels.json")
        categories: list[str] | None = Field(default=None, description="hit only for these top categories (default all)")
        min_chars: int = Field(default=4, ge=1, description="shorter turns are not classified")
        # Turns longer than this are also read in overlapping windows (the model reads at most
        # max_length tokens, so a violation at the end of a long turn would be cut off).
        long_turn_chars: int = Field(default=80, ge=16)

    def __init__(self, spec: RuleSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        if spec.severity == "critical":  # a probability is evidence, not proof: never 一票否决 on its own
            raise ValueError(f"rule {spec.id}: a classifier rule may not be severity critical (major at most)")
        self.model = resources.turn_classifier(self.params.model)
        self.threshold = self.params.threshold if self.params.threshold is not None else self.model.threshold
        unknown = set(self.params.categories or ()) - set(self.model.categories)
        if unknown:
            raise ValueError(
                f"rule {spec.id}: categories {sorted(unknown)} not in model {self.model.name} "
                f"({', '.join(self.model.categories)})"
            )
        self.wanted = {self.model.categories.index(c) for c in self.params.categories or self.model.categories}

    def cache_clear(self) -> None:
        self.model.cache_clear()

    def stage(self, contexts: list[InspectionContext], done: set) -> Staged | None:
        """The model work for the turns this rule may read in many interactions at once
        (Inspector.inspect_many), so that evaluate() finds them in the model's cache. A superset: every
        turn of the rule's roles long enough to classify, whatever its scope or `unless` rules decide
        later. `done` holds what other rules staged in this round: the per-category rules share one
        model and one input."""
        key = (
            "classifier",
            self.model.name,
            tuple(self.spec.roles),
            tuple(self.spec.channels),
            self.params.min_chars,
            self.params.long_turn_chars,
        )
        if self.model.cache_size == 0 or key in done:
            return None
        done.add(key)
        texts = [
            t for ctx in contexts for v in ctx.turns_of(tuple(self.spec.roles)) if self._classifiable(v) for t in self._inputs(v)
        ]
        return self.model.stage(texts, batch_size=PREFETCH_BATCH) if texts else None

    # stage and evaluate must agree on which turns are read and as what texts, or the cache misses
    def _classifiable(self, view: TurnView) -> bool:
        return len(view.text.strip()) >= self.params.min_chars

    def _inputs(self, view: TurnView) -> list[str]:
        return model_windows(view.simplified.strip(), self.params.long_turn_chars)

    def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
        skip = vetoed_turns(self.spec, ctx)  # `unless` (every rule's veto): not even classified
        if ctx.trace is not None:
            for v in turns:
                if v.index in skip:
                    ctx.trace.note(
                        self.spec.id,
                        v.index,
                        "unless",
                        False,
                        f"vetoed by {', '.join(vetoing_rules(self.spec, ctx, v.index))} (unless); not classified",
                    )
        todo = [v for v in turns if v.index not in skip and self._classifiable(v)]
        if not todo:
            return []
        # first batch: every turn, plus windows of long turns (the model reads max_length tokens);
        # a turn's score is kept for the interaction, so the other rules naming this model reuse it
        turn_scores = ctx.memo.setdefault(("classifier", self.model.name, self.params.long_turn_chars), {})
        new = [v for v in todo if v.index not in turn_scores]
        if new:
            inputs = {v.index: self._inputs(v) for v in new}
            scores = self._scores([t for v in new for t in inputs[v.index]])
            for v in new:
                turn_scores[v.index] = max((scores[t] for t in inputs[v.index]), key=lambda x: x[0])
        found = []
        for v in todo:
            prob, cat = turn_scores[v.index]
            if prob >= self.threshold and int(cat.argmax()) in self.wanted:
                found.append((v, prob, cat))
            if ctx.trace is not None:
                self._trace_turn(ctx.trace, v.index, prob, cat)
        # second batch, hits only: their clauses, to point at the violating one
        parts = {v.index: self._clause_spans(v) for v, _, _ in found}
        scores = self._scores([v.text[s:e] for v, _, _ in found for s, e in parts[v.index]])
        hits = []
        for v, prob, cat in found:
            best = max(((scores[v.text[s:e]][0], s, e) for s, e in parts[v.index]), default=None)
            on_clause = best is not None and best[0] >= self.threshold
            start, end = (best[1], best[2]) if on_clause and best is not None else _strip(v.text)
            evidence = self._evidence(prob, cat, "clause" if on_clause else "turn")
            hits.append(
                self.turn_hit(
                    v, start, end, score=float(min(1.0, max(0.0, prob))), evidence=evidence, detail=self._because(evidence)
                )
            )
        return hits

    def _evidence(self, prob: float, cat, span: str) -> ModelEvidence:
        several = len(self.model.categories) >= 2  # a one-category model names no category
        return ModelEvidence(
            operator=self.name,
            model=self.model.name,
            probability=prob,
            threshold=self.threshold,
            category=self.model.categories[int(cat.argmax())] if several else None,
            category_probability=float(cat.max()) if several else None,
            span=span,
        )

    def _trace_turn(self, trace, turn: int, prob: float, cat) -> None:
        evidence = self._evidence(prob, cat, "turn")
        said = self._because(evidence)
        if prob < self.threshold:
            trace.note(self.spec.id, turn, "model", False, f"{said} < threshold {self.threshold:.2f}")
        elif int(cat.argmax()) not in self.wanted:
            trace.note(
                self.spec.id,
                turn,
                "model",
                False,
                f"{said} >= threshold {self.threshold:.2f}, "
                f"but category {evidence.category} is not one of {self.params.categories}",
            )
        else:
            trace.note(self.spec.id, turn, "model", True, f"{said} >= threshold {self.threshold:.2f}")

    def _because(self, evidence: ModelEvidence) -> str:
        """The hit's prose detail, rendered from its evidence."""
        said = f"模型 {evidence.model}：{self.model.label_zh}概率 {evidence.probability:.2f}"
        if evidence.category is None:
            return said
        zh = self.model.categories_zh.get(evidence.category) or CATEGORY_NAMES.get(evidence.category, evidence.category)
        return f"{said}，类别 {zh} {evidence.category_probability:.2f}"

    def _scores(self, texts: list[str]) -> dict:
        if not texts:
            return {}
        # the cached (probability, categories) as they are: stacking them into arrays (predict) only
        # to take them apart again was most of this rule's cost on a cached turn
        return dict(zip(texts, self.model.values(texts)))

    def _clause_spans(self, view: TurnView) -> list[tuple[int, int]]:
        spans = clauses(view.text, self.params.min_chars)
        return spans if len(spans) > 1 else []


def model_inputs(text: str, long_chars: int, window: int = 64, stride: int = 48) -> list[str]:
    """What the model reads for one turn: the text as it was trained on (Traditional -> Simplified
    only; the engine's whitespace normalisation joins JD agents' space-separated sentences, which the
    model never saw), plus overlapping windows when the turn is longer than `long_chars`."""
    return model_windows(to_simplified(text).strip(), long_chars, window, stride)


def model_windows(text: str, long_chars: int, window: int = 64, stride: int = 48) -> list[str]:
    """model_inputs of a text already converted to Simplified and stripped (TurnView.simplified)."""
    out = [text]
    if len(text) > long_chars:
        out += [text[i : i + window] for i in range(stride, len(text) - window // 2, stride)]
    return out


def _strip(text: str) -> tuple[int, int]:
    start, end = 0, len(text)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


__all__ = ["ClassifierOperator", "CATEGORY_NAMES"]
