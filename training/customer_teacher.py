"""Customer-emotion teacher (issue 14, point 2): multilingual-e5-small fine-tuned on the in-domain
customer training data only, used to pseudo-label real JD customer turns that nobody labelled, so the
BiLSTM (the served default) can learn from them (training.train_lstm --customer --pseudo FILE).

    .venv/bin/python -m training.customer_teacher --out build/customer_teacher     # train + label the pool

Training data: qa_datasets.emotion.customer_train([]) (the AI-labelled JD customer turns of
customer_emotion_train.jsonl + the written service patterns, minus anything touching the yardstick).
The checkpoint with the best negative-turn F1 on the yardstick's **dev** split is kept (the test split
is never read here). Then every unlabelled turn of the training pool
(datasets/labelled/sample_customer_train.pool(): no yardstick session, dialogue, window group or text)
gets the teacher's head probabilities, written to <out>/pseudo.jsonl as references
(source + ids + text_sha1) and probabilities, after one line with the dev-chosen negative threshold
and head mix: no text, the JDDC texts are research-only. qa_datasets.customer_emotion.load_customer_pseudo
reads it.

The teacher is not served: it stays in build/ (not committed); the LSTM distilled from it is.
Deterministic: seeds 20261123, 1 torch thread (CPU).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from qa_datasets.emotion import LABELS, POLARITIES, POLARITY, SEED
from qa_engine.ml.emotion_onnx import TokenizerPreprocessor
from training.train_e5_emotion import DEFAULT_BASE, batch_tensors, encode, ensure_base, freeze_lower, load_model, predict_proba
from training.train_lstm import batches, class_weights

NEG5 = np.array([POLARITY[lab] == "negative" for lab in LABELS])


def negative_prob(p5: np.ndarray, p3: np.ndarray, mix: float = 0.5) -> np.ndarray:
    return mix * p5[:, NEG5].sum(1) + (1 - mix) * p3[:, 0]


def best_threshold(p: np.ndarray, gold: np.ndarray) -> tuple[float, float, float, float]:
    """(F1, threshold, precision, recall) of the best negative threshold on these probabilities."""
    best = (0.0, 0.5, 0.0, 0.0)
    for th in np.arange(0.05, 0.951, 0.025):
        q = p >= th
        tp = int((q & gold).sum())
        prec, rec = tp / max(int(q.sum()), 1), tp / max(int(gold.sum()), 1)
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        if f1 > best[0]:
            best = (f1, float(th), prec, rec)
    return best


def operating_point(p5: np.ndarray, p3: np.ndarray, gold: np.ndarray,
                    mixes: Sequence[float]) -> tuple[float, tuple[float, float, float, float]]:
    """The head mix among `mixes` whose best negative threshold gives the highest F1, with that
    (F1, threshold, precision, recall)."""
    f1s = {m: best_threshold(negative_prob(p5, p3, m), gold) for m in mixes}
    mix = max(f1s, key=lambda m: f1s[m][0])
    return mix, f1s[mix]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/customer_teacher"))
    ap.add_argument("--base", type=Path, default=DEFAULT_BASE)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--freeze", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=48)
    ap.add_argument("--evals-per-epoch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-minutes", type=float, default=40.0)
    ap.add_argument("--segments", action="store_true",
                    help="also pseudo-label the other segments of the jddc_replies windows (pool_rows)")
    ap.add_argument("--score-test", action="store_true",
                    help="no training: score <out>/teacher.pt once on the yardstick's test split with the dev-chosen "
                         "threshold and head mix (writes <out>/test.json)")
    ap.add_argument("--label-only", action="store_true",
                    help="skip training: label with <out>/teacher.pt and the best check of <out>/history.json")
    ap.add_argument("--customer-side", action="store_true",
                    help="with --segments: leave out the segments models/role_classifier takes as the agent's")
    ap.add_argument("--from-e5", type=Path, metavar="CHECKPOINT",
                    help="skip training: the teacher is a training.train_e5_emotion checkpoint (the customer-trained "
                         "transformer, build/emotion_e5_customer_hf); its negative threshold and head mix are chosen "
                         "on the yardstick's dev split here, then the pool is labelled")
    args = ap.parse_args(argv)
    from qa_datasets.customer_emotion import load_customer_emotion, select
    from qa_datasets.emotion import customer_train

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.score_test:
        return score_test(args)
    if args.from_e5:
        return label_from_e5(args)
    if args.label_only:
        history = json.loads((args.out / "history.json").read_text(encoding="utf-8"))
        base = ensure_base(args.base)
        model = load_model(base, dropout=0.1)
        model.load_state_dict(torch.load(args.out / "teacher.pt", map_location="cpu"))
        model.eval()
        label_pool(model, TokenizerPreprocessor(base / "tokenizer.json", max_len=args.max_len), args.out, history,
                   args.segments)
        (args.out / "history.json").write_text(json.dumps(history, ensure_ascii=False, indent=1), encoding="utf-8")
        return 0
    train_recs, counts = customer_train([])
    dev = [{"text": r["text"], "label": r["label"], "polarity": r["polarity"]}
           for r in select(load_customer_emotion(), "dev")]
    gold = np.array([r["polarity"] == "negative" for r in dev])
    print(f"teacher data: {counts}; dev {len(dev)}", flush=True)
    base = ensure_base(args.base)
    pre = TokenizerPreprocessor(base / "tokenizer.json", max_len=args.max_len)
    model = load_model(base, dropout=0.1)
    freeze_lower(model, args.freeze)
    tr, dv = encode(train_recs, pre), encode(dev, pre)
    heads = [p for n, p in model.named_parameters() if not n.startswith("bert.")]
    body = [p for n, p in model.named_parameters() if n.startswith("bert.") and p.requires_grad]
    opt = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": heads, "lr": args.head_lr}], weight_decay=0.01)
    loss_e = nn.CrossEntropyLoss(weight=class_weights(tr.emotion, len(LABELS)), ignore_index=-100)
    loss_p = nn.CrossEntropyLoss(weight=class_weights(tr.polarity, len(POLARITIES)))
    rng = random.Random(SEED)
    per_epoch = len(batches(len(tr.lengths), tr.lengths, args.batch_size, random.Random(SEED)))
    total = args.epochs * per_epoch
    eval_every = max(1, per_epoch // args.evals_per_epoch)
    history: dict = {"checks": [], "counts": counts, "config": vars(args) | {"out": str(args.out), "base": str(args.base)}}
    best: tuple[float, dict] | None = None
    t0, step = time.time(), 0
    model.train()
    stop = False
    for epoch in range(1, args.epochs + 1):
        for idx in batches(len(tr.lengths), tr.lengths, args.batch_size, rng):
            frac = step / total
            warm = min(1.0, (step + 1) / max(1, int(0.06 * total)))
            for g, lr in zip(opt.param_groups, (args.lr, args.head_lr)):
                g["lr"] = lr * warm * (1.0 - frac)
            e, p = model(*batch_tensors(tr, idx))
            y_e = tr.emotion[idx]
            loss = loss_p(p, tr.polarity[idx])
            if (y_e >= 0).any():
                loss = loss + loss_e(e, y_e)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(body + heads, 1.0)
            opt.step()
            step += 1
            if step % 20 == 0:
                print(f"step {step}/{total} loss {loss.item():.4f} {(time.time() - t0) / 60:.1f} min", flush=True)
            if step % eval_every == 0 or step == total:
                p5, p3 = predict_proba(model, dv)
                mix, (f1, th, prec, rec) = operating_point(p5, p3, gold, (0.0, 0.5, 1.0))
                entry = {"step": step, "epoch": epoch, "minutes": round((time.time() - t0) / 60, 1),
                         "mix": mix, "threshold": th, "dev_negative_f1": round(f1, 4),
                         "dev_negative_p": round(prec, 4), "dev_negative_r": round(rec, 4)}
                history["checks"].append(entry)
                print(json.dumps(entry), flush=True)
                if best is None or f1 > best[0]:
                    best = (f1, {n: v.detach().clone() for n, v in model.state_dict().items()})
                    history["best"] = entry
                    np.save(args.out / "dev_negative_prob.npy", negative_prob(p5, p3, mix))
                model.train()
            if (time.time() - t0) / 60 > args.max_minutes:
                history["stopped"] = f"time budget at step {step}/{total}"
                stop = True
                break
        if stop:
            break
    assert best is not None
    model.load_state_dict(best[1])
    model.eval()
    torch.save(best[1], args.out / "teacher.pt")
    history["train_minutes"] = round((time.time() - t0) / 60, 1)
    label_pool(model, pre, args.out, history, args.segments)
    (args.out / "history.json").write_text(json.dumps(history, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


def label_from_e5(args: argparse.Namespace) -> int:
    """The served transformer's checkpoint as the teacher: threshold and mix chosen on dev (torch fp32,
    as the teacher labels), then the pool labelled; history.json records the choice."""
    from qa_datasets.customer_emotion import load_customer_emotion, select

    model = load_model(args.from_e5, heads=args.from_e5 / "emotion_e5.pt").eval()
    pre = TokenizerPreprocessor(args.from_e5 / "tokenizer.json", max_len=args.max_len)
    dev = [{"text": r["text"], "label": r["label"], "polarity": r["polarity"]}
           for r in select(load_customer_emotion(), "dev")]
    gold = np.array([r["polarity"] == "negative" for r in dev])
    p5, p3 = predict_proba(model, encode(dev, pre))
    mix, (f1, th, prec, rec) = operating_point(p5, p3, gold, (0.0, 0.25, 0.5, 0.75, 1.0))
    history: dict = {"teacher": str(args.from_e5), "best": {"mix": mix, "threshold": th, "dev_negative_f1": round(f1, 4),
                                                          "dev_negative_p": round(prec, 4), "dev_negative_r": round(rec, 4)}}
    print(json.dumps(history["best"]), flush=True)
    label_pool(model, pre, args.out, history, args.segments, args.customer_side)
    (args.out / "history.json").write_text(json.dumps(history, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


def score_test(args: argparse.Namespace) -> int:
    """The trained teacher on both yardstick splits at its dev-chosen threshold and mix (the test split
    read once, after every choice was made on dev)."""
    from qa_datasets.customer_emotion import load_customer_emotion, select

    history = json.loads((args.out / "history.json").read_text(encoding="utf-8"))
    best = history["best"]
    base = ensure_base(args.base)
    model = load_model(base, dropout=0.1)
    model.load_state_dict(torch.load(args.out / "teacher.pt", map_location="cpu"))
    model.eval()
    pre = TokenizerPreprocessor(base / "tokenizer.json", max_len=args.max_len)
    items = load_customer_emotion()
    result = {"threshold": best["threshold"], "mix": best["mix"]}
    for split in ("dev", "test"):
        recs = [{"text": r["text"], "label": r["label"], "polarity": r["polarity"]} for r in select(items, split)]
        p5, p3 = predict_proba(model, encode(recs, pre))
        q = negative_prob(p5, p3, best["mix"]) >= best["threshold"]
        gold = np.array([r["polarity"] == "negative" for r in recs])
        tp = int((q & gold).sum())
        prec, rec = tp / max(int(q.sum()), 1), tp / max(int(gold.sum()), 1)
        result[split] = {"n": len(recs), "negative": int(gold.sum()), "negative_precision": round(prec, 4),
                         "negative_recall": round(rec, 4),
                         "negative_f1": round(2 * prec * rec / (prec + rec) if prec + rec else 0.0, 4)}
    (args.out / "test.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result), flush=True)
    return 0


# P(agent) from models/role_classifier at or above which an unlabelled window segment is taken as an
# agent message and not pseudo-labelled (with --customer-side): the student is a model of customer turns.
AGENT_SIDE = 0.5


def pool_rows(segments: bool = False, customer_side: bool = False) -> list[dict]:
    """The training pool's turns nobody labelled (each text once, none touching the yardstick). With
    `segments`, also the other segments of the jddc_replies context windows that nobody labelled
    (sample_customer_train.segments_pool: earlier messages of the same chats, customer or agent); with
    `customer_side`, only the segments the role classifier does not take as the agent's."""
    from qa_datasets.customer_emotion import SEGMENTS_FILE, TRAIN_FILE
    from qa_datasets.labelled.sample_customer import reference
    from qa_datasets.labelled.sample_customer_train import pool, segments_pool

    labelled = {json.loads(x)["text_sha1"] for path in (TRAIN_FILE, SEGMENTS_FILE)
                for x in path.read_text(encoding="utf-8").splitlines() if x.strip()}
    more = segments_pool(shuffle=False) if segments else []
    if customer_side:
        from qa_engine.config import Settings
        from qa_engine.ml.role_classifier import RoleClassifier

        roles = RoleClassifier.default(Settings(_env_file=None).models_dir)
        more = [r for r in more if roles.agent_probability(r["text"]) < AGENT_SIDE]
    drawn = pool() + more
    return [{**reference(r), "text": r["text"]} for r in drawn if r["text_sha1"] not in labelled]


