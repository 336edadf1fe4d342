"""The politeness / empathy comparison of issue 3 (training/politeness_compare.py) and its opt-in packs."""

from __future__ import annotations

import pytest

from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.eval.evaluation import predict_turn
from training.politeness_compare import Task, choose, training_set


def test_empathy_set_counts_and_split() -> None:
    task = Task("empathy")
    dev, test = task.rows("dev"), task.rows("test")
    assert len(dev) == len(test) == 35
    assert sum(r["empathy"] for r in dev) == sum(r["empathy"] for r in test) == 18
    assert {r["id"] for r in dev}.isdisjoint(r["id"] for r in test)
    for r in dev + test:
        assert r["empathy"] == bool(r["empathy_categories"])
        assert set(r["empathy_categories"]) <= {"acknowledge", "soothe"}


@pytest.mark.parametrize("name", ["politeness", "empathy"])
def test_classifier_training_set_is_not_the_labelled_set(name: str) -> None:
    task = Task(name)
    texts, labels = training_set(task, n_plain=400)
    assert 0 < labels.sum() < len(labels)
    labelled = {r["text"].strip() for split in ("dev", "test") for r in task.rows(split)}
    # generic formulas on their own (您好, 好的) may equal a labelled turn; nothing else may
    generic = {p for phrases in task.formulas.values() for p in phrases} | set(task.lookalikes)
    assert not labelled & ({t.strip() for t in texts} - generic)
    bases = texts[: 4 * ((len(texts) - len(generic)) // 4) : 4]  # per JD turn: itself, + look-alike, + 2 formulas
    assert bases and all(task.plain(t) for t in bases)  # the plain JD turns hold no formula (empathy: no list phrase)


def test_default_choice_by_dev_f1_ties_to_fewer_moving_parts() -> None:
    names = {"rules": "r", "classifier": "c", "rules + classifier": "rc"}
    dev = {"r": {"f1": 0.667}, "c": {"f1": 0.895}, "rc": {"f1": 0.895}}
    assert choose(dev, names) == "rules + classifier"  # the tie goes to the option keeping the phrase rules
    assert choose({**dev, "c": {"f1": 0.9}}, names) == "classifier"
    assert choose({**dev, "r": {"f1": 0.895}}, names) == "rules"


def test_similar_packs_load_beside_the_defaults() -> None:
    s = Settings(emotion_scorer="lexicon")
    inspector = Inspector(s.model_copy(update={"rule_packs": [*s.rule_packs, "politeness_similar", "empathy_similar"]}))
    ids = inspector.ruleset.ids()
    assert {"politeness_similar.thanks", "empathy_similar.soothe"} <= set(ids)
    fired = predict_turn(inspector, "非常理解您的心情，您先别着急，我马上帮您处理")
    assert any(r.startswith("empathy_similar.") for r in fired.get("empathy", ()))
    assert any(r.startswith("politeness_similar.") for r in predict_turn(inspector, "谢谢您的耐心等待").get("politeness", ()))
