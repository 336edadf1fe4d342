"""The forbidden-phrase turn classifiers: the committed ONNX models loaded for real (forbidden_ngram,
the default, and the fine-tuned forbidden_e5), the `classifier` rule operator in the default packs,
and the training code end to end on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.ml.turn_classifier import TurnClassifier
from qa_engine.rules import Resources, RuleSpec
from qa_engine.rules.classifier import ClassifierOperator
from qa_engine.schema import Interaction
from qa_engine.text.lexicon import PhraseIndex

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO / "models" / "forbidden_e5"
DEFAULT_MODEL = "forbidden_ngram"  # the model lexicons/packs/forbidden.yaml names

VIOLATIONS = {  # wording the keyword lists do not contain
    "deflect": "这种事您自己跟卖家掰扯去，我们平台不掺和",
    "impatience": "我都讲了四五遍了，您就不能用心记一下吗",
    "blame": "要不是您自己手滑点错了，哪来这么多麻烦",
    "mock_insult": "就您这穷酸样，还好意思嫌贵",
    "improper_promise": "放心吧，这笔钱明天上午肯定到您卡里，我打包票",
}
FINE = [
    "您好，很高兴为您服务，请问有什么可以帮您？",
    "这个问题我帮您转接到信用卡中心，请您稍等不要挂机。",
    "这件衬衫是百分之百纯棉的，可以机洗。",
    "退款审核通过后一般一到三个工作日原路退回，具体以银行为准。",
    "非常抱歉让您久等了，我马上为您查询物流。",
    "地址好像少了门牌号，麻烦您补充一下，我通知快递员。",
]


@pytest.fixture(scope="module", params=["forbidden_ngram", "forbidden_e5"])
def model(request) -> TurnClassifier:
    model_dir = REPO / "models" / request.param
    assert (model_dir / "model.onnx").is_file(), f"{model_dir} missing: see its README.md for the training command"
    return TurnClassifier(model_dir, threads=2)


@pytest.fixture(scope="module")
def inspector() -> Inspector:
    return Inspector(Settings())


def test_obvious_violations_and_fine_turns(model):
    probs, cats = model.predict(list(VIOLATIONS.values()) + FINE)
    n = len(VIOLATIONS)
    assert (probs[:n] >= model.threshold).all(), probs[:n]
    assert (probs[n:] < model.threshold).all(), probs[n:]
    assert np.allclose(cats.sum(axis=1), 1.0, atol=1e-4)
    # the category head is right on the unmistakable insult and promise
    top = [model.categories[i] for i in cats[:n].argmax(axis=1)]
    assert top[3] == "mock_insult" and top[4] == "improper_promise", top


def test_cache_and_batch_agree(model):
    texts = ["你是不是听不懂人话", "好的，请稍等"]
    alone = [model.predict([t])[0][0] for t in texts]
    batched, _ = model.predict(texts + texts)  # duplicates and a mixed batch
    assert np.allclose(batched, alone + alone, atol=1e-5)


def test_rule_finds_paraphrase_with_explanation(inspector):
    item = Interaction(interaction_id="t", channel="chat", turns=[
        {"role": "customer", "text": "我的东西坏了，怎么办？"},
        {"role": "agent", "text": "您好，订单我看到了，" + VIOLATIONS["deflect"] + "。"},
    ])
    hits = [h for h in inspector.inspect(item).hits if h.dimension == "forbidden_words"]
    assert hits, "classifier missed the paraphrase"
    hit = next(h for h in hits if h.rule_id.startswith("forbidden.model_"))
    assert hit.turn == 1 and hit.role == "agent"
    text = item.turns[1].text
    assert text[hit.start:hit.end] == hit.text and "掰扯" in hit.text  # the clause, not the greeting
    assert DEFAULT_MODEL in hit.explanation and "违规概率" in hit.explanation
    assert 0.0 < hit.score <= 1.0


def test_customer_turns_and_fine_agent_turns_raise_nothing(inspector):
    item = Interaction(interaction_id="t", channel="chat", turns=[
        {"role": "customer", "text": "就你这破客服，教十遍也学不会吧"},  # customers may say it
        *({"role": "agent", "text": t} for t in FINE),
    ])
    # (the 百分之百 pattern of the improper-promise list does fire on 百分之百纯棉: a keyword false positive)
    assert not [h for h in inspector.inspect(item).hits if h.rule_id.startswith("forbidden.model_")]


def test_keyword_hit_keeps_its_evidence(inspector):
    # the phrase lists already explain these turns: the model rules skip them (no second finding
    # from the model's category guess), but still read the unexplained turn
    item = Interaction(interaction_id="t", channel="chat", turns=[
        {"role": "agent", "text": "这不归我管，你去问快递公司吧。"},
        {"role": "agent", "text": "这不归我管"},
        {"role": "agent", "text": VIOLATIONS["blame"]},
    ])
    hits = [h for h in inspector.inspect(item).hits if h.dimension == "forbidden_words"]
    assert {h.rule_id for h in hits if h.turn in (0, 1)} == {"forbidden.deflect"}
    assert [h.turn for h in hits if h.rule_id.startswith("forbidden.model_")] == [2]


def test_operator_rejects_unknown_category_and_missing_model(tmp_path):
    res = Resources(lexicons_dir=REPO / "lexicons", index=PhraseIndex(), models_dir=REPO / "models")
    spec = RuleSpec(id="x.y", dimension="forbidden_words", operator="classifier", categories=["rudeness"])
    with pytest.raises(ValueError, match="rudeness"):
        ClassifierOperator(spec, res)
    spec = RuleSpec(id="x.y", dimension="forbidden_words", operator="classifier", model=str(tmp_path))
    with pytest.raises(ValueError, match="not found"):
        ClassifierOperator(spec, res)


@pytest.mark.slow
def test_training_code_trains_exports_and_loads(tmp_path):
    """A couple of steps on a tiny random BERT with the real tokenizer, export + int8, load in onnxruntime."""
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertModel

    from training import train_forbidden as tf

    base = tmp_path / "tiny"
    vocab = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json")).get_vocab_size()
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=80, pad_token_id=1),
              add_pooling_layer=False).save_pretrained(base)
    (base / "tokenizer.json").write_bytes((MODEL_DIR / "tokenizer.json").read_bytes())

    # the split forward used for training equals the model's own forward
    clf = tf.ForbiddenClassifier(BertModel.from_pretrained(base, add_pooling_layer=False, attn_implementation="eager")).eval()
    tok = tf.load_tokenizer(base / "tokenizer.json", 64)
    ids, mask = tf.encode(tok, ["您好", "这事不归我管，你找别人去吧"])
    with torch.no_grad():
        assert torch.allclose(clf.logits(ids, mask), clf.upper_logits(clf.lower(ids, mask, 1), mask, 1), atol=1e-5)

    # fp32 export matches torch
    tf.export_onnx(clf, tmp_path / "fp32", quantize=False)
    (tmp_path / "fp32" / "tokenizer.json").write_bytes((base / "tokenizer.json").read_bytes())
    (tmp_path / "fp32" / "labels.json").write_text(json.dumps(
        {"categories": list(tf.CATEGORIES), "threshold": 0.5, "max_length": 64, "prefix": tf.PREFIX}), encoding="utf-8")
    texts = ["您好", "这事不归我管，你找别人去吧", "我保证明天到"]
    onnx_p, onnx_c = TurnClassifier(tmp_path / "fp32").predict(texts)
    assert np.allclose(onnx_p, tf.predict_torch(clf, tok, texts), atol=1e-4)

    out = tmp_path / "out"
    tf.main(["--base", str(base), "--out", str(out), "--max-steps", "2", "--batch-size", "8",
             "--train-layers", "1", "--jddc-negatives", "0", "--no-labelled-dev", "--threads", "1"])
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["steps"] == 2 and np.isfinite(metrics["final_loss"])
    model = TurnClassifier(out)
    probs, cats = model.predict(texts)
    assert probs.shape == (3,) and cats.shape == (3, 5)
    assert ((probs > 0) & (probs < 1)).all() and np.allclose(cats.sum(axis=1), 1.0, atol=1e-4)


def test_ngram_training_code_trains_exports_and_loads(tmp_path):
    """The char n-gram trainer on a slice of the written set, a few epochs: ONNX out, served the same way."""
    import subprocess
    import sys

    out = tmp_path / "ngram"
    run = subprocess.run([sys.executable, "-m", "training.train_forbidden_ngram", "--out", str(out), "--limit", "200",
                          "--jddc-negatives", "100", "--no-fa-negatives", "--epochs", "40", "--no-eval"],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    clf = TurnClassifier(out, threads=1)
    assert clf.input == "char_ngrams"
    probs, cats = clf.predict(["你是不是听不懂人话", "好的，请稍等"])
    assert probs.shape == (2,) and cats.shape == (2, 5)
    assert np.allclose(cats.sum(axis=1), 1.0, atol=1e-4)
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8"))["train_turns"] == 200 + 90


def test_char_ngram_ids_are_the_hashed_grams_the_models_were_trained_on():
    """The featuriser is written for speed (map over shifted copies, a shared gram table); its ids
    must stay those of the plain definition, or every n-gram model would read different features."""
    import zlib

    from qa_datasets.jddc import load_sessions
    from qa_engine.ml.turn_classifier import BUCKETS, char_ngram_ids

    def plain(text: str, n_max: int, buckets: int) -> set[int]:
        grams = {text[j:j + n] for n in range(1, n_max + 1) for j in range(len(text) - n + 1)}
        return {zlib.crc32(g.encode("utf-8")) % buckets for g in grams}

    texts = [t["text"] for s in load_sessions()[:200] for t in s["turns"]] + ["", "a", "ab", "您好", "退款 退款"]
    for n_max, buckets in ((3, BUCKETS), (2, 1000), (5, BUCKETS)):
        for text in texts:
            assert char_ngram_ids(text, n_max, buckets) == plain(text, n_max, buckets), (text, n_max)


def test_char_ngram_matrix_is_the_padded_sorted_ids_of_each_text():
    """The models' input, vectorised over a batch, must be row for row the ids of char_ngram_ids."""
    import numpy as np

    from qa_datasets.jddc import load_sessions
    from qa_engine.ml.turn_classifier import BUCKETS, char_ngram_ids, char_ngram_matrix

    texts = [t["text"] for s in load_sessions()[:150] for t in s["turns"]]
    texts += ["", "a", "ab", "您好", "退款 退款", "😀x", "\U0010fffe好", " "]
    for n_max, buckets in ((3, BUCKETS), (2, 1000), (1, BUCKETS), (5, BUCKETS)):
        for start in range(0, len(texts), 97):  # batches with new grams and with known ones
            batch = texts[start:start + 97]
            rows = [sorted(char_ngram_ids(t, n_max, buckets)) or [buckets] for t in batch]
            got = char_ngram_matrix(batch, n_max, buckets)
            assert got.shape == (len(batch), max(map(len, rows))), (n_max, start)
            for row, want in zip(got, rows):
                assert row[: len(want)].tolist() == want and (row[len(want):] == buckets).all()
    assert char_ngram_matrix([], 3, BUCKETS).shape[0] == 0


def test_staged_prediction_equals_predict():
    """Staged work (features now, onnxruntime in Staged.run, cache filled by commit) must leave the
    cache holding what predict computes, for texts with and without long-turn windows."""
    import numpy as np

    from qa_engine.ml.turn_classifier import TurnClassifier

    models = Path(__file__).resolve().parents[2] / "models"
    texts = ["你是不是听不懂人话", "好的，请稍等", "这个我们管不了，你找快递去", "您好" * 50]
    for name in ("forbidden_ngram", "empathy_ngram"):
        staged_clf, plain = TurnClassifier(models / name, threads=1), TurnClassifier(models / name, threads=1)
        staged = staged_clf.stage(texts + texts[:2])
        assert staged is not None
        staged.run()
        staged.commit()
        assert len(staged_clf._cache) == len(texts) and staged_clf.stage(texts) is None
        (p1, c1), (p2, c2) = staged_clf.predict(texts), plain.predict(texts)
        assert np.allclose(p1, p2, atol=1e-6) and np.allclose(c1, c2, atol=1e-6)
