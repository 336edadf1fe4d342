"""Choose the `similar` threshold and negatives margin on the DEV split of the labelled turns.

Prints, per setting: forbidden precision / recall of the paraphrase rules alone, of the whole
engine (phrases + patterns + paraphrase rules), and recall on paraphrased turns. Never run on test.
Run: .venv/bin/python -m training.tune_similar
"""

from __future__ import annotations

import argparse

from qa_datasets.labelled_set import load_labelled
from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.eval.evaluation import predict_turn, prf_counts
from qa_engine.rules.similar import SimilarOperator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--thresholds", default="0.9,0.92,0.93,0.94,0.95")
    ap.add_argument("--margins", default="0,0.01,0.02,0.03")
    ap.add_argument("--split", default="dev", choices=["dev"])
    args = ap.parse_args()
    settings = Settings()
    inspector = Inspector(settings.model_copy(update={"rule_packs": [*settings.rule_packs, "paraphrase"]}))
    similar = [r for r in inspector.ruleset.rules if isinstance(r, SimilarOperator)]
    rows = [r for r in load_labelled() if r["split"] == args.split]
    print(f"{'threshold':>9} {'margin':>6} | similar alone P / R | engine P / R | paraphrase R: similar, engine")
    for margin in map(float, args.margins.split(",")):
        for t in map(float, args.thresholds.split(",")):
            for r in similar:
                r.params.threshold, r.params.margin = t, margin
            c_sim = {"tp": 0, "fp": 0, "fn": 0}
            c_all = {"tp": 0, "fp": 0, "fn": 0}
            para = [0, 0, 0]
            for row in rows:
                fired = predict_turn(inspector, row["text"]).get("forbidden_words", set())
                for c, pred in ((c_sim, any(f.startswith("paraphrase.") for f in fired)), (c_all, bool(fired))):
                    gold = bool(row["forbidden"])
                    c["tp" if gold and pred else "fp" if pred else "fn" if gold else "tn"] = c.get("tp" if gold and pred else "fp" if pred else "fn" if gold else "tn", 0) + 1
                if row["forbidden"] and row.get("paraphrase"):
                    para[0] += 1
                    para[1] += any(f.startswith("paraphrase.") for f in fired)
                    para[2] += bool(fired)
            s, a = prf_counts(c_sim["tp"], c_sim["fp"], c_sim["fn"]), prf_counts(c_all["tp"], c_all["fp"], c_all["fn"])
            print(f"{t:>9.2f} {margin:>6.2f} | {s['precision']:.3f} / {s['recall']:.3f} | {a['precision']:.3f} / {a['recall']:.3f} | {para[1] / para[0]:.3f}, {para[2] / para[0]:.3f}")


if __name__ == "__main__":
    main()
