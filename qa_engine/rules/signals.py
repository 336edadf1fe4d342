"""Operators on turn timing: silence, interruption, speech rate, chat response time."""

from __future__ import annotations

from pydantic import Field

from qa_engine import timing
from qa_engine.context import InspectionContext, TurnView
from qa_engine.rules.base import Resources, RuleOperator, RuleSpec, register
from qa_engine.schema import Hit, SignalEvidence
from qa_engine.text.lexicon import load_word_list


def _timed(ctx: InspectionContext) -> list | None:
    turns = [v.turn for v in ctx.turns]
    return turns if timing.timed(turns) else None


@register("silence")
class SilenceOperator(RuleOperator):
    """A gap longer than `min_seconds` before a turn of the rule's roles, unless the agent said
    a hold phrase (请稍等) in the turns just before it and the gap stays under `max_excused`."""

    params: Params

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
        for gap in timing.gaps(timed):
            if gap.turn not in selected or gap.seconds <= self.params.min_seconds:
                continue
            excuse = self._excuse(ctx, gap.turn)
            if excuse and (self.params.max_excused is None or gap.seconds <= self.params.max_excused):
                continue
            evidence = SignalEvidence(
                operator=self.name, measure="silence_s", value=gap.seconds, limit=self.params.min_seconds, excuse=excuse or None
            )
            note = f"（虽说了「{excuse}」，但超过 {self.params.max_excused:g} 秒）" if excuse else ""
            prose = f"静默 {evidence.value:.1f} 秒（{gap.start:.1f}–{gap.end:.1f} s），超过 {evidence.limit:g} 秒{note}"
            hits.append(self.turn_hit(ctx.turns[gap.turn], evidence=evidence, prose=prose, time=(gap.start, gap.end)))
        return hits


@register("interruption")
class InterruptionOperator(RuleOperator):
    """A turn of the rule's roles starting while the other party still speaks, for > `min_seconds`."""

    params: Params

    class Params(RuleOperator.Params):
        min_seconds: float = Field(default=0.3, ge=0)

    def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
        timed = _timed(ctx)
        if timed is None:
            return []
        selected = {v.index for v in turns}
        hits = []
        for ov in timing.overlaps(timed):
            if ov.turn in selected and ov.seconds > self.params.min_seconds:
                evidence = SignalEvidence(
                    operator=self.name, measure="overlap_s", value=ov.seconds, limit=self.params.min_seconds
                )
                prose = f"抢话：在第 {ov.over} 轮未说完时开口，重叠 {evidence.value:.2f} 秒"
                hits.append(self.turn_hit(ctx.turns[ov.turn], evidence=evidence, prose=prose, time=(ov.start, ov.end)))
        return hits


@register("speech_rate")
class SpeechRateOperator(RuleOperator):
    """Characters per minute of each selected role over all its speech, outside [min_cpm, max_cpm]."""

    params: Params

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
            if not mine or timing.talk_seconds(timed, role) < self.params.min_talk_seconds:
                continue
            cpm = timing.chars_per_minute([v.turn for v in mine], role)
            if cpm is None:
                continue
            too_fast = self.params.max_cpm is not None and cpm > self.params.max_cpm
            too_slow = self.params.min_cpm is not None and cpm < self.params.min_cpm
            if not (too_fast or too_slow):
                continue

            # Point at the turn that is most extreme in the offending direction.
            def rate(v: TurnView) -> float:
                start, end = timing.span(v.turn)
                return timing.spoken_chars(v.turn.text) / max(end - start, 0.1)

            worst = max(mine, key=rate) if too_fast else min(mine, key=rate)
            evidence = SignalEvidence(
                operator=self.name,
                measure="chars_per_minute",
                value=cpm,
                limit=self.params.max_cpm if too_fast else self.params.min_cpm,
                above=too_fast,
            )
            bound = f"高于上限 {evidence.limit:g}" if evidence.above else f"低于下限 {evidence.limit:g}"
            prose = f"{'客服' if role == 'agent' else '客户'}语速 {evidence.value:.0f} 字/分钟，{bound}"
            hits.append(self.turn_hit(worst, evidence=evidence, prose=prose))
        return hits


@register("response_time")
class ResponseTimeOperator(RuleOperator):
    """Chat reply delays: the first agent response and every later reply, measured from the first
    customer message still waiting for an answer."""

    params: Params

    class Params(RuleOperator.Params):
        first_max_seconds: float | None = Field(default=30.0, gt=0)
        reply_max_seconds: float | None = Field(default=60.0, gt=0)

    def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
        timed = _timed(ctx)
        if timed is None:
            return []
        selected = {v.index for v in turns}
        hits = []
        for n, (turn, delay) in enumerate(timing.reply_delays(timed)):
            limit = self.params.first_max_seconds if n == 0 else self.params.reply_max_seconds
            if limit is None or delay <= limit or turn not in selected:
                continue
            evidence = SignalEvidence(
                operator=self.name, measure="first_response_s" if n == 0 else "reply_s", value=delay, limit=limit
            )
            kind = "首次响应" if evidence.measure == "first_response_s" else "回复"
            prose = f"{kind}用时 {evidence.value:.0f} 秒，超过 {evidence.limit:g} 秒"
            hits.append(
                self.turn_hit(
                    ctx.turns[turn], evidence=evidence, prose=prose, time=(timed[turn].start - delay, timed[turn].start)
                )
            )
        return hits
