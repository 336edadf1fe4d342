"""PII redaction for stored text: phone numbers, ID cards, bank cards, e-mail, addresses.

Each find is replaced by a typed placeholder such as [手机号]. Redaction runs before scoring, so the
offsets of every hit point into the redacted text that is stored. Word timestamps inside a
redacted span are dropped with it. Besides the turns, every string (and integer) value inside the
metadata, the unknown top-level fields and the turns' own unknown fields is redacted; keys stay.

A 16-19 digit run is a bank card when it passes the Luhn check, or whatever its check digit when a
card word (卡, 卡号, 银行卡, card) comes just before it ("卡号是6222 ...", "card no. 6222...").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from qa_engine.schema import Interaction, Turn

_CN_DIGIT = "零〇一二两三四五六七八九幺"
_D = rf"[0-9{_CN_DIGIT}]"
_SEP = r"[-\s]?"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _to_ascii_digits(text: str) -> str:
    return text.translate(str.maketrans("零〇一二两三四五六七八九幺", "0012234567891"))


@dataclass(frozen=True)
class PiiPattern:
    kind: str
    placeholder: str
    regex: re.Pattern  # a group named `value`, when present, is the part replaced (the rest is context)
    check: Callable[[str], bool] | None = None  # on the digits


_CARD_DIGITS = rf"(?:{_D}{_SEP}?){{15,18}}{_D}"  # 16-19 digits, single spaces or dashes between
# The words that may stand between a card word and its number: "卡号是", "银行卡号码为：", "card no. ".
_CARD_GAP = r"(?:[\s:：#=,，.。\-]|号|码|是|为|的|no|num(?:ber)?|is){0,6}"

PATTERNS: tuple[PiiPattern, ...] = (
    PiiPattern("email", "[邮箱]", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    # Before the ID card pattern: an 18-digit number after 卡号 is a card.
    PiiPattern(
        "bank_card",
        "[银行卡号]",
        re.compile(rf"(?i)(?:卡|card){_CARD_GAP}(?<![0-9{_CN_DIGIT}])(?P<value>{_CARD_DIGITS})(?![0-9{_CN_DIGIT}])"),
    ),
    PiiPattern(
        "id_card", "[身份证号]", re.compile(rf"(?<![0-9{_CN_DIGIT}])(?:{_D}{{17}}[{_CN_DIGIT}0-9Xx])(?![0-9{_CN_DIGIT}])")
    ),
    PiiPattern(
        "bank_card",
        "[银行卡号]",
        re.compile(rf"(?<![0-9{_CN_DIGIT}]){_CARD_DIGITS}(?![0-9{_CN_DIGIT}])"),
        check=lambda s: luhn_ok(re.sub(r"\D", "", _to_ascii_digits(s))),
    ),
    PiiPattern(
        "mobile",
        "[手机号]",
        re.compile(
            rf"(?<![0-9{_CN_DIGIT}])(?:\+?86{_SEP})?[1一幺]{_SEP}?[3-9三四五六七八九]{_D}(?:{_SEP}?{_D}){{8}}(?![0-9{_CN_DIGIT}])"
        ),
    ),
    PiiPattern(
        "landline", "[座机号]", re.compile(rf"(?<![0-9{_CN_DIGIT}])[0零]{_D}{{2,3}}{_SEP}{_D}{{7,8}}(?![0-9{_CN_DIGIT}])")
    ),
    PiiPattern(
        "address",
        "[详细地址]",
        # Starts at the text start or after 是/在/址/到/punctuation, so "地址是" stays readable.
        re.compile(
            r"(?:^|(?<=[是在址到:：,，\s]))(?:(?![是在址到送寄])[\u4e00-\u9fff]){2,16}?(?:路|街|大道|巷|弄)[0-9一二三四五六七八九十百零]{1,5}号(?:[0-9一二三四五六七八九十百零]{1,4}(?:栋|幢|号楼|单元|室|楼))*"
        ),
    ),
)


def redact_text(text: str) -> tuple[str, list[tuple[int, int, str]]]:
    """Redacted text and the (start, end, kind) spans replaced in the original."""
    spans: list[tuple[int, int, PiiPattern]] = []
    taken = [False] * len(text)
    for pattern in PATTERNS:
        group = "value" if "value" in pattern.regex.groupindex else 0
        for m in pattern.regex.finditer(text):
            start, end = m.span(group)
            if any(taken[start:end]):
                continue
            if pattern.check is not None and not pattern.check(m.group(group)):
                continue
            spans.append((start, end, pattern))
            taken[start:end] = [True] * (end - start)
    if not spans:
        return text, []
    spans.sort(key=lambda s: s[0])
    out, last = [], 0
    for start, end, pattern in spans:
        out.append(text[last:start])
        out.append(pattern.placeholder)
        last = end
    out.append(text[last:])
    return "".join(out), [(s, e, p.kind) for s, e, p in spans]


def redact_value(value: Any) -> Any:
    """`value` with every string inside it (through dicts and lists) redacted; keys stay. An integer
    that reads as a phone or card number becomes its placeholder; other values are kept."""
    if isinstance(value, str):
        return redact_text(value)[0]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        text, spans = redact_text(str(value))
        return text if spans else value
    if isinstance(value, dict):
        return {key: redact_value(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


_KIND_OF_PLACEHOLDER = {p.placeholder: p.kind for p in PATTERNS}
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in _KIND_OF_PLACEHOLDER))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _redact_turn(turn: Turn) -> Turn:
    text, spans = redact_text(turn.text)
    extra = redact_value(turn.model_extra or {})
    if not spans and extra == (turn.model_extra or {}):
        return turn
    words = turn.words
    if words and spans:
        # Keep the timing of words that are not (part of) a redacted value.
        hidden = {c for s, e, _ in spans for c in turn.text[s:e]}
        words = [w for w in words if not (set(w.text) & hidden and any(ch.isdigit() or ch in _CN_DIGIT for ch in w.text))]
    return turn.model_copy(update={**extra, "text": text, "words": words})


def redact_interaction(item: Interaction) -> Interaction:
    """A copy with its turns, metadata and unknown fields redacted. `metadata["redacted"]` counts the
    placeholders of each kind in the result, so redacting a redacted interaction changes nothing."""
    turns = [_redact_turn(turn) for turn in item.turns]
    metadata = {key: redact_value(v) for key, v in item.metadata.items() if key != "redacted"}
    extra = redact_value(dict(item.model_extra or {}))
    counts: dict[str, int] = {}
    texts = (s for t in turns for s in (t.text, *_strings(t.model_extra or {})))
    for text in (*texts, *_strings(metadata), *_strings(extra)):
        for m in _PLACEHOLDER.finditer(text):
            kind = _KIND_OF_PLACEHOLDER[m.group()]
            counts[kind] = counts.get(kind, 0) + 1
    metadata["redacted"] = counts
    return item.model_copy(update={**extra, "turns": turns, "metadata": metadata})
