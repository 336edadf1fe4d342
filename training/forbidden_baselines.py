"""Lighter alternatives to the fine-tuned forbidden-phrase classifier, measured on the labelled DEV split.

    .venv/bin/python -m training.forbidden_baselines [--embeddings]

Same training data as training/train_forbidden.py (our written set + real JD agent turns outside
the labelled set as negatives). Two logistic regressions (torch, full batch, L2):
  char n-grams  hashed character 1-3-grams (2^18 buckets), binary presence;
  e5 head       the frozen ONNX e5 sentence embedding (models/e5_small_zh) - only with --embeddings.
Prints, for each, dev P/R of the classifier alone and OR-ed with the keyword/pattern rules at the
threshold chosen like the fine-tuned model's (on dev, classifier alone: highest recall at precision
>= 0.90). --test also measures that configuration on the tuning split (the retired first test split;
the held-out test split is never read by training code).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import numpy as np
import torch

from qa_engine.ml.turn_classifier import BUCKETS, char_ngram_ids
from training.train_forbidden import SEED, choose_threshold, jddc_negatives, prf, written_rows



def char_ngrams(texts: Sequence[str], n_max: int = 3) -> torch.Tensor:
    """Sparse (texts x BUCKETS) presence matrix of the ids the served model computes (char_ngram_ids)."""
    rows, cols = [], []
    for i, text in enumerate(texts):
        for gram_id in char_ngram_ids(text, n_max, BUCKETS):
            rows.append(i)
            cols.append(gram_id)
    idx = torch.tensor([rows, cols], dtype=torch.long)
    return torch.sparse_coo_tensor(idx, torch.ones(len(rows)), (len(texts), BUCKETS)).coalesce()


def fit_logreg(x: torch.Tensor, y: np.ndarray, l2: float, epochs: int = 300, lr: float = 0.5,
               sample_weight: np.ndarray | None = None) -> torch.nn.Linear:
    """Positives weighted by the class ratio (by the summed sample weights when given: a weighted
    negative counts as that many negatives)."""
    torch.manual_seed(SEED)
    model = torch.nn.Linear(x.shape[1], 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr if x.is_sparse else 0.05)
    target = torch.tensor(y, dtype=torch.float32)
    if sample_weight is None:
        weight = None
        pos_weight = torch.tensor((len(y) - y.sum()) / max(1, y.sum()))
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        weight = torch.tensor(w / w.mean(), dtype=torch.float32)
        pos_weight = torch.tensor(w[y == 0].sum() / max(1e-9, w[y == 1].sum()), dtype=torch.float32)
    for _ in range(epochs):
        opt.zero_grad()
        logits = (torch.sparse.mm(x, model.weight.T) if x.is_sparse else x @ model.weight.T).squeeze(1) + model.bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, weight=weight, pos_weight=pos_weight)
        loss = loss + l2 * (model.weight ** 2).sum()
        loss.backward()
        opt.step()
    return model


def predict(model: torch.nn.Linear, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        logits = (torch.sparse.mm(x, model.weight.T) if x.is_sparse else x @ model.weight.T).squeeze(1) + model.bias
    return torch.sigmoid(logits).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embeddings", action="store_true", help="also the head on frozen e5 embeddings")
    ap.add_argument("--jddc-negatives", type=int, default=900)
    ap.add_argument("--l2", type=float, nargs="+", default=[1e-4])
    ap.add_argument("--test", action="store_true", help="also score the tuning split (the retired first test split) "
                    "with the dev-chosen thresholds; the held-out test split is never read here")
    args = ap.parse_args()
    torch.set_num_threads(2)
    rows = [r for r in written_rows() if r["split"] == "train"]
    texts = [r["text"] for r in rows] + jddc_negatives(args.jddc_negatives)[args.jddc_negatives // 10:]
    y = np.array([r["label"] for r in rows] + [0] * (len(texts) - len(rows)), dtype=np.float32)
    from qa_datasets.labelled_set import load_labelled
    from qa_engine.config import Settings
    from qa_engine.engine import Inspector
    from qa_engine.eval.evaluation import predict_turns

    splits = ("dev", "tuning") if args.test else ("dev",)
    inspector = Inspector(Settings())
    data = {}
    for split in splits:
        part = [r for r in load_labelled() if r["split"] == split]
        fired = [f.get("forbidden_words", set()) for f in predict_turns(inspector, [r["text"] for r in part])]
        data[split] = {
            "texts": [r["text"] for r in part], "gold": [bool(r["forbidden"]) for r in part],
            "rules": [any(not rid.startswith("forbidden.model_") for rid in f) for f in fired],  # keyword/pattern rules only
            "para": [i for i, r in enumerate(part) if r["forbidden"] and r.get("paraphrase")],
        }
    report = {split: {"rules_only": prf(d["gold"], d["rules"])} for split, d in data.items()}

    def add(name: str, probs: dict[str, np.ndarray]) -> None:
        th, _ = choose_threshold(data["dev"]["gold"], probs["dev"])  # dev, classifier alone
        for split, d in data.items():
            p = probs[split]
            report[split][name] = {
                "threshold": th, "alone": prf(d["gold"], list(p >= th)),
                "rules_or_model": prf(d["gold"], [r or x >= th for r, x in zip(d["rules"], p)]),
                "paraphrase_recall": round(sum(bool(d["rules"][i] or p[i] >= th) for i in d["para"]) / len(d["para"]), 4)}

    x_train = char_ngrams(texts)
    for l2 in args.l2:
        model = fit_logreg(x_train, y, l2)
        add(f"char_ngram_lr_l2={l2:g}", {s: predict(model, char_ngrams(d["texts"])) for s, d in data.items()})
    if args.embeddings:
        from qa_engine.ml.embedder import SentenceEmbedder

        emb = SentenceEmbedder(Settings().embedder_path, threads=2)
        x = torch.from_numpy(emb.encode(texts))
        for l2 in args.l2:
            model = fit_logreg(x, y, l2, epochs=500)
            add(f"e5_frozen_head_l2={l2:g}", {s: predict(model, torch.from_numpy(emb.encode(d["texts"]))) for s, d in data.items()})
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
