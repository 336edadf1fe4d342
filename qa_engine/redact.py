"""PII redaction for stored text: phone numbers, ID cards, bank cards (Luhn), e-mail, addresses.

Each find is replaced by a typed placeholder such as [手机号]. Redaction runs before scoring, so the
offsets of every hit point into the redacted text that is stored. Word timestamps inside a
redacted span are dropped with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    regex: re.Pattern
    check: object = None  # callable(str) -> bool on the digits, or None


PATTERNS: tuple[PiiPattern, ...] = (
    PiiPattern("email", "[邮箱]", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    PiiPattern("id_card", "[身份证号]", re.compile(rf"(?<![0-9{_CN_DIGIT}])(?:{_D}{{17}}[{_CN_DIGIT}0-9Xx])(?![0-9{_CN_DIGIT}])")),
    PiiPattern(
        "bank_card",
        "[银行卡号]",
        re.compile(rf"(?<![0-9{_CN_DIGIT}])(?:{_D}{_SEP}?){{15,18}}{_D}(?![0-9{_CN_DIGIT}])"),
        check=lambda s: luhn_ok(re.sub(r"\D", "", _to_ascii_digits(s))),
    ),
    PiiPattern("mobile", "[手机号]", re.compile(rf"(?<![0-9{_CN_DIGIT}])(?:\+?86{_SEP})?[1一幺]{_SEP}?[3-9三四五六七八九]{_D}(?:{_SEP}?{_D}){{8}}(?![0-9{_CN_DIGIT}])")),
    PiiPattern("landline", "[座机号]", re.compile(rf"(?<![0-9{_CN_DIGIT}])[0零]{_D}{{2,3}}{_SEP}{_D}{{7,8}}(?![0-9{_CN_DIGIT}])")),
    PiiPattern(
        "address",
        "[详细地址]",
        # Starts at the text start or after 是/在/址/到/punctuation, so "地址是" stays readable.
        re.compile(r"(?:^|(?<=[是在址到:：,，\s]))(?:(?![是在址到送寄])[\u4e00-\u9fff]){2,16}?(?:路|街|大道|巷|弄)[0-9一二三四五六七八九十百零]{1,5}号(?:[0-9一二三四五六七八九十百零]{1,4}(?:栋|幢|号楼|单元|室|楼))*"),
    ),
)


def redact_text(text: str) -> tuple[str, list[tuple[int, int, str]]]:
    """Redacted text and the (start, end, kind) spans replaced in the original."""
    spans: list[tuple[int, int, PiiPattern]] = []
    taken = [False] * len(text)
    for pattern in PATTERNS:
        for m in pattern.regex.finditer(text):
            if any(taken[m.start() : m.end()]):
                continue
            if pattern.check is not None and not pattern.check(m.group()):
                continue
            spans.append((m.start(), m.end(), pattern))
            taken[m.start() : m.end()] = [True] * (m.end() - m.start())
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


def redact_interaction(item: Interaction) -> Interaction:
    """A copy with every turn's text redacted; metadata records how many of each kind."""
    counts: dict[str, int] = {}
    turns: list[Turn] = []
    for turn in item.turns:
        text, spans = redact_text(turn.text)
        if not spans:
            turns.append(turn)
            continue
        for _, _, kind in spans:
            counts[kind] = counts.get(kind, 0) + 1
        words = turn.words
        if words:
            # Keep the timing of words that are not (part of) a redacted value.
            hidden = {c for s, e, _ in spans for c in turn.text[s:e]}
            words = [w for w in words if not (set(w.text) & hidden and any(ch.isdigit() or ch in _CN_DIGIT for ch in w.text))]
        turns.append(turn.model_copy(update={"text": text, "words": words}))
    metadata = dict(item.metadata)
    metadata["redacted"] = counts
    return item.model_copy(update={"turns": turns, "metadata": metadata})
