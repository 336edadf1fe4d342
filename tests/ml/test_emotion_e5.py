"""The fine-tuned e5 emotion model (models/emotion_e5): the committed ONNX artifact for real, and its
training path (a tiny random BERT trained a few steps, exported and served by the same classifier)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from qa_datasets.emotion import LABELS, POLARITY, EmotionRecord  # noqa: E402
from qa_engine.ml.emotion_onnx import OnnxEmotionClassifier, TokenizerPreprocessor  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO / "models" / "emotion_e5"
TOKENIZER = REPO / "models" / "e5_small_zh" / "tokenizer.json"  # the same pruned tokenizer, committed
MAX_MB = 50


@pytest.fixture(scope="module")
def clf() -> OnnxEmotionClassifier:
    if not (MODEL_DIR / "model.onnx").is_file():
        pytest.fail(f"{MODEL_DIR / 'model.onnx'} missing: it is committed (rebuild: "
                    ".venv/bin/python -m training.train_e5_emotion --out models/emotion_e5)")
    return OnnxEmotionClassifier(MODEL_DIR, threads=1)


def test_artifact_files_and_size() -> None:
    for name in ("model.onnx", "tokenizer.json", "labels.json", "README.md", "metrics.json"):
        assert (MODEL_DIR / name).is_file(), name
    assert (MODEL_DIR / "model.onnx").stat().st_size < MAX_MB * 1e6
    labels = json.loads((MODEL_DIR / "labels.json").read_text(encoding="utf-8"))
    assert labels["preprocessor"]["type"] == "tokenizer" and labels["emotion"] == list(LABELS)


@pytest.mark.parametrize(
    ("text", "polarity"),
    [
        ("我非常生气，你们太过分了！", "negative"),
        ("气死我了，我要投诉你们！", "negative"),
        ("太好了，谢谢你们，非常满意", "positive"),
        ("东西很好，物流也快，五星好评", "positive"),
        ("质量太差了，用了一天就坏了，差评", "negative"),
        ("我好担心包裹丢了，怎么办啊", "negative"),
        # Delivery worries are the customers' commonest negative turn. A longer rebuild in session 4
        # (weak "neutral" JDDC turns in its train data) read these as neutral at 0.9+ and was not
        # committed (model card): they guard the committed model against that failure.
        ("我很着急，快递一直没到", "negative"),
        # Known miss of the customer-trained model (model card), shared by the default BiLSTM: a lost-parcel
        # question with no worry word reads as a plain problem question; the guideline says anxious.
        pytest.param("包裹丢了怎么办", "negative", marks=pytest.mark.xfail(strict=True, reason="read as a plain question")),
        ("怎么办啊，我的包裹还没到", "negative"),
    ],
)
def test_obvious_polarity(clf: OnnxEmotionClassifier, text: str, polarity: str) -> None:
    got_label, got_polarity, confidence, probs = clf.predict([text])[0]
    assert got_polarity == polarity, (text, got_label, probs)
    assert 0.0 < confidence <= 1.0


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("气死我了，我要投诉你们！", "angry"),
        ("我非常生气，你们太过分了！", "angry"),  # the general-domain model read it as sad
        ("太好了，谢谢你们，非常满意", "happy"),
        ("真开心，问题终于解决了", "happy"),
        ("太让人失望了，我好难过", "sad"),
        ("我很害怕，不知道怎么办", "anxious"),
    ],
)
def test_obvious_labels(clf: OnnxEmotionClassifier, text: str, label: str) -> None:
    got_label, _, _, probs = clf.predict([text])[0]
    assert got_label == label, (text, probs)


def test_prediction_is_consistent(clf: OnnxEmotionClassifier) -> None:
    for label, polarity, confidence, probs in clf.predict(["好的", "你们怎么回事啊", "", "1234567890" * 40]):
        assert POLARITY[label] == polarity  # heads combined hierarchically: never contradict
        assert confidence == pytest.approx(probs[label])
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)


def test_batch_matches_single(clf: OnnxEmotionClassifier) -> None:
    """Batching moves probabilities a little and may flip only a borderline decision: int8 dynamic
    quantisation scales activations per batch (padding positions included). Measured up to ~0.05 on
    one machine; on an AVX-512 VNNI machine 退款 (neutral 0.48 against negative 0.34 alone) reads as
    sad in a batch of 4. Why the LSTM is served in fp32: docs/benchmarks.md (int8 measured)."""
    texts = ["我非常生气，你们太过分了！", "好", "快递什么时候到？我明天就要用，急死了", "谢谢",
             "这个酒店的房间很干净，服务也很周到，下次还会再来。" * 5, "退款", "客服态度太差了，我要投诉"]
    batched = clf.predict(texts, batch_size=4)
    flipped = 0
    for b, t in zip(batched, texts):
        s = clf.predict([t])[0]
        assert np.allclose([b[3][k] for k in LABELS], [s[3][k] for k in LABELS], atol=0.1), t
        mass = sorted(sum(p for k, p in s[3].items() if POLARITY[k] == pol) for pol in ("negative", "neutral", "positive"))
        if b[1] != s[1]:
            flipped += 1
            assert mass[-1] - mass[-2] < 0.15, t  # only a close call may flip the polarity
        elif b[0] != s[0]:
            flipped += 1
            assert abs(s[3][b[0]] - s[3][s[0]]) < 0.15, t  # or the label inside it (angry / sad)
    assert flipped <= 1


def test_tokenizer_preprocessor_truncates_and_pads() -> None:
    pre = TokenizerPreprocessor(TOKENIZER, max_len=8)
    feed = pre.encode(["你好", "这个酒店的房间很干净服务也很周到下次还会再来"])
    assert feed["input_ids"].shape == feed["attention_mask"].shape == (2, 8)
    assert feed["attention_mask"][1].sum() == 8 and feed["attention_mask"][0].sum() < 8
    pad = pre.tokenizer.token_to_id("<pad>")
    assert (feed["input_ids"][0][feed["attention_mask"][0] == 0] == pad).all()
    assert feed["input_ids"][:, 0].tolist() == [pre.tokenizer.token_to_id("<s>")] * 2
    # the "query: " prefix is part of the input, as in e5's training
    assert pre.tokenizer.decode(feed["input_ids"][0].tolist()).startswith("query:")


def tiny_base(base: Path) -> Path:
    """A tiny random BERT (seeded) with the real pruned tokenizer, saved as a training base."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    vocab = TokenizerPreprocessor(TOKENIZER).tokenizer.get_vocab_size()
    cfg_bert = BertConfig(vocab_size=vocab, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=32, max_position_embeddings=40, pad_token_id=1)
    BertModel(cfg_bert, add_pooling_layer=False).save_pretrained(base)
    shutil.copyfile(TOKENIZER, base / "tokenizer.json")
    return base


