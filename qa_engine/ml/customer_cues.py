"""Customer negative cues beside an emotion model (issue 14 point 2).

The customer-emotion guideline (datasets/labelled/CUSTOMER_EMOTION.md) names explicit cues of a
negative customer turn: impatience (怎么还没, 等不了), complaints (说好的, 投诉), giving up (那算了).
They were written once into lexicons/words/customer_negative_{angry,anxious,sad}.txt from its wording,
never tuned on the yardstick. The BiLSTM misses many of them; a customer turn is therefore negative
when the model says so OR a cue is in it (dev: negative F1 0.573 -> 0.615, docs/accuracy.md). Agent
turns are never touched: the cues describe customers, and an agent quoting 怎么还没 is not upset.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from qa_engine.context import TurnView
from qa_engine.ml.emotion import EmotionScorer
from qa_engine.ml.model_digest import files_digest
from qa_engine.ml.text_cache import Staged
from qa_engine.schema import EmotionLabel, TurnEmotion
from qa_engine.text.lexicon import PhraseIndex, load_word_list

# In priority order: a turn with cues of several groups takes the first (as the keyword baseline did).
CUE_EMOTIONS: tuple[EmotionLabel, ...] = ("angry", "anxious", "sad")
# What a cue-marked turn reports as its confidence: the cue is explicit, but it knows no context.
CUE_CONFIDENCE = 0.6


def cue_list_paths(lexicons_dir: Path) -> dict[EmotionLabel, Path]:
    return {e: Path(lexicons_dir) / "words" / f"customer_negative_{e}.txt" for e in CUE_EMOTIONS}


_CODE = re.compile(r"\[[^\[\]]{1,6}\]")  # an emoticon code ([呵呵], [怒]) or a mask ([数字x])


class CustomerCues:
    """The guideline's negative cues, found as substrings of normalised text (one Aho-Corasick pass).

    Plain substrings, no word boundaries or negation: on the yardstick's dev split, jieba boundaries
    lost a true negative (F1 of the union 0.609 vs 0.615) and negation changed nothing (0.615)."""

    def __init__(self, lexicons_dir: Path) -> None:
        paths = cue_list_paths(lexicons_dir)
        self.index = PhraseIndex()
        for emotion, path in paths.items():
            self.index.add_list(emotion, load_word_list(path))
        self.index.build()
        # in the scorer's source, hence in result.versions: an edited list is a new version
        self.digest = files_digest(Path(lexicons_dir) / "words", paths.values())

    def __len__(self) -> int:
        return len(self.index.all_terms)

    def match(self, text: str) -> tuple[EmotionLabel, str] | None:
        """(emotion, the leftmost cue of the first group found) or None; `text` already normalised.
        Bracketed codes are not words the customer typed: Weibo's smiley [呵呵] is not the sarcastic 呵呵
        (datasets/labelled/WEIBO.md), and JD's masks ([数字x]) hold no cue."""
        if "[" in text:
            text = _CODE.sub(" ", text)
        found = self.index.find(text)
        for emotion in CUE_EMOTIONS:
            if found.get(emotion):
                return emotion, found[emotion][0].term
        return None


class CustomerCueEmotionScorer(EmotionScorer):
    """A scorer (the model) with the customer cues on top: a customer turn the model reads as not
    negative is negative, with the cue's emotion and the cue in TurnEmotion.cue, when a cue is in it.
    Everything else (agent turns, turns the model already reads as negative) is the model's answer."""

    def __init__(self, model: EmotionScorer, cues: CustomerCues) -> None:
        self.model = model
        self.cues = cues
        self.source = f"{model.source} + customer cues@{cues.digest}"
        self.model_dir = model.model_dir
        self.releases_gil = model.releases_gil  # type: ignore[misc]  # the model's time dominates

    def inputs(self, turns: Sequence[TurnView]) -> list[str]:
        return self.model.inputs(turns)

    def stage(self, texts: Sequence[str]) -> Staged | None:
        return self.model.stage(texts)

    def cache_clear(self) -> None:
        self.model.cache_clear()

    def score(self, turns: Sequence[TurnView]) -> list[TurnEmotion]:
        out = self.model.score(turns)
        for k, (view, emotion) in enumerate(zip(turns, out, strict=True)):
            if view.role != "customer" or emotion.polarity == "negative":
                continue
            hit = self.cues.match(view.text)
            if hit is not None:
                label, cue = hit
                out[k] = TurnEmotion(
                    turn=emotion.turn, role=emotion.role, label=label, polarity="negative", confidence=CUE_CONFIDENCE, cue=cue
                )
        return out
