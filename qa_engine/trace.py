"""Why a hit exists or does not: each rule's decisions on an interaction (`qa-engine score --trace`).

The engine and the operators note their decisions into a RuleTrace when one is given
(`Inspector.inspect(interaction, trace=RuleTrace())`): turns a rule's scope leaves out, turns its
`unless` rules veto, phrases dropped as negated or off word boundaries, regex matches excluded, a
model's probability against its threshold, an exemplar's similarity against its threshold, hits
dropped as contained in a stronger hit of their group, and the hits that remain. Without a trace
(the normal case) nothing is noted: each place checks `ctx.trace is not None` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from qa_engine.schema import Hit, Interaction

Step = Literal[
    "scope", "unless", "phrase", "negation", "word_boundary", "exclusion", "model", "exemplar", "emotion", "contained", "hit"
]


@dataclass(frozen=True)
class Decision:
    rule_id: str
    turn: int | None  # None: the interaction as a whole
    step: Step
    kept: bool  # False: this step ruled the candidate (or the turn) out
    detail: str


@dataclass
class RuleTrace:
    decisions: list[Decision] = field(default_factory=list)

    def note(self, rule_id: str, turn: int | None, step: Step, kept: bool, detail: str) -> None:
        self.decisions.append(Decision(rule_id, turn, step, kept, detail))

    def hits(self, hits: list[Hit]) -> None:
        for h in hits:
            where = f"「{h.text}」 " if h.text else ""
            self.note(h.rule_id, h.turn, "hit", True, f"{where}[{h.severity}] {h.explanation}")

    def render(self, interaction: Interaction) -> str:
        """Per turn, each rule's decisions in the order they were taken; rules a turn is not
        listed under found nothing there to consider (no phrase, no pattern, not selected by role)."""
        by_turn: dict[int | None, list[Decision]] = {}
        for d in self.decisions:
            by_turn.setdefault(d.turn, []).append(d)
        lines = [f"== {interaction.interaction_id} ({interaction.channel}, {len(interaction.turns)} turns)"]
        for turn in [*range(len(interaction.turns)), None]:
            decisions = by_turn.get(turn)
            if turn is not None:
                t = interaction.turns[turn]
                lines.append(f"turn {turn} {t.role}: {t.text}")
            elif decisions:
                lines.append("interaction:")
            for d in decisions or ():
                lines.append(f"  {d.rule_id:<32} {d.step:<13} {'+' if d.kept else '-'} {d.detail}")
        return "\n".join(lines)


__all__ = ["Decision", "RuleTrace", "Step"]