def test_train_export_roundtrip(tmp_path: Path) -> None:
    """A tiny random BERT (real tokenizer) trained a few steps, exported, served by onnxruntime."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from training import train_e5_emotion as T

    base = tiny_base(tmp_path / "base")

    words = {"angry": "气死了太过分", "anxious": "好担心怎么办", "sad": "好难过伤心", "neutral": "请问几点",
             "happy": "太好了谢谢"}
    recs: list[EmotionRecord] = [
        {"text": w * (1 + i % 3), "label": lab, "polarity": POLARITY[lab], "source": "toy"}
        for i in range(6) for lab, w in words.items()
    ] + [{"text": "差评" * (1 + i), "label": None, "polarity": "negative", "source": "toy2"} for i in range(5)]
    assert len(T.balanced_subset(recs, 2, seed=1)) == 5 * 2 + 2

    cfg = T.Config(batch_size=8, max_len=16, freeze=1, eval_every=2, threads=1, dropout=0.0)
    pre = TokenizerPreprocessor(base / "tokenizer.json", cfg.max_len)
    model = T.load_model(base, cfg.dropout)
    frozen = model.bert.encoder.layer[0].attention.self.query.weight.detach().clone()
    top = model.bert.encoder.layer[1].attention.self.query.weight.detach().clone()
    history = T.train(model, recs, recs[:10], pre, cfg, max_steps=4, log=False)
    assert history["steps_done"] == 4 and [c["step"] for c in history["checks"]] == [2, 4]
    assert torch.equal(model.bert.encoder.layer[0].attention.self.query.weight, frozen)  # frozen layer
    assert not torch.equal(model.bert.encoder.layer[1].attention.self.query.weight, top)  # trained layer

    T.save_checkpoint(model, base, tmp_path / "ckpt")
    report = T.export(tmp_path / "ckpt", tmp_path / "out", cfg, recs, quant_recs=20, quantize="fp32", log=False)
    assert report["chosen"] == "fp32"
    reloaded = T.load_model(tmp_path / "ckpt", heads=tmp_path / "ckpt" / "emotion_e5.pt")
    texts = [r["text"] for r in recs] + ["一句没见过的话", ""]
    assert T.torch_onnx_diff(reloaded, tmp_path / "out", texts, pre) < 1e-4  # fp32 graph == torch

    served = OnnxEmotionClassifier(tmp_path / "out", threads=1)
    assert isinstance(served.preprocessor, TokenizerPreprocessor) and served.preprocessor.max_len == 16
    preds = served.predict(texts, batch_size=3)
    assert len(preds) == len(texts) and all(POLARITY[p[0]] == p[1] for p in preds)


def test_customer_mode_oversamples_and_bakes_the_chosen_shift(tmp_path: Path) -> None:
    """--customer: in-domain records are seen customer_repeat times per epoch; checks choose the head mix
    and a negative prior shift on the customer dev turns, and the chosen shift is baked into the heads
    (the exported graph carries it)."""
    pytest.importorskip("torch")
    from training import train_e5_emotion as T
    from training.train_lstm import MIXES, SHIFTS, bake_negative_shift, customer_dev_score, shift_negative

    base = tiny_base(tmp_path / "base")
    general: list[EmotionRecord] = [{"text": "太好了谢谢" * (1 + i % 3), "label": "happy", "polarity": "positive",
                                     "source": "toy"} for i in range(8)]
    customer: list[EmotionRecord] = [
        {"text": t, "label": lab, "polarity": POLARITY[lab], "source": "jd_customer_labelled"}
        for t, lab in (("都六天了还没到", "angry"), ("没了谢谢", "neutral"), ("怎么还没发货", "anxious"),
                       ("好的", "neutral"))
    ]
    cfg = T.Config(batch_size=4, max_len=16, freeze=1, eval_every=1, threads=1, dropout=0.0, customer=True,
                   customer_repeat=3)
    pre = TokenizerPreprocessor(base / "tokenizer.json", cfg.max_len)
    model = T.load_model(base, cfg.dropout)
    # dev: mostly negative turns, which a model trained on mostly positive text under-calls
    dev: list[EmotionRecord] = [
        {"text": t, "label": lab, "polarity": POLARITY[lab], "source": "customer_dev"}
        for t, lab in (("气死了", "angry"), ("太过分了", "angry"), ("好担心", "anxious"), ("怎么办", "anxious"),
                       ("请问几点", "neutral"))
    ]
    history = T.train(model, general + customer, dev, pre, cfg, log=False)
    assert history["steps_planned"] == (len(general) + 3 * len(customer)) // cfg.batch_size  # 8 + 3 x 4 records
    assert history["head_mix"] in MIXES and history["negative_shift"] in SHIFTS
    assert {"negative_f1", "polarity_macro_f1"} <= set(history["dev"])
    best = history["checks"][[c["step"] for c in history["checks"]].index(history["best_step"])]
    assert best["negative_shift"] == history["negative_shift"]
    # The served model, read with no shift, scores what the best check scored with its shift.
    data = T.encode(dev, pre)
    p5, p3 = T.predict_proba(model, data)
    assert customer_dev_score(p5, p3, data, history["head_mix"]) == history["dev"]
    # and baking a shift into the e5 heads is the shift applied to the probabilities
    bake_negative_shift(model, 1.25)
    q5, q3 = T.predict_proba(model, data)
    s5, s3 = shift_negative(p5, p3, 1.25)
    assert np.allclose(q5, s5, atol=1e-5) and np.allclose(q3, s3, atol=1e-5) and not np.allclose(q3, p3)
    # the export keeps the mix chosen with the shift (a quantised variant's own mix must not replace it)
    T.save_checkpoint(model, base, tmp_path / "ckpt")
    for given in (MIXES[0], MIXES[-1]):  # two, so a variant's own mix cannot match both by chance
        report = T.export(tmp_path / "ckpt", tmp_path / "out", cfg, dev, quant_recs=5, quantize="int8", log=False,
                          mix=given)
        labels = json.loads((tmp_path / "out" / "labels.json").read_text(encoding="utf-8"))
        assert report["head_mix"] == labels["head_mix"] == given and report["chosen"] == "int8"
