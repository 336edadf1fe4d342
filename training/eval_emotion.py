"""Accuracy and macro-F1 of an emotion model on a split of qa_datasets.emotion.

5-class metrics on the records that have a 5-class label; polarity metrics on all records (the
polarity-only sources say negative/positive, never neutral). Pure Python, no sklearn.

    python -m training.eval_emotion --model models/emotion_lstm --split test
    python -m training.eval_emotion --lexicon --split test      # the lexicon baseline, same data
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qa_datasets.emotion import LABELS, POLARITIES, EmotionRecord, make_splits

# Anything whose first two items are (label, polarity), e.g. OnnxEmotionClassifier.predict.
ModelPredict = Callable[[list[str]], Sequence[Sequence[Any]]]


def scores(gold: Sequence[str], pred: Sequence[str], classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 over `classes` (a class with no gold and no prediction is left out), per class."""
    n = len(gold)
    pairs = Counter(zip(gold, pred))
    per: dict[str, dict[str, float]] = {}
    for c in classes:
        tp = pairs[(c, c)]
        support = sum(v for (g, _), v in pairs.items() if g == c)
        predicted = sum(v for (_, p), v in pairs.items() if p == c)
        if support == 0 and predicted == 0:
            continue
        prec = tp / predicted if predicted else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[c] = {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4), "support": support}
    return {
        "n": n,
        "accuracy": round(sum(pairs[(c, c)] for c in set(gold)) / n, 4) if n else 0.0,
        "macro_f1": round(sum(v["f1"] for v in per.values()) / len(per), 4) if per else 0.0,
        "per_class": per,
        "confusion": {g: {p: pairs[(g, p)] for p in classes} for g in classes},
    }


def evaluate(model_predict: ModelPredict, split: str = "test",
             records: Sequence[EmotionRecord] | None = None) -> dict[str, Any]:
    """Metrics of `model_predict` on `split` (or on `records`, to reuse splits already loaded)."""
    data = list(records) if records is not None else make_splits()[split]
    preds = model_predict([r["text"] for r in data])
    labelled = [(r, p) for r, p in zip(data, preds) if r["label"] is not None]
    by_source: dict[str, list[bool]] = defaultdict(list)
    for r, p in zip(data, preds):
        by_source[r["source"]].append(p[1] == r["polarity"])
    return {
        "split": split,
        "emotion": scores([r["label"] for r, _ in labelled], [p[0] for _, p in labelled], LABELS),
        "polarity": scores([r["polarity"] for r in data], [p[1] for p in preds], POLARITIES),
        "polarity_accuracy_by_source": {s: round(sum(v) / len(v), 4) for s, v in sorted(by_source.items())},
    }


def lexicon_predict() -> ModelPredict:
    """The engine's lexicon baseline (qa_engine.emotion) as a model_predict, for comparison."""
    from types import SimpleNamespace

    from qa_engine.config import Settings
    from qa_engine.emotion import LexiconEmotionScorer
    from qa_engine.normalize import normalize

    scorer = LexiconEmotionScorer(Path(Settings().lexicons_dir))

    def predict(texts: list[str]) -> list[tuple[str, str]]:
        out = []
        for t in texts:
            # label_turn reads only .text (normalised, as the engine feeds it), .index and .role.
            view = SimpleNamespace(text=normalize(t).text, index=0, role="customer")
            e = scorer.label_turn(view)  # type: ignore[arg-type]
            out.append((e.label, e.polarity))
        return out

    return predict


def format_report(result: dict[str, Any]) -> str:
    e, p = result["emotion"], result["polarity"]
    lines = [
        f"split {result['split']}",
        f"emotion (5 classes, n={e['n']}): accuracy {e['accuracy']:.4f}  macro-F1 {e['macro_f1']:.4f}",
        f"polarity (3 classes, n={p['n']}): accuracy {p['accuracy']:.4f}  macro-F1 {p['macro_f1']:.4f}",
    ]
    for name in ("emotion", "polarity"):
        lines += [f"  {name} {c}: P {v['precision']:.3f} R {v['recall']:.3f} F1 {v['f1']:.3f} (n={v['support']})"
                  for c, v in result[name]["per_class"].items()]
    lines += [f"  polarity accuracy {s}: {a:.4f}" for s, a in result["polarity_accuracy_by_source"].items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="ONNX model directory (default models/emotion_lstm)")
    ap.add_argument("--lexicon", action="store_true", help="evaluate the lexicon baseline instead")
    ap.add_argument("--split", choices=("train", "dev", "test"), default="test")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = ap.parse_args(argv)
    if args.lexicon:
        predict = lexicon_predict()
    else:
        from qa_engine.emotion_onnx import DEFAULT_MODEL_DIR, OnnxEmotionClassifier

        predict = OnnxEmotionClassifier(args.model or DEFAULT_MODEL_DIR, threads=args.threads).predict
    result = evaluate(predict, args.split)
    print(json.dumps(result, ensure_ascii=False, indent=1) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
