"""Segmenter._segment gives jieba's own tokens (tokenize(text, HMM=False)) for any text."""

from __future__ import annotations

import pytest

from qa_datasets.jddc import chat_dev_path, load_sessions
from qa_engine.normalize import normalize
from qa_engine.segment import Segmenter

TEXTS = [
    "",
    "您好，请问还有什么可以帮您的吗？",
    "亲爱的客户您好  我是京东客服小明\r\n很高兴为您服务",
    "订单号123456789已经发货了，预计2-3天送达 iPhone 13 Pro Max 256G",
    "a b c 1 2 3 abc123 x.y_z 50% C++ C# R&D --",
    "滚筒洗衣机的保证金 没办法 我也没办法",
    "ＡＢＣ全角！！ 😀 表情 …… ～～ \t制表\u3000全角空格",
    "这个不是我们的问题，您自己去找快递吧，我们这边处理不了",
    "sb usb USB接口",
    "。。。？？？!!!",
]


def _jieba(seg: Segmenter, text: str) -> tuple[tuple[int, int, str], ...]:
    return tuple((s, e, w) for w, s, e in seg._tokenizer.tokenize(text, HMM=False))


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter(["没办法", "保证", "不耐烦", "帮您"])  # user words change jieba's routes too


def test_tokens_are_jiebas(segmenter: Segmenter) -> None:
    for text in TEXTS + [normalize(t).text for t in TEXTS]:
        assert segmenter._segment(text) == _jieba(segmenter, text), text
    assert segmenter.tokens("没办法") == [(0, 3, "没办法")]


@pytest.mark.skipif(not chat_dev_path().is_file(), reason=f"JD chat sessions not found at {chat_dev_path()} (set QA_SHARED_DIR)")
def test_tokens_are_jiebas_on_the_jd_turns(segmenter: Segmenter) -> None:
    texts = {normalize(t["text"]).text for s in load_sessions()[:300] for t in s["turns"]}
    for text in texts:
        for piece in (text, text[3:19]):  # whole turns and windows of long ones, as respects_words reads
            assert segmenter._segment(piece) == _jieba(segmenter, piece), piece


def test_may_cut_word_is_the_full_search(segmenter: Segmenter) -> None:
    # _may_cut stops extending a fragment that no dictionary word starts with: jieba's FREQ must hold
    # every prefix of every word (the user words included) for that to find all of them
    freq = segmenter._tokenizer.FREQ
    assert all(w[:k] in freq for w in ("没办法", "保证", "不耐烦", "帮您") for k in range(1, len(w)))

    def full(text: str, pos: int, reach: int = 3) -> bool:
        return any(
            freq.get(text[a:b])
            for a in range(max(0, pos - reach), pos)
            for b in range(pos + 1, min(len(text), pos + reach) + 1)
        )

    for text in TEXTS:
        for pos in range(1, len(text)):
            assert segmenter._may_cut(text, pos, 3) == full(text, pos), (text, pos)
