"""The guideline's customer negative cues beside the emotion model (qa_engine.ml.customer_cues), on
the committed BiLSTM: customer turns only, the cue named, the cue lists part of the version."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import chat

from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.ml.customer_cues import CUE_EMOTIONS, CustomerCueEmotionScorer, CustomerCues
from qa_engine.ml.scorers import make_emotion_scorer
from qa_engine.text.normalize import normalize

LEXICONS = Settings().lexicons_dir


@pytest.fixture(scope="module")
def inspector() -> Inspector:
    return Inspector(Settings(_env_file=None, onnx_threads=1))  # the defaults: lstm with the customer cues


def test_cue_lists_are_the_guideline_cues() -> None:
    cues = CustomerCues(LEXICONS)
    # the 60 cue words of the guideline (its ？？ and ?? are one cue once normalised)
    assert {e: len(cues.index.words(e)) for e in CUE_EMOTIONS} == {"angry": 41, "anxious": 9, "sad": 9}
    assert cues.match("怎么还没发货") == ("angry", "怎么还没")
    assert cues.match(normalize("在吗？？").text) == ("angry", "??")
    assert cues.match("我急用") == ("anxious", "急用")
    assert cues.match("好吧，那算了") == ("sad", "那算了")
    assert cues.match("急用，你们到底发不发") == ("angry", "到底")  # angry first, as the keyword baseline
    assert cues.match("没了谢谢") is None and cues.match("什么时候能到") is None
    # a bracketed code is not typed words: Weibo's smiley [呵呵] is no sarcasm, typed 呵呵 is (WEIBO.md)
    assert cues.match("好的，谢谢[呵呵]") is None and cues.match("呵呵，你们真行") == ("angry", "呵呵")
    assert cues.match("[数字x]天了怎么还没到") == ("angry", "怎么还没")


def test_customer_turn_with_a_cue_is_negative_and_names_it(inspector: Inspector) -> None:
    scorer = inspector.emotion_scorer
    assert isinstance(scorer, CustomerCueEmotionScorer)
    asks = "帮我查一下物流，到底什么时候能送到"  # complaint phrased as a question (到底), no other marker
    item = chat(("customer", asks), ("agent", asks), ("customer", "都六天了还没到"), ("customer", "没了谢谢"))
    model_alone = scorer.model.score(_views(item))
    result = inspector.inspect(item)
    first, agent, late, thanks = result.emotion.turns
    assert (model_alone[0].polarity, model_alone[0].label) == ("neutral", "neutral")  # the model misses it
    assert (first.polarity, first.label, first.cue) == ("negative", "angry", "到底")
    # the same words said by the agent: the model's answer, untouched
    assert agent.model_dump() == model_alone[1].model_dump() and agent.cue is None and agent.polarity != "negative"
    assert late.polarity == "negative"  # the model already reads 都六天了 as negative: no cue needed
    assert thanks.polarity == "positive" and thanks.cue is None


def test_sarcasm_and_giving_up_are_marked_where_the_model_misses_them(inspector: Inspector) -> None:
    result = inspector.inspect(chat(("customer", "好的，你们效率可真高"), ("customer", "行吧，那不买了")))
    assert [(t.polarity, t.label, t.cue) for t in result.emotion.turns] == [
        ("negative", "angry", "效率可真"),
        ("negative", "sad", "不买了"),
    ]
    assert result.emotion.customer_end == "negative"


def test_source_and_versions_name_both_parts_and_change_with_the_cue_list(inspector: Inspector, tmp_path: Path) -> None:
    result = inspector.inspect(chat(("customer", "好的")))
    digest = CustomerCues(LEXICONS).digest
    assert result.emotion.source == f"onnx:emotion_lstm + customer cues@{digest}" == result.versions["models"]["emotion"]
    lexicons = tmp_path / "lexicons"
    shutil.copytree(LEXICONS, lexicons)
    with (lexicons / "words" / "customer_negative_sad.txt").open("a", encoding="utf-8") as fh:
        fh.write("心累\n")
    edited = make_emotion_scorer("lstm", Settings(_env_file=None, lexicons_dir=lexicons, onnx_threads=1))
    assert edited.source.startswith("onnx:emotion_lstm + customer cues@sha256:") and edited.source != result.emotion.source
    off = make_emotion_scorer("lstm", Settings(_env_file=None, emotion_customer_cues=False, onnx_threads=1))
    assert off.source == "onnx:emotion_lstm" and not isinstance(off, CustomerCueEmotionScorer)


def _views(item) -> list[SimpleNamespace]:
    """The turns as the engine hands them to a scorer (normalised text, index, role)."""
    return [SimpleNamespace(text=normalize(t.text).text, index=i, role=t.role) for i, t in enumerate(item.turns)]
