"""Operators on turn timing: silence, interruption, speech rate, chat response time."""

from __future__ import annotations

from pydantic import Field

from qa_engine import signals
from qa_engine.context import InspectionContext, TurnView
from qa_engine.lexicon import load_word_list
from qa_engine.rules.base import Resources, RuleOperator, RuleSpec, register
from qa_engine.schema import Hit


def _timed(ctx: InspectionContext) -> list | None:
    turns = [v.turn for v in ctx.turns]
    return turns if signals.timed(turns) else None


@register("silence")
class SilenceOperator(RuleOperator):
    """A gap longer than `min_seconds` before a turn of the rule's roles, unless the agent said
    a hold phrase (请稍等) in the turns just before it and the gap stays under `max_excused`."""

    class Params(RuleOperator.Params):
        min_seconds: float = Field(default=5.0, gt=0)
        exceptions_file: str | None = "hold_phrases.txt"
        exception_turns: int = Field(default=2, ge=0)
        max_excused: float | None = Field(default=60.0, gt=0)

    def __init__(self, spec: RuleSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        self.hold_list = None
        if self.params.exceptions_file:
            words = load_word_list(resources.words_path(self.params.exceptions_file))
            self.hold_list = resources.index.add_list(f"rule:{spec.id}:hold", words)

    def _excuse(self, ctx: InspectionContext, turn: int) -> str | None:
        if self.hold_list is None:
            return None
        for view in ctx.turns[max(0, turn - self.params.exception_turns) : turn]:
            if view.role == "agent":
                found = view.matches(self.hold_list)
                if found:
                    return found[0].term
        return None

    def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
        timed = _timed(ctx)
        if timed is None:
            return []
        selected = {v.index for v in turns}
        hits = []
        for gap in signals.gaps(timed):
            if gap.turn not in selected or gap.seconds <= self.params.min_seconds:
                continue
            excuse = self._excuse(ctx, gap.turn)
            if excuse and (self.params.max_excused is None or gap.seconds <= self.params.max_excused):
                continue
            hit = self.turn_hit(ctx.turns[gap.turn])
            note = f"（虽说了「{excuse}」，但超过 {self.params.max_excused:g} 秒）" if excuse else ""
            hit.explanation = f"静默 {gap.seconds:.1f} 秒（{gap.start:.1f}–{gap.end:.1f} s），超过 {self.params.min_seconds:g} 秒{note}"
            hit.time = (gap.start, gap.end)
            hits.append(hit)
        return hits


@register("interruption")
class InterruptionOperator(RuleOperator):
    """A turn of the rule's roles starting while the other party still speaks, for > `min_seconds`."""

    class Params(RuleOperator.Params):
        min_seconds: float = Field(default=0.3, ge=0)

    def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
        timed = _timed(ctx)
        if timed is None:
            return []
        selected = {v.index for v in turns}
        hits = []
        for ov in signals.overlaps(timed):
            if ov.turn in selected and ov.seconds > self.params.min_seconds:
                hit = self.turn_hit(ctx.turns[ov.turn])
                hit.explanation = f"抢话：在第 {ov.over} 轮未说完时开口，重叠 {ov.seconds:.2f} 秒"
                hit.time = (ov.start, ov.end)
                hits.append(hit)
        return hits


@register("speech_rate")
class SpeechRateOperator(RuleOperator):
    """Characters per minute of each selected role over all its speech, outside [min_cpm, max_cpm]."""

    class Params(RuleOperator.Params):
        min_cpm: float | None = Field(default=None, gt=0)
        max_cpm: float | None = Field(default=None, gt=0)
        min_talk_seconds: float = Field(default=5.0, ge=0)

    def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
        timed = _timed(ctx)
        if timed is None:
            return []
        hits = []
        for role in self.spec.roles:
            mine = [v for v in turns if v.role == role]
            if not mine or signals.talk_seconds(timed, role) < self.params.min_talk_seconds:
                continue
            cpm = signals.chars_per_minute([v.turn for v in mine], role)
            if cpm is None:
                continue
            too_fast = self.params.max_cpm is not None and cpm > self.params.max_cpm
            too_slow = self.params.min_cpm is not None and cpm < self.params.min_cpm
            if not (too_fast or too_slow):
                continue
            # Point at the turn that is most extreme in the offending direction.
            def rate(v: TurnView) -> float:
                return signals.spoken_chars(v.turn.text) / max(v.turn.end - v.turn.start, 0.1)

            worst = max(mine, key=rate) if too_fast else min(mine, key=rate)
            hit = self.turn_hit(worst)
            bound = f"高于上限 {self.params.max_cpm:g}" if too_fast else f"低于下限 {self.params.min_cpm:g}"
            hit.explanation = f"{'客服' if role == 'agent' else '客户'}语速 {cpm:.0f} 字/分钟，{bound}"
            hits.append(hit)
        return hits


@register("response_time")
class ResponseTimeOperator(RuleOperator):
    """Chat reply delays: the first agent response and every later reply, measured from the first
    customer message still waiting for an answer."""

    class Params(RuleOperator.Params):
        first_max_seconds: float | None = Field(default=30.0, gt=0)
        reply_max_seconds: float | None = Field(default=60.0, gt=0)

    def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
        timed = _timed(ctx)
        if timed is None:
            return []
        selected = {v.index for v in turns}
        hits = []
        for n, (turn, delay) in enumerate(signals.reply_delays(timed)):
            limit = self.params.first_max_seconds if n == 0 else self.params.reply_max_seconds
            if limit is None or delay <= limit or turn not in selected:
                continue
            hit = self.turn_hit(ctx.turns[turn])
            kind = "首次响应" if n == 0 else "回复"
            hit.explanation = f"{kind}用时 {delay:.0f} 秒，超过 {limit:g} 秒"
            hit.time = (timed[turn].start - delay, timed[turn].start)
            hits.append(hit)
        return hits
