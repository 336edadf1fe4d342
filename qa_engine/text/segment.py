"""jieba word boundaries, with a user dictionary built from our lexicons.

A phrase match counts only where it does not cut through an ordinary word: 滚 in 滚筒洗衣机 or 保证
in 保证金 is not a hit. Cutting into a token that is itself one of our lexicon terms is allowed,
because jieba may glue a shorter term into a longer one (没办法 inside 我也没办法).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import jieba

_MEMO_MAX = 1 << 16  # entries per memo; emptied when full (bounded memory on an endless stream)


class Segmenter:
    def __init__(self, lexicon_terms: Iterable[str]) -> None:
        jieba.setLogLevel(logging.WARNING)
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        self.lexicon_terms = frozenset(lexicon_terms)
        # memos (plain dicts: a get or set is atomic under the GIL, and a race only recomputes)
        self._cuts: dict[tuple[str, int, int], bool] = {}
        self._tokens: dict[str, tuple[tuple[int, int, str], ...]] = {}
        self._boundaries: dict[str, TokenBoundaries] = {}
        for term in self.lexicon_terms:
            # Single characters are tokens anyway; adding them would split ordinary words.
            if len(term) > 1 and not term.isascii():
                self._tokenizer.add_word(term)

    def may_cut_word(self, text: str, pos: int, reach: int = 3) -> bool:
        """Cheap pre-check: does any dictionary word (up to `reach` characters on either side)
        span position `pos`? Only then is a full jieba pass needed to decide."""
        if pos <= 0 or pos >= len(text):
            return False
        lo = max(0, pos - reach)
        # the answer depends on these few characters only, and matches of the same lexicon terms
        # meet the same neighbours again and again: memoised
        key = (text[lo : pos + reach], pos - lo, reach)
        known = self._cuts.get(key)
        if known is None:
            if len(self._cuts) >= _MEMO_MAX:
                self._cuts.clear()
            known = self._cuts[key] = self._may_cut(*key)
        return known

    def _may_cut(self, text: str, pos: int, reach: int) -> bool:
        freq = self._tokenizer.FREQ
        for a in range(max(0, pos - reach), pos):
            for b in range(pos + 1, min(len(text), pos + reach) + 1):
                f = freq.get(text[a:b])
                if f:
                    return True
                if f is None:  # jieba keeps every prefix of a word (count 0): no word starts this way
                    break
        return False

    def tokens(self, text: str) -> list[tuple[int, int, str]]:
        """jieba's tokens (start, end, word), memoised per text (agents repeat template lines)."""
        return list(self._tokens_of(text))

    def _tokens_of(self, text: str) -> tuple[tuple[int, int, str], ...]:
        known = self._tokens.get(text)
        if known is None:
            if len(self._tokens) >= _MEMO_MAX:
                self._tokens.clear()
            known = self._tokens[text] = tuple((s, e, w) for w, s, e in self._tokenizer.tokenize(text, HMM=False))
        return known

    def boundaries(self, text: str) -> TokenBoundaries:
        """TokenBoundaries of a text's tokens, memoised per text like the tokens: a template line or a
        long turn's window around a match is met again by every rule and interaction that matches there."""
        known = self._boundaries.get(text)
        if known is None:
            if len(self._boundaries) >= _MEMO_MAX:
                self._boundaries.clear()
            known = self._boundaries[text] = TokenBoundaries(self._tokens_of(text), self.lexicon_terms)
        return known

    def cache_clear(self) -> None:
        self._cuts.clear()
        self._tokens.clear()
        self._boundaries.clear()

    def cut(self, text: str) -> list[str]:
        return [w for _, _, w in self.tokens(text)]


# Chat particles that jieba's dictionary glues onto words (满意哦, 急呀); a cut before them is fine.
PARTICLES = frozenset("哦呀啊吧呢嘛啦哈哒呐噢喔")


class TokenBoundaries:
    """Where a span may start or end in one text without splitting an ordinary word."""

    def __init__(self, tokens: Sequence[tuple[int, int, str]], lexicon_terms: frozenset[str]) -> None:
        # Positions strictly inside an ordinary (non-lexicon) word.
        self._blocked: set[int] = set()
        for start, end, word in tokens:
            if end - start > 1 and word not in lexicon_terms:
                inner_end = end - 1 if word[-1] in PARTICLES else end
                self._blocked.update(range(start + 1, inner_end))

    def respects(self, start: int, end: int) -> bool:
        return start not in self._blocked and end not in self._blocked
