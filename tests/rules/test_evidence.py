"""Hits are immutable and carry structured evidence (what matched), from which their prose is rendered."""

from __future__ import annotations

import pytest
from conftest import chat
from pydantic import ValidationError

from qa_engine.rules.similar import because
from qa_engine.schema import Hit, Result
from qa_engine.text.normalize import normalize


def _hits(inspector, *turns) -> list[Hit]:
    return inspector.inspect(chat(*turns)).hits


def test_a_hit_cannot_be_changed_after_it_is_made(inspector):
    hit = _hits(inspector, ("agent", "您好，请问有什么可以帮您"))[0]
    with pytest.raises(ValidationError):
        hit.explanation = "changed"
    with pytest.raises(ValidationError):
        hit.severity = "critical"
    copy = hit.model_copy(update={"explanation": hit.explanation + "（注）"})
    assert copy.explanation.endswith("（注）") and not hit.explanation.endswith("（注）")


def test_phrase_and_pattern_evidence_name_what_matched(inspector):
    hits = {h.rule_id: h for h in _hits(inspector, ("agent", "您好，请稍等"), ("agent", "这不是我们的问题"),
                                         ("agent", "这是你自己的问题"))}
    greeting = hits["politeness.greeting"].evidence
    assert greeting.kind == "phrase" and greeting.operator in ("keyword", "phrase")
    assert greeting.phrases == [normalize(hits["politeness.greeting"].text).text]
    assert greeting.word_list.endswith(".txt") and greeting.word_boundary
    deflect = hits["forbidden.deflect"].evidence
    assert deflect.kind == "phrase" and deflect.phrases == ["不是我们的问题"]
    blame = hits["forbidden.blame_pattern"].evidence  # the pattern that matched, as written in its file
    assert blame.kind == "pattern" and blame.operator == "regex"
    import re

    assert re.search(blame.pattern, "这是你自己的问题").group() == "这是你自己的问题"


def test_model_evidence_has_probability_and_threshold_and_renders_the_prose(inspector):
    # a paraphrase no phrase list holds: only the model finds it (tests/ml/test_forbidden_classifier.py)
    hits = [h for h in _hits(inspector, ("customer", "我的快递怎么还没到"), ("agent", "您好，订单我看到了，这种事您自己跟卖家掰扯去，我们平台不掺和。"))
            if h.evidence is not None and h.evidence.kind == "model"]
    assert hits, "the forbidden model found nothing"
    for h in hits:
        ev = h.evidence
        assert ev.probability >= ev.threshold and h.score == pytest.approx(min(1.0, ev.probability))
        assert f"模型 {ev.model}：违规概率 {ev.probability:.2f}" in h.explanation
        assert ev.category is not None and ev.category_probability is not None and ev.span in ("clause", "turn")


def test_boolean_and_emotion_evidence(inspector):
    hits = {h.rule_id: h for h in _hits(inspector, ("customer", "你们太过分了，气死我了"), ("agent", "请提供订单号"))}
    missing = hits["empathy.missing_when_upset"].evidence
    assert missing.kind == "boolean" and "emotion.customer_negative@0" in missing.combined
    assert "emotion.customer_negative" in missing.all and "empathy.phrase" in missing.none
    upset = hits["emotion.customer_negative"].evidence
    assert upset.kind == "emotion" and upset.polarity == "negative" and upset.confidence >= upset.min_confidence
    assert upset.scorer == inspector.emotion_scorer.source


def test_signal_evidence_renders_the_prose(inspector):
    item = chat(("agent", "您好"), ("customer", "我的订单呢"), ("agent", "马上为您查询"), channel="call")
    timed = item.model_copy(update={"turns": [t.model_copy(update={"start": s, "end": e})
                                              for t, (s, e) in zip(item.turns, [(0, 1), (1.5, 3), (20, 22)])]})
    silence = [h for h in inspector.inspect(timed).hits if h.evidence is not None and h.evidence.kind == "signal"
               and h.evidence.measure == "silence_s"]
    assert silence, "no silence hit"
    ev = silence[0].evidence
    assert ev.value == pytest.approx(17.0) and ev.value > ev.limit
    assert silence[0].explanation.startswith(f"静默 {ev.value:.1f} 秒") and silence[0].time == (3, 20)


def test_exemplar_prose_is_rendered_from_its_evidence():
    from qa_engine.schema import ExemplarEvidence

    ev = ExemplarEvidence(operator="similar", exemplar="这个不归我们管", similarity=0.934, threshold=0.9)
    assert because(ev) == "与范例「这个不归我们管」语义相似度 0.93"


def test_results_with_evidence_round_trip_through_json(inspector):
    result = inspector.inspect(chat(("agent", "您好"), ("agent", "这不是我们的问题"), ("customer", "气死我了")))
    assert all(h.evidence is not None for h in result.hits)
    again = Result.model_validate_json(result.model_dump_json())
    assert again == result and [type(h.evidence) for h in again.hits] == [type(h.evidence) for h in result.hits]