@torch.no_grad()
def label_pool(model: nn.Module, pre: TokenizerPreprocessor, out: Path, history: dict, segments: bool,
               customer_side: bool = False) -> None:
    rows = pool_rows(segments, customer_side)
    t0 = time.time()
    data = encode([{"text": r["text"], "label": None, "polarity": "neutral"} for r in rows], pre)
    p5, p3 = predict_proba(model, data)
    with (out / "pseudo.jsonl").open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"threshold": history["best"]["threshold"], "mix": history["best"]["mix"],
                             "dev_negative_f1": history["best"]["dev_negative_f1"], "segments": segments,
                             "customer_side": customer_side}) + "\n")
        for r, a, b in zip(rows, p5, p3):
            ref = {k: v for k, v in r.items() if k != "text"}
            assert ref["text_sha1"] == hashlib.sha1(r["text"].encode("utf-8")).hexdigest()
            fh.write(json.dumps({**ref, "p5": [round(float(x), 4) for x in a],
                                 "p3": [round(float(x), 4) for x in b]}, ensure_ascii=False) + "\n")
    history["pseudo"] = {"turns": len(rows), "seconds": round(time.time() - t0, 1),
                         "mean_negative": round(float(negative_prob(p5, p3, history["best"]["mix"]).mean()), 4)}
    print(json.dumps(history["pseudo"]), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
