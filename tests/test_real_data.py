"""The engine on real data: the 800 JD chat sessions and the ground truth of the test calls."""

from __future__ import annotations

import json

import pytest

from conftest import SHARED, rule_ids
from qa_datasets.jddc import chat_dev_path, load_sessions
from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.io import RecordError
from qa_engine.schema import Interaction, Result

CALLS = SHARED / "audio" / "calls"


@pytest.fixture(scope="module")
def sessions():
    if not chat_dev_path().is_file():
        pytest.fail(f"JDDC sample missing at {chat_dev_path()}: the real-data tests need ../shared")
    return load_sessions()


def test_all_800_jd_sessions_score(inspector, sessions):
    assert len(sessions) == 800
    results = [inspector.inspect(Interaction.model_validate(s)) for s in sessions]
    assert len(results) == 800
    assert all(0 <= r.score <= 100 and r.flag in {"green", "yellow", "red"} for r in results)
    # Real agents are polite most of the time: most sessions show politeness, few are insulting.
    polite = sum(1 for r in results if r.stats.polite_turns > 0)
    critical = sum(1 for r in results if r.critical)
    assert polite > 0.6 * len(results), polite
    assert critical < 0.05 * len(results), critical
    for r, s in zip(results[:100], sessions[:100]):
        for h in r.hits:
            if h.start is not None:
                assert s["turns"][h.turn]["text"][h.start : h.end] == h.text


def rounded(result: Result) -> dict:
    """A result with the models' floats to 4 places (a large batch pads texts differently: last-digit noise)."""
    data = result.model_dump()
    for turn in data["emotion"]["turns"]:
        turn["confidence"] = round(turn["confidence"], 4)
    for hit in data["hits"]:
        hit["score"] = round(hit["score"], 4)
        evidence = hit["evidence"] or {}
        for key in ("probability", "category_probability", "confidence", "similarity"):
            if evidence.get(key) is not None:
                evidence[key] = round(evidence[key], 4)
    return data


def test_inspect_many_gives_the_results_of_inspect_in_order(inspector, sessions):
    items = [Interaction.model_validate(s) for s in sessions[:60]]
    bad_line = RecordError(3, "invalid JSON")  # what a reader passes on for a broken record
    audio_only = Interaction(interaction_id="not-transcribed", channel="call", audio_path="x.wav")
    stream = [*items[:10], bad_line, *items[10:30], audio_only, *items[30:]]
    # its own Inspector: its model caches are filled by its prefetches, not by the inspect calls below
    out = list(Inspector(Settings()).inspect_many(stream, chunk_size=7))  # 9 chunks, 2 of them holding the odd items
    assert len(out) == len(stream)
    assert out[10] is bad_line
    assert isinstance(out[31], ValueError) and str(out[31]).startswith("not-transcribed: no turns to inspect")
    results = out[:10] + out[11:31] + out[32:]
    assert [r.interaction_id for r in results] == [i.interaction_id for i in items]
    for got, item in zip(results, items, strict=True):
        assert rounded(got) == rounded(inspector.inspect(item)), item.interaction_id


def load_call(name: str) -> Interaction:
    data = json.loads((CALLS / f"{name}.json").read_text(encoding="utf-8"))
    return Interaction.model_validate(data)


def test_call_bad_ground_truth(inspector):
    result = inspector.inspect(load_call("call_bad"))
    silence = [h for h in result.hits if h.rule_id == "signals.silence"]
    assert len(silence) == 1 and silence[0].turn == 4
    assert silence[0].time == pytest.approx((13.31, 20.31))
    assert {"forbidden.deflect", "forbidden.impatience"} <= rule_ids(result)
    assert result.flag == "red"
    assert result.stats.silence_max_s == pytest.approx(7.0)


def test_call_mixed_interruption_ground_truth(inspector):
    result = inspector.inspect(load_call("call_mixed"))
    cut = [h for h in result.hits if h.rule_id == "signals.customer_interruption"]
    assert len(cut) == 1 and cut[0].turn == 1
    assert cut[0].time == pytest.approx((2.01, 2.41))
    assert result.stats.interruptions == 1


def test_call_good_is_green(inspector):
    result = inspector.inspect(load_call("call_good"))
    assert result.flag == "green", [d for v in result.dimensions.values() for d in v.deductions]
    assert not [h for h in result.hits if h.dimension == "forbidden_words"]


def test_regex_prefilter_never_skips_a_match(inspector, sessions):
    """The regex rules skip a pattern on turns missing one of its required characters
    (rules.text.required_chars); on the real sessions and the labelled set (written violations and
    paraphrases included) that must give exactly the hits of running every pattern on every turn."""
    from qa_datasets.labelled_set import load_labelled
    from qa_engine.context import InspectionContext
    from qa_engine.rules import select_turns

    texts = [t["text"] for s in sessions for t in s["turns"] if t["role"] == "agent"]
    texts += [item["text"] for item in load_labelled()]
    turns = [{"role": "agent", "text": t} for t in texts if t.strip()]
    interactions = [Interaction(interaction_id=f"r{i}", channel="chat", turns=turns[i:i + 50])
                    for i in range(0, len(turns), 50)]
    regex_rules = [r for r in inspector.ruleset.rules if r.name == "regex"]
    assert regex_rules and any(needs for r in regex_rules for _, needs in r.patterns)
    found = 0
    for rule in regex_rules:
        filtered = rule.patterns
        for item in interactions:
            ctx = InspectionContext.build(item, inspector.index, inspector.segmenter)
            selected = select_turns(rule.spec, ctx)
            rule.patterns = filtered
            fast = [(h.turn, h.start, h.end) for h in rule.evaluate(ctx, selected)]
            rule.patterns = [(pattern, []) for pattern, _ in filtered]
            try:
                full = [(h.turn, h.start, h.end) for h in rule.evaluate(ctx, selected)]
            finally:
                rule.patterns = filtered
            assert fast == full, (rule.spec.id, item.interaction_id)
            found += len(full)
    assert found > 50, found  # the labelled violations are found: the comparison is not vacuous
