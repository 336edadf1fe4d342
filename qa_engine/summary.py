"""A readable summary of scored results for terminals."""

from __future__ import annotations

from collections import Counter

from qa_engine.schema import Result

_FLAG = {"green": "绿 green", "yellow": "黄 yellow", "red": "红 red"}


def _satisfaction(r: Result) -> str:
    """The predicted satisfaction (-2..2), '!' when predicted dissatisfied; '-' without the model."""
    if r.satisfaction is None:
        return "-"
    return f"{r.satisfaction.predicted:+.2f}" + ("!" if r.satisfaction.dissatisfied >= 0.5 else "")


def format_summary(results: list[Result], failed: int = 0, *, detail: bool = False) -> str:
    lines = []
    header = f"{'interaction':<24} {'agent':<8} {'ch':<4} {'score':>6} {'flag':<9} {'hits':>4} {'satisf':>6}  top findings"
    lines.append(header)
    lines.append("-" * len(header))
    for r in results:
        findings = [h for h in r.hits if h.severity != "info"]
        top = "; ".join(f"{h.rule_id}「{h.text}」" if h.text else h.rule_id for h in findings[:3])
        lines.append(
            f"{r.interaction_id[:24]:<24} {(r.agent_id or '-')[:8]:<8} {r.channel:<4} {r.score:>6.1f} "
            f"{_FLAG[r.flag]:<9} {len(findings):>4} {_satisfaction(r):>6}  {top}"
        )
        if detail:
            dims = "  ".join(f"{k}={v.score:.0f}" for k, v in r.dimensions.items())
            lines.append(f"{'':<24} {dims}")
            for h in findings:
                where = f"turn {h.turn}" if h.turn is not None else "whole"
                lines.append(f"{'':<24}   [{h.severity}] {where}: {h.explanation}")
    flags = Counter(r.flag for r in results)
    predicted = [r.satisfaction for r in results if r.satisfaction is not None]
    avg = sum(r.score for r in results) / len(results) if results else 0.0
    lines.append("-" * len(header))
    lines.append(
        f"scored {len(results)}, failed {failed}; average {avg:.1f}; "
        f"red {flags['red']}, yellow {flags['yellow']}, green {flags['green']}"
        + (f"; predicted satisfaction {sum(p.predicted for p in predicted) / len(predicted):+.2f} (-2..2), "
           f"predicted dissatisfied {sum(p.dissatisfied >= 0.5 for p in predicted)}" if predicted else "")
    )
    return "\n".join(lines)
