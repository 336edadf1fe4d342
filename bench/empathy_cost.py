"""What empathy detection costs in text scoring: the default packs with and without the empathy
classifier rule (empathy.model, models/empathy_ngram), and with the opt-in e5 `empathy_similar` pack.

One engine with the default packs + empathy_similar; each variant scores the same sessions with a
subset of its rules (as bench/score_text.py times "without the classifier rules"), streamed like
`qa-engine score` (inspect_many, each result serialised), model caches emptied before every repeat,
best of N. Variants:
  phrase rules only       the default packs without empathy.model (the default before it was added);
  default                 the default packs (phrase rules + empathy.model);
  phrase rules + similar  the previous default with empathy_similar loaded beside it;
  default + similar.
Run (shared machine: lock it): flock /tmp/qa-bench.lock .venv/bin/python bench/empathy_cost.py [--limit 100] [--repeat 3]
    [--no-similar]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa_datasets.jddc import load_sessions  # noqa: E402
from qa_engine.config import Settings  # noqa: E402
from qa_engine.engine import Inspector  # noqa: E402
from qa_engine.schema import Interaction  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=100, help="the first N JD sessions")
    ap.add_argument("--repeat", type=int, default=3, help="repeats of the cheap variants (similar: 2)")
    ap.add_argument("--no-similar", action="store_true", help="only the two cheap variants")
    args = ap.parse_args()

    items = [Interaction.model_validate(s) for s in load_sessions()][: args.limit]
    settings = Settings()
    inspector = Inspector(settings.model_copy(update={"rule_packs": [*settings.rule_packs, "empathy_similar"]}))
    all_rules = inspector.ruleset.rules
    inspector.inspect(items[0])  # warm jieba, OpenCC

    def clear() -> None:
        for rule in all_rules:
            rule.cache_clear()
        inspector.emotion_scorer.cache_clear()

    def timed(keep, repeat: int) -> tuple[float, float, int]:
        inspector.ruleset.rules = [r for r in all_rules if keep(r.spec.id)]
        best, best_cpu, empathy_turns = float("inf"), float("inf"), 0
        for _ in range(repeat):
            clear()
            t0, c0 = time.perf_counter(), time.process_time()
            empathy_turns = 0
            for result in inspector.inspect_many(items):
                result.model_dump_json()
                empathy_turns += result.stats.empathy_turns
            best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
        inspector.ruleset.rules = all_rules
        return best, best_cpu, empathy_turns

    def similar(rid: str) -> bool:
        return rid.startswith("empathy_similar.")

    variants = {
        "phrase rules only (before)": (lambda rid: rid != "empathy.model" and not similar(rid), args.repeat),
        "default (phrase rules + empathy.model)": (lambda rid: not similar(rid), args.repeat),
        "phrase rules + empathy_similar": (lambda rid: rid != "empathy.model", 2),
        "default + empathy_similar": (lambda rid: True, 2),
    }
    if args.no_similar:
        variants = {k: v for k, v in variants.items() if "similar" not in k}
    turns = sum(len(i.turns) for i in items)
    agent = sum(t.role == "agent" for i in items for t in i.turns)
    print(f"{len(items)} JD sessions, {turns} turns ({agent} agent); emotion scorer {inspector.emotion_scorer.source}; "
          f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    base = None
    for name, (keep, repeat) in variants.items():
        secs, cpu, emp = timed(keep, repeat)
        base = base or secs
        print(f"{name:<42} {secs:7.3f} s  ({len(items) / secs:6.0f} interactions/s, CPU {cpu:6.2f} s, "
              f"{secs / base:5.2f}x; empathy turns {emp})")
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
