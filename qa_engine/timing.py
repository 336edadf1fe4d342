"""Timing signals computed from turn times: gaps, overlaps, speech rate, talk time, reply delays."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from qa_engine.schema import Turn

_SPOKEN = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")


@dataclass(frozen=True, slots=True)
class Gap:
    """Nobody speaks between `start` and `end`; `turn` is the turn that ends the gap."""

    turn: int
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Overlap:
    """`turn` starts while `over` (another role) is still speaking."""

    turn: int
    over: int
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def timed(turns: Sequence[Turn]) -> bool:
    return bool(turns) and all(t.start is not None and t.end is not None for t in turns)


def span(t: Turn) -> tuple[float, float]:
    """Start and end of a timed turn: the functions below are called on turns that `timed` accepted."""
    assert t.start is not None and t.end is not None, "untimed turn"
    return t.start, t.end


def gaps(turns: Sequence[Turn]) -> list[Gap]:
    out: list[Gap] = []
    last_end: float | None = None
    for i, t in enumerate(turns):
        start, end = span(t)
        if last_end is not None and start > last_end:
            out.append(Gap(i, last_end, start))
        last_end = end if last_end is None else max(last_end, end)
    return out


def overlaps(turns: Sequence[Turn]) -> list[Overlap]:
    out: list[Overlap] = []
    for i, t in enumerate(turns):
        start, t_end = span(t)
        for j in range(i - 1, -1, -1):
            prev = turns[j]
            if prev.role == t.role:
                continue
            prev_start, prev_end = span(prev)
            end = min(prev_end, t_end)
            if prev_start <= start < end:
                out.append(Overlap(i, j, start, end))
                break
    return out


def spoken_chars(text: str) -> int:
    return len(_SPOKEN.findall(text))


def talk_seconds(turns: Sequence[Turn], role: str) -> float:
    return sum(end - start for start, end in (span(t) for t in turns if t.role == role))


def chars_per_minute(turns: Sequence[Turn], role: str) -> float | None:
    seconds = talk_seconds(turns, role)
    if seconds <= 0:
        return None
    return spoken_chars("".join(t.text for t in turns if t.role == role)) * 60.0 / seconds


def reply_delays(turns: Sequence[Turn]) -> list[tuple[int, float]]:
    """(agent turn, seconds since the first unanswered customer message) for each agent reply."""
    out: list[tuple[int, float]] = []
    waiting_since: float | None = None
    for i, t in enumerate(turns):
        if t.role == "customer":
            if waiting_since is None:
                waiting_since = span(t)[0]
        elif waiting_since is not None:
            out.append((i, max(0.0, span(t)[0] - waiting_since)))
            waiting_since = None
    return out
