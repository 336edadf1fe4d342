"""The empathy turn classifier (models/empathy_ngram, exported by training/politeness_compare.py
--task empathy --export): the committed ONNX model loaded for real, its rule empathy.model in the
default `empathy` pack, and the export code on a small model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import chat, rule_ids
from qa_engine.ml.turn_classifier import TurnClassifier

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO / "models" / "empathy_ngram"

# Since issue 14 point 3 the model complements the phrase lists on real JD traffic (threshold chosen
# there, 0.70): 换作是我… is the lists' (empathy.phrase, tests/rules/test_empathy_taboo.py), and
# 有我在呢，这个问题今天一定给您解决 holds an absolute promise (一定给您解决, a 服务禁语: not empathy by
# datasets/labelled/EMPATHY_JD.md, and the engine flags it), so the soothing without a promise stands here.
EMPATHY = [
    "非常理解您的心情，您先别着急",
    "您放宽心，包裹还在途中，没有丢",
    "有我在呢，我会一直帮您跟进",
    "非常抱歉给您带来不便",  # apology for the customer's trouble
    "对您造成的不便很是抱歉",
    "让您久等了",
]
PLAIN = [
    "好的，请稍等",
    "您好，请问有什么可以帮您",
    "退款会在三到五个工作日原路返回",
    "麻烦您提供一下订单号",
    "这款安抚奶嘴很受宝妈欢迎",  # a look-alike (安抚)
    "抱歉，这个需要您自己申请",  # a procedural apology: politeness, not empathy
    "好的，辛苦您了",  # a thanks formula
    # rude and curt turns (the model's own negatives; the engine also vetoes any turn with a forbidden hit)
    "你找别人去",
    "不要拉倒",
    "急什么",
    "快点说",
    "请您放心，快点说吧",
]
MISSED_BY_LISTS = "您放宽心，包裹还在途中，没有丢"  # 放宽心 is in no phrase list


@pytest.fixture(scope="module")
def model() -> TurnClassifier:
    assert (MODEL_DIR / "model.onnx").is_file(), f"{MODEL_DIR} missing: see its README.md for the rebuild command"
    return TurnClassifier(MODEL_DIR, threads=1)


def test_committed_model_is_small_and_described(model):
    labels = json.loads((MODEL_DIR / "labels.json").read_text(encoding="utf-8"))
    assert labels["input"] == "char_ngrams" and labels["text"] == "normalized"
    assert model.categories == ["empathy"] and model.label_zh == "同理心"
    assert 0 < model.threshold < 1
    assert (MODEL_DIR / "model.onnx").stat().st_size < 3_000_000
    assert (MODEL_DIR / "README.md").is_file()


def test_obvious_empathy_and_plain_turns(model):
    probs, cats = model.predict(EMPATHY + PLAIN)
    n = len(EMPATHY)
    assert (probs[:n] >= model.threshold).all(), probs[:n]
    assert (probs[n:] < model.threshold).all(), probs[n:]
    assert cats.shape == (len(EMPATHY + PLAIN), 1) and np.allclose(cats, 1.0)


def test_reads_normalised_text(model):
    # trained on the engine's normalised text: full-width punctuation, spaces between Chinese
    # characters and Traditional script give the same probability as their normalised form
    a = model.predict(["非常理解您的心情，您先别着急"])[0][0]
    b = model.predict(["非常理解您的心情,您先别着急"])[0][0]
    c = model.predict(["非常理解您的 心情，您先別著急"])[0][0]
    assert a == pytest.approx(b, abs=1e-6) and a == pytest.approx(c, abs=1e-6)


def test_default_packs_explain_a_classifier_hit(inspector):
    result = inspector.inspect(chat(("customer", "气死我了，等了一个星期还没到！"), ("agent", MISSED_BY_LISTS)))
    hits = [h for h in result.hits if h.dimension == "empathy"]
    assert [h.rule_id for h in hits] == ["empathy.model"], [(h.rule_id, h.explanation) for h in hits]
    hit = hits[0]
    assert hit.turn == 1 and hit.role == "agent" and hit.severity == "info"
    assert MISSED_BY_LISTS[hit.start:hit.end] == hit.text and "放宽心" in hit.text
    assert "模型 empathy_ngram：同理心概率" in hit.explanation
    assert "违规" not in hit.explanation and "类别" not in hit.explanation
    # it counts as an empathy turn, and the customer's anger was answered
    assert result.stats.empathy_turns == 1
    assert "empathy.missing_when_upset" not in rule_ids(result)


def test_phrase_hits_are_not_counted_twice(inspector):
    # the phrase lists explain this turn: the classifier rule skips it (unless)
    result = inspector.inspect(chat(("agent", "非常理解您的心情，您先别着急，我马上为您处理。")))
    ids = rule_ids(result, 0)
    assert {"empathy.phrase", "empathy.soothing"} <= ids and "empathy.model" not in ids
    assert result.stats.empathy_turns == 1


def test_plain_agent_turns_and_customers_raise_no_empathy(inspector):
    result = inspector.inspect(chat(("customer", "您先别着急，有我在呢"), *(("agent", t) for t in PLAIN)))
    assert not [h for h in result.hits if h.rule_id == "empathy.model"]


def test_export_loads_and_matches_torch(tmp_path):
    """The recipe on a small pool, exported the way models/empathy_ngram is: the ONNX graph agrees
    with torch (export_classifier checks it), loads as a one-category turn classifier, and two
    exports are byte-identical."""
    from training.politeness_compare import Task, export_classifier, train_classifier

    task = Task("empathy")
    models, n_texts, n_pos = train_classifier(task, n_plain=150)
    model = models[1e-4]
    assert 0 < n_pos < n_texts
    # a turn over 80 characters is also read in windows by the rule; the check reads it the same way (served_scores)
    long_turn = "您好，您的订单已经在配送途中了，预计明天下午送达，" * 3 + "给您带来不便，还请您见谅，您先别着急"
    check = [r["text"] for r in task.rows("dev")] + [long_turn]
    metrics = export_classifier(task, model, 0.5, tmp_path / "a", check)
    export_classifier(task, model, 0.5, tmp_path / "b", check)
    assert metrics["onnx_vs_torch_max_abs_diff"] < 1e-4
    assert (tmp_path / "a" / "model.onnx").read_bytes() == (tmp_path / "b" / "model.onnx").read_bytes()
    clf = TurnClassifier(tmp_path / "a", threads=1)
    probs, cats = clf.predict(["您先别着急", "好的，请稍等"])
    assert probs.shape == (2,) and cats.shape == (2, 1) and clf.threshold == 0.5
