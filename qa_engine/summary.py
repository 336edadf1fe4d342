"""A readable summary of scored results for terminals."""

from __future__ import annotations

import re
from collections import Counter

from qa_engine.schema import Result

_POINTS = re.compile(r"\(-(\d+(?:\.\d+)?)\)\s*$")  # a deduction's points: "forbidden.deflect: 4 处 (-100)"
_FLAG = {"green": "绿 green", "yellow": "黄 yellow", "red": "红 red"}


def why_below_100(result: Result, top: int = 3) -> str:
    """Why the score is below 100: a critical (一票否决) rule first, then the dimensions that lost the
    most points of the total (weight x points lost in the dimension), each with its first deduction."""
    parts = [f"一票否决 critical {', '.join(result.critical)}"] if result.critical else []
    total_weight = sum(d.weight for d in result.dimensions.values()) or 1.0
    lost = sorted(
        ((d.weight * (100 - d.score) / total_weight, name, d.deductions) for name, d in result.dimensions.items()),
        key=lambda x: -x[0],
    )
    for points, name, deductions in lost[:top]:
        if points < 0.05:
            break
        ranked = sorted(deductions, key=lambda d: -float(m.group(1)) if (m := _POINTS.search(d)) else 0.0)
        more = f", +{len(ranked) - 1} more" if len(ranked) > 1 else ""
        parts.append(f"{name} -{points:.1f}" + (f" [{ranked[0]}{more}]" if ranked else ""))
    return "; ".join(parts)


def _satisfaction(r: Result) -> str:
    """The predicted satisfaction (-2..2), '!' when predicted dissatisfied; '-' without the model."""
    if r.satisfaction is None:
        return "-"
    return f"{r.satisfaction.predicted:+.2f}" + ("!" if r.satisfaction.dissatisfied >= 0.5 else "")


def format_summary(results: list[Result], failed: int = 0, *, detail: bool = False) -> str:
    id_width = max([len("interaction"), *(len(r.interaction_id) for r in results)])  # ids are never cut
    agent_width = max([len("agent"), *(len(r.agent_id or "-") for r in results)])
    lines = []
    header = (f"{'interaction':<{id_width}} {'agent':<{agent_width}} {'ch':<4} {'score':>6} {'flag':<9} {'hits':>4} "
              f"{'satisf':>6}  why below 100 (points lost)")  # fmt: skip
    lines.append(header)
    lines.append("-" * len(header))
    pad = " " * (id_width + 1)
    for r in results:
        findings = [h for h in r.hits if h.severity != "info"]
        lines.append(
            f"{r.interaction_id:<{id_width}} {r.agent_id or '-':<{agent_width}} {r.channel:<4} {r.score:>6.1f} "
            f"{_FLAG[r.flag]:<9} {len(findings):>4} {_satisfaction(r):>6}  {why_below_100(r)}"
        )
        if detail:
            dims = "  ".join(f"{k}={v.score:.0f}" for k, v in r.dimensions.items())
            lines.append(f"{pad}{dims}")
            for h in findings:
                where = f"turn {h.turn}" if h.turn is not None else "whole"
                lines.append(f"{pad}  [{h.severity}] {where}: {h.explanation}")
    flags = Counter(r.flag for r in results)
    predicted = [r.satisfaction for r in results if r.satisfaction is not None]
    avg = sum(r.score for r in results) / len(results) if results else 0.0
    lines.append("-" * len(header))
    lines.append(
        f"scored {len(results)}, failed {failed}; average {avg:.1f}; "
        f"red {flags['red']}, yellow {flags['yellow']}, green {flags['green']}"
        + (
            f"; predicted satisfaction {sum(p.predicted for p in predicted) / len(predicted):+.2f} (-2..2), "
            f"predicted dissatisfied {sum(p.dissatisfied >= 0.5 for p in predicted)}"
            if predicted
            else ""
        )
    )
    return "\n".join(lines)
