"""Segmenter's cheap pre-check finds every dictionary word that jieba's full search would."""

from __future__ import annotations

import pytest

from qa_engine.text.segment import Segmenter

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


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter(["没办法", "保证", "不耐烦", "帮您"])  # user words change jieba's routes too


def test_may_cut_word_is_the_full_search(segmenter: Segmenter) -> None:
    # _may_cut stops extending a fragment that no dictionary word starts with: jieba's FREQ must hold
    # every prefix of every word (the user words included) for that to find all of them
    freq = segmenter._tokenizer.FREQ
    assert all(w[:k] in freq for w in ("没办法", "保证", "不耐烦", "帮您") for k in range(1, len(w)))

    def full(text: str, pos: int, reach: int = 3) -> bool:
        return any(
            freq.get(text[a:b]) for a in range(max(0, pos - reach), pos) for b in range(pos + 1, min(len(text), pos + reach) + 1)
        )

    for text in TEXTS:
        for pos in range(1, len(text)):
            assert segmenter._may_cut(text, pos, 3) == full(text, pos), (text, pos)
