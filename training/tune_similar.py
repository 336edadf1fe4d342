"""Choose the `similar` threshold (and negatives margin) on the DEV split of the labelled turns.

For each threshold: forbidden precision / recall of the whole engine (phrases, patterns and
paraphrase rules), and recall on paraphrased turns. Never run on the test split.
Run: .venv/bin/python -m training.tune_similar
"""

from __future__ import annotations

import argparse

from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.evaluation import evaluate_rules
from qa_engine.rules.similar import SimilarOperator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--thresholds", default="0.84,0.86,0.88,0.9,0.92")
    ap.add_argument("--margins", default="none,0,0.02")
    args = ap.parse_args()
    settings = Settings()
    inspector = Inspector(settings.model_copy(update={"rule_packs": [*settings.rule_packs, "paraphrase"]}))
    similar = [r for r in inspector.ruleset.rules if isinstance(r, SimilarOperator)]
    negatives = {id(r): r.negative_vectors for r in similar}
    print(f"{'threshold':>9} {'margin':>6} {'precision':>9} {'recall':>7} {'paraphrase recall':>17}")
    for margin in args.margins.split(","):
        for t in map(float, args.thresholds.split(",")):
            for r in similar:
                r.params.threshold = t
                r.negative_vectors = None if margin == "none" else negatives[id(r)]
                r.params.margin = 0.0 if margin == "none" else float(margin)
            rep = evaluate_rules(inspector, "dev")
            m = rep["metrics"]["forbidden"]
            print(f"{t:>9.2f} {margin:>6} {m['precision']:>9.3f} {m['recall']:>7.3f} {rep['paraphrase_recall']:>17.3f}")


if __name__ == "__main__":
    main()
