"""The `similar` operator: paraphrase matching against exemplar sentences with sentence embeddings.

Each agent clause (a turn split at sentence punctuation) is embedded once per interaction by the
ONNX e5 model and compared with the rule's exemplars (embedded once when the rule loads). A clause
whose cosine similarity to an exemplar reaches `threshold` is a hit; the explanation names the
exemplar and the similarity, and the hit's score is the similarity.
"""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from qa_engine.context import InspectionContext, TurnView
from qa_engine.rules.base import Resources, RuleOperator, RuleSpec, register
from qa_engine.schema import ExemplarEvidence, Hit
from qa_engine.text.lexicon import LexiconError, read_entries
from qa_engine.text.normalize import normalize

_CLAUSE = re.compile(r"[^,。!?;~\n…]+")


def clauses(text: str, min_chars: int) -> list[tuple[int, int]]:
    """Spans of the clauses of a normalised text (stripped), ignoring very short ones."""
    spans = []
    for m in _CLAUSE.finditer(text):
        start, end = m.start(), m.end()
        while start < end and text[start] == " ":
            start += 1
        while end > start and text[end - 1] == " ":
            end -= 1
        if end - start >= min_chars:
            spans.append((start, end))
    return spans


@register("similar")
class SimilarOperator(RuleOperator):
    params: Params

    class Params(RuleOperator.Params):
        exemplars: list[str] = Field(default_factory=list)
        exemplars_file: str | None = None
        threshold: float = Field(default=0.9, gt=0, le=1)
        # Harmless look-alikes (a polite referral looks like 推诿): a clause closer to one of these
        # than to every exemplar (plus `margin`) is not a hit.
        negatives_file: str | None = None
        margin: float = Field(default=0.0, ge=0, le=1)
        min_chars: int = Field(default=4, ge=1, description="shorter clauses are not compared")

        @model_validator(mode="after")
        def _has_exemplars(self):
            if not self.exemplars and not self.exemplars_file:
                raise ValueError("similar rule needs `exemplars` or `exemplars_file`")
            return self

    def __init__(self, spec: RuleSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        texts = list(self.params.exemplars)
        if self.params.exemplars_file:
            texts += read_entries(resources.words_path(self.params.exemplars_file))
        self.exemplars = [normalize(t).text for t in dict.fromkeys(texts)]
        if not self.exemplars:
            raise LexiconError(f"rule {spec.id}: no exemplars")
        self.embedder = resources.embedder()
        self.exemplar_vectors = self.embedder.embed(self.exemplars)  # (n, d), L2-normalised
        self.negative_vectors = None
        if self.params.negatives_file:
            negatives = [normalize(t).text for t in read_entries(resources.words_path(self.params.negatives_file))]
            self.negative_vectors = self.embedder.embed(negatives)

    def cache_clear(self) -> None:
        self.embedder.cache_clear()

    def _trace_clause(self, trace, view: TurnView, s: int, e: int, j: int, score: float, negative: float | None) -> None:
        said = f"「{view.text[s:e]}」 closest exemplar 「{self.exemplars[j]}」 similarity {score:.2f}"
        if negative is not None and negative + self.params.margin >= score:
            trace.note(
                self.spec.id,
                view.index,
                "exemplar",
                False,
                f"{said}, but a look-alike is as close ({negative:.2f}, margin {self.params.margin:g})",
            )
        else:
            kept = score >= self.params.threshold
            trace.note(
                self.spec.id,
                view.index,
                "exemplar",
                kept,
                f"{said} {'>=' if kept else '<'} threshold {self.params.threshold:.2f}",
            )

    def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
        spans = [(view, s, e) for view in turns for s, e in clauses(view.text, self.params.min_chars)]
        if not spans:
            return []
        vectors = self.embedder.embed([view.text[s:e] for view, s, e in spans])
        sims = vectors @ self.exemplar_vectors.T
        best = sims.argmax(axis=1)
        negative = (vectors @ self.negative_vectors.T).max(axis=1) if self.negative_vectors is not None else None
        hits = []
        for n, ((view, s, e), j, row) in enumerate(zip(spans, best, sims)):
            score = float(row[j])
            if ctx.trace is not None:
                self._trace_clause(ctx.trace, view, s, e, j, score, None if negative is None else float(negative[n]))
            if negative is not None and negative[n] + self.params.margin >= score:
                continue
            if score >= self.params.threshold:
                evidence = ExemplarEvidence(
                    operator=self.name, exemplar=self.exemplars[j], similarity=score, threshold=self.params.threshold
                )
                hits.append(
                    self.turn_hit(view, s, e, score=min(1.0, max(0.0, score)), evidence=evidence, detail=because(evidence))
                )
        return hits


def because(evidence: ExemplarEvidence) -> str:
    """The hit's prose detail, rendered from its evidence."""
    return f"与范例「{evidence.exemplar}」语义相似度 {evidence.similarity:.2f}"


__all__ = ["SimilarOperator", "because", "clauses"]
