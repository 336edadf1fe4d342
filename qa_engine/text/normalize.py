"""Text normalisation before matching, keeping a map back to the original characters.

Steps: full-width to half-width and lower case, Traditional to Simplified (OpenCC ``t2s``), and
whitespace: dropped next to CJK characters, runs collapsed elsewhere. Every normalised character
remembers the index of the original character it came from, so hits point into the original text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import opencc


@dataclass(frozen=True, slots=True)
class NormalizedText:
    original: str
    text: str
    # origin[i] is the index in `original` of normalised character i.
    origin: Sequence[int]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalised span [start, end) to the original text."""
        if start >= end:
            pos = self.origin[start] if start < len(self.origin) else len(self.original)
            return pos, pos
        return self.origin[start], self.origin[end - 1] + 1


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


@lru_cache(maxsize=65536)
def _t2s_char(ch: str) -> str:
    out = _t2s().convert(ch)
    return out if len(out) == 1 else ch


# Full-width ASCII to half-width, ideographic space to space, ASCII upper to lower case.
_WIDTH_AND_CASE = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_WIDTH_AND_CASE |= {code: code + 32 for code in range(0x41, 0x5B)}
_WIDTH_AND_CASE |= {code: half + 32 for code, half in _WIDTH_AND_CASE.items() if 0x41 <= half <= 0x5A}
_SPACE = re.compile(r"\s")
_SPACE_RUN = re.compile(r"\s+")


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF


def to_simplified(text: str) -> str:
    """Traditional to Simplified, length-preserving (phrase conversion where OpenCC keeps length)."""
    converted = _t2s().convert(text)
    if len(converted) == len(text):
        return converted
    # OpenCC changed the length (rare phrase rules): fall back to per-character conversion.
    return "".join(_t2s_char(c) for c in text)


def simplified_original(norm: NormalizedText) -> str:
    """to_simplified(norm.original), taken from the normalised text when normalisation changed
    nothing else (no width or case mapping, no whitespace): one OpenCC pass per turn, not two."""
    original = norm.original
    if isinstance(norm.origin, range) and original.translate(_WIDTH_AND_CASE) == original:
        return norm.text  # _normalize: to_simplified of the unchanged text, no whitespace to remove
    return to_simplified(original)


def normalize(text: str) -> NormalizedText:
    # Agents repeat template lines and the n-gram models normalise what the engine already did:
    # short texts come from a cache (NormalizedText is immutable); long ones are not kept.
    if len(text) <= _CACHED_CHARS:
        return _normalize_cached(text)
    return _normalize(text)


_CACHED_CHARS = 256


def _normalize(text: str) -> NormalizedText:
    chars = to_simplified(text.translate(_WIDTH_AND_CASE))
    if not _SPACE.search(chars):
        return NormalizedText(original=text, text=chars, origin=range(len(chars)))
    out: list[str] = []
    origin: list[int] = []
    pos, n = 0, len(chars)
    for run in _SPACE_RUN.finditer(chars):  # whole runs of whitespace, text between them by slices
        i, j = run.span()
        out.append(chars[pos:i])
        origin.extend(range(pos, i))
        # Spaces between Chinese characters are layout, not word breaks; keep one elsewhere.
        if 0 < i and j < n and not (is_cjk(chars[i - 1]) or is_cjk(chars[j])):
            out.append(" ")
            origin.append(i)
        pos = j
    out.append(chars[pos:])
    origin.extend(range(pos, n))
    return NormalizedText(original=text, text="".join(out), origin=tuple(origin))


_normalize_cached = lru_cache(maxsize=32768)(_normalize)
