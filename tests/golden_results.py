"""Golden results of the default engine on the 800 real JD chat sessions (research data, not committed).

Refactors must not change what the engine finds: tests/test_golden_results.py rescores the sessions
and compares them with tests/golden/jddc800.json, which holds per session the score, the flag and a
digest of everything else that is compared (critical rules, dimension scores and deductions,
satisfaction, stats, and per hit its rule, turn, span, severity, score and explanation), plus a few
totals. What is compared is `compared(result)`: a field added to results later (a hit's structured
evidence) is not part of it.

The file depends on the committed rule packs, scorecards and models: after a change that is meant to
change results, regenerate it (one line, from the repository root, QA_SHARED_DIR set):

    PYTHONPATH=. .venv/bin/python -m tests.golden_results --update
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.schema import Interaction, Result

GOLDEN = Path(__file__).resolve().parent / "golden" / "jddc800.json"


def _round(value: float) -> float:
    return round(value, 4)  # model probabilities differ in the last float bits across onnxruntime builds


def compared(result: Result) -> dict[str, Any]:
    """What must stay identical: the result without its versions (digests of the models) and
    without fields added after the golden was made."""
    sat = result.satisfaction
    return {
        "score": _round(result.score),
        "flag": result.flag,
        "critical": result.critical,
        "dimensions": {name: [_round(d.score), _round(d.weight), d.deductions] for name, d in sorted(result.dimensions.items())},
        "satisfaction": None if sat is None else [_round(sat.predicted), _round(sat.dissatisfied), sat.evidence],
        "script": result.script.model_dump(),
        "emotion": [[e.turn, e.label, e.polarity, _round(e.confidence)] for e in result.emotion.turns],
        "stats": {k: _round(float(v)) for k, v in sorted(result.stats.model_dump(exclude_none=True).items())},
        "hits": [[h.rule_id, h.dimension, h.turn, h.start, h.end, h.text, h.role, h.severity, h.explanation,
                  _round(h.score)] for h in result.hits],
    }


def digest(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def score_sessions() -> dict[str, Any]:
    """The golden record of the default engine (its settings' defaults, no .env) on the 800 sessions."""
    from qa_datasets.jddc import load_sessions

    interactions = [Interaction.model_validate(s) for s in load_sessions()]
    inspector = Inspector(Settings(_env_file=None))
    sessions: dict[str, Any] = {}
    hits_by_rule: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    for item, result in zip(interactions, inspector.inspect_many(interactions), strict=True):
        if isinstance(result, Exception):
            raise result
        data = compared(result)
        sessions[item.interaction_id] = [data["score"], data["flag"], digest(data)]
        hits_by_rule.update(h.rule_id for h in result.hits)
        flags[result.flag] += 1
    return {
        "sessions": sessions,
        "totals": {"sessions": len(sessions), "flags": dict(sorted(flags.items())),
                   "hits_by_rule": dict(sorted(hits_by_rule.items())),
                   "mean_score": round(sum(s[0] for s in sessions.values()) / len(sessions), 4)},
    }


def render(record: dict[str, Any]) -> str:
    """One line per session, so that a diff of the file names the sessions that changed."""
    one = lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True)
    rows = ",\n".join(f"  {one(sid)}: {one(row)}" for sid, row in sorted(record["sessions"].items()))
    return f'{{\n "totals": {one(record["totals"])},\n "sessions": {{\n{rows}\n }}\n}}\n'


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--update", action="store_true", help=f"write {GOLDEN.relative_to(Path.cwd()) if GOLDEN.is_relative_to(Path.cwd()) else GOLDEN}")
    args = ap.parse_args()
    record = score_sessions()
    if args.update:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(render(record), encoding="utf-8")
        print(f"wrote {GOLDEN} ({len(record['sessions'])} sessions)")
    else:
        json.dump(record["totals"], sys.stdout, ensure_ascii=False, indent=1)
        print()


if __name__ == "__main__":
    main()
