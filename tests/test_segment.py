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
