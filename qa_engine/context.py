"""Per-interaction state shared by the rule operators: normalised turns, cached matches, hits."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from qa_engine.schema import Hit, HitEvidence, Interaction, Turn, TurnEmotion
from qa_engine.text.lexicon import PhraseIndex, PhraseMatch
from qa_engine.text.normalize import NormalizedText, normalize, simplified_original
from qa_engine.text.segment import Segmenter, TokenBoundaries

if TYPE_CHECKING:
    from qa_engine.trace import RuleTrace


def _is_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


WINDOW = 8  # characters of context jieba sees on each side of a match in a long turn


@dataclass
class TurnView:
    index: int
    turn: Turn
    norm: NormalizedText
    _index: PhraseIndex
    _segmenter: Segmenter
    # The turn's role and normalised text as plain attributes: every rule reads them for every turn
    # (~100k reads per 1,000 interactions), where a property call cost more than the read.
    role: str = field(init=False, repr=False, compare=False)
    text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.role = self.turn.role
        self.text = self.norm.text

    @cached_property
    def simplified(self) -> str:
        """The original turn text, Traditional -> Simplified only (what the turn classifiers read);
        computed once, whichever of the model prefetch and the rules asks first."""
        return simplified_original(self.norm)

    @cached_property
    def chars(self) -> frozenset[str]:
        return frozenset(self.norm.text)

    @cached_property
    def _matches(self) -> dict[str, list[PhraseMatch]]:
        return self._index.find(self.norm.text)

    @cached_property
    def tokens(self) -> list[tuple[int, int, str]]:
        """jieba tokens (start, end, word) of the normalised text."""
        return self._segmenter.tokens(self.norm.text)

    @cached_property
    def boundaries(self) -> TokenBoundaries:
        return self._segmenter.boundaries(self.norm.text)

    def respects_words(self, start: int, end: int) -> bool:
        """The span [start, end) does not cut an ordinary word (see segment.TokenBoundaries)."""
        seg, text = self._segmenter, self.norm.text
        # Latin terms need latin word edges: sb is not a word inside usb.
        if (start > 0 and _is_alnum(text[start - 1]) and _is_alnum(text[start])) or (
            end < len(text) and _is_alnum(text[end]) and _is_alnum(text[end - 1])
        ):
            return False
        if not (seg.may_cut_word(text, start) or seg.may_cut_word(text, end)):
            return True
        if len(text) <= 2 * WINDOW + (end - start) or "boundaries" in self.__dict__:
            return self.boundaries.respects(start, end)
        # Long turn: segment only the neighbourhood; jieba's choice there depends on nearby text.
        lo, hi = max(0, start - WINDOW), min(len(text), end + WINDOW)
        return seg.boundaries(text[lo:hi]).respects(start - lo, end - lo)

    def has_list(self, list_name: str) -> bool:
        """Does the text contain any word of this list (before word-boundary checks)?"""
        return list_name in self._matches

    def matches(self, list_name: str, *, word_boundary: bool = True) -> list[PhraseMatch]:
        """Matches of one word list, longest first where they overlap, respecting word boundaries."""
        chosen: list[PhraseMatch] = []
        last_end = -1
        for m in self._matches.get(list_name, ()):  # ordered by start, longest first
            if m.start < last_end:
                continue
            if word_boundary and not self.respects_words(m.start, m.end):
                continue
            chosen.append(m)
            last_end = m.end
        return chosen

    def make_hit(
        self,
        *,
        rule_id: str,
        dimension: str,
        severity: str,
        explanation: str,
        start: int | None = None,
        end: int | None = None,
        score: float = 1.0,
        evidence: HitEvidence | None = None,
        detail: str = "",
        prose: str | None = None,
        time: tuple[float, float] | None = None,
    ) -> Hit:
        """A hit on this turn; `start`/`end` are normalised offsets, stored as original ones. Its
        explanation: the rule's template `explanation` filled in, then `detail` (rendered from the
        evidence) in brackets; or `prose` as it is. `time`: default the turn's."""
        o_start = o_end = None
        text = ""
        if start is not None and end is not None:
            o_start, o_end = self.norm.to_original(start, end)
            text = self.turn.text[o_start:o_end]
        if time is None and self.turn.start is not None and self.turn.end is not None:
            time = (self.turn.start, self.turn.end)
        if prose is None:
            prose = explanation.format(text=text, turn=self.index, role=self.turn.role) + (f"（{detail}）" if detail else "")
        return Hit(
            dimension=dimension,
            rule_id=rule_id,
            turn=self.index,
            start=o_start,
            end=o_end,
            text=text,
            role=self.turn.role,
            severity=severity,
            explanation=prose,
            time=time,
            score=score,
            asr_confidence=self.turn.asr_confidence,
            evidence=evidence,
        )


@dataclass
class InspectionContext:
    interaction: Interaction
    turns: list[TurnView]
    hits: dict[str, list[Hit]] = field(default_factory=lambda: defaultdict(list))
    _emotions: list[TurnEmotion] | Future[list[TurnEmotion]] = field(default_factory=list, repr=False)
    _by_roles: dict[tuple[str, ...], list[TurnView]] = field(default_factory=dict)
    # Per-interaction results that several rules share (e.g. one model's score per turn), by key.
    memo: dict[object, dict] = field(default_factory=dict)
    emotion_source: str = ""  # the emotion scorer's source, named in emotion rules' evidence
    # A collector of each rule's decisions (`qa-engine score --trace`, qa_engine.trace); None, the
    # normal case, costs one check where a rule would note something.
    trace: RuleTrace | None = None

    @classmethod
    def build(cls, interaction: Interaction, index: PhraseIndex, segmenter: Segmenter) -> InspectionContext:
        views = [TurnView(i, t, normalize(t.text), index, segmenter) for i, t in enumerate(interaction.turns)]
        return cls(interaction=interaction, turns=views)

    @property
    def emotions(self) -> list[TurnEmotion]:
        """Per-turn emotions. The engine may set a Future (a model scoring them in the background
        while the text rules run); the first rule that reads them waits for it."""
        if isinstance(self._emotions, Future):
            self._emotions = self._emotions.result()
        return self._emotions

    @emotions.setter
    def emotions(self, value: list[TurnEmotion] | Future) -> None:
        self._emotions = value

    def turns_of(self, roles: tuple[str, ...]) -> list[TurnView]:
        cached = self._by_roles.get(roles)
        if cached is None:
            cached = self._by_roles[roles] = [t for t in self.turns if t.role in roles]
        return cached

    @property
    def has_times(self) -> bool:
        return all(t.turn.start is not None and t.turn.end is not None for t in self.turns) and bool(self.turns)
