"""The final score after people's review: dismissed hits removed, manual dimension scores applied.

With the scorecard that produced the automatic result, the remaining hits are scored again exactly
as the engine scores them (a dismissed critical hit lifts the 一票否决; a dismissed forbidden phrase
gives its points back). Without it (scorecard changed since), the automatic dimension scores are
kept and only critical rules whose every hit was dismissed are lifted. Manual dimension scores
then replace the dimension's score either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa_engine.schema import Result
from qa_engine.scorecard import FlagConfig, Scorecard


@dataclass(frozen=True)
class FinalScore:
    score: float
    flag: str
    dimensions: dict[str, float]
    critical: list[str]
    rescored: bool  # True when the scorecard was applied again to the remaining hits


def scorecard_matches(result: Result, card: Scorecard | None) -> bool:
    if card is None:
        return False
    produced_by = (result.versions.get("scorecards") or {}).get(result.channel)
    return produced_by == f"{card.name}@{card.version}"


def final_score(
    result: Result,
    *,
    dismissed: set[int],
    overrides: dict[str, float],
    turn_roles: list[str],
    card: Scorecard | None = None,
    rule_dimensions: dict[str, str] | None = None,
) -> FinalScore:
    """`dismissed`: positions in `result.hits`; `overrides`: dimension -> manual score."""
    kept = [h for i, h in enumerate(result.hits) if i not in dismissed]
    rescored = scorecard_matches(result, card) and rule_dimensions is not None
    if rescored and card is not None and rule_dimensions is not None:  # card: scorecard_matches says so
        grouped: dict[str, list] = {}
        for h in kept:
            grouped.setdefault(h.rule_id, []).append(h)
        script = card.script_result(grouped)
        dims, _, _, critical = card.score(grouped, script, result.emotion, turn_roles, rule_dimensions)
        scores = {name: d.score for name, d in dims.items()}
        weights = {name: d.weight for name, d in dims.items()}
    else:
        kept_rules = {h.rule_id for h in kept}
        critical = [r for r in result.critical if r in kept_rules]
        scores = {name: d.score for name, d in result.dimensions.items()}
        weights = {name: d.weight for name, d in result.dimensions.items()}
    for name, value in overrides.items():
        if name in scores:
            scores[name] = float(value)
    total_weight = sum(weights.values()) or 1.0
    score = round(sum(scores[n] * weights[n] for n in scores) / total_weight, 1)
    if critical:
        score = 0.0
    flags = card.flags if card is not None else FlagConfig()
    flag = "red" if critical or score < flags.red_below else "yellow" if score < flags.yellow_below else "green"
    return FinalScore(score=score, flag=flag, dimensions=scores, critical=list(critical), rescored=rescored)
