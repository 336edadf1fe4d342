"""Fine-tune the Chinese-pruned e5-small as a forbidden-phrase (服务禁语) turn classifier; export ONNX.

Run (about 20 minutes on 2 CPU threads):
    .venv/bin/python -m training.e5_convert --out build/e5_small_zh_hf --vocab-from-corpus   # once
    .venv/bin/python -m training.train_forbidden --base build/e5_small_zh_hf --out models/forbidden_e5

Data: datasets/forbidden_train/forbidden_train.jsonl (written by us, split "train"; "val" monitors
the fit) plus ordinary real JD agent turns as negatives, drawn from chat_dev.txt sessions that are
NOT in the labelled evaluation set (datasets/labelled), whose text is never stored. The decision
threshold is chosen on the labelled set's dev split only. Heads: one logit "is a violation" (binary
cross-entropy) and five category logits (cross-entropy on positives only, weight 0.5).

Export: ONNX opset 17, inputs input_ids / attention_mask, outputs `violation` (batch,) probability and
`category` (batch, 5) probabilities, int8 dynamic quantisation (per channel, MatMul + Gather), like
training/export_onnx.py. Writes model.onnx, tokenizer.json, labels.json, metrics.json and README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import BertModel

from qa_engine.eval.evaluation import prf
from training.export_onnx import OPSET, quantise_int8

REPO = Path(__file__).resolve().parents[1]
TRAIN_FILE = REPO / "datasets" / "forbidden_train" / "forbidden_train.jsonl"
CATEGORIES = ("deflect", "impatience", "blame", "mock_insult", "improper_promise")
PREFIX = "query: "  # as e5 was pre-trained, and as qa_engine.ml.embedder feeds it
SEED = 20261123
TARGET_PRECISION = 0.90


class ForbiddenClassifier(torch.nn.Module):
    """BertModel, attention-mask mean pooling (e5's pooling), dropout, linear: 1 violation + 5 category logits."""

    def __init__(self, bert: BertModel, dropout: float = 0.1) -> None:
        super().__init__()
        self.bert = bert
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(bert.config.hidden_size, 1 + len(CATEGORIES))

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return self.head(self.dropout(pooled))

    # Split forward for training only the top layers: the frozen bottom runs once per text (cached).
    def lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, n_frozen: int) -> torch.Tensor:
        hidden = self.bert.embeddings(input_ids=input_ids)
        ext = extended_mask(attention_mask, hidden.dtype)
        for layer in self.bert.encoder.layer[:n_frozen]:
            hidden = layer(hidden, attention_mask=ext)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        return hidden

    def upper_logits(self, hidden: torch.Tensor, attention_mask: torch.Tensor, n_frozen: int) -> torch.Tensor:
        ext = extended_mask(attention_mask, hidden.dtype)
        for layer in self.bert.encoder.layer[n_frozen:]:
            hidden = layer(hidden, attention_mask=ext)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return self.head(self.dropout(pooled))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.logits(input_ids, attention_mask)
        return torch.sigmoid(out[:, 0]), torch.softmax(out[:, 1:], dim=-1)


def extended_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(batch, 1, 1, seq) additive mask, as BertModel gives its eager-attention layers."""
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def load_tokenizer(path: Path, max_len: int) -> Tokenizer:
    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_len)
    tok.enable_padding(pad_id=tok.token_to_id("<pad>"), pad_token="<pad>")
    return tok


def encode(tok: Tokenizer, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    encs = tok.encode_batch([PREFIX + t for t in texts])
    return (torch.tensor([e.ids for e in encs], dtype=torch.long),
            torch.tensor([e.attention_mask for e in encs], dtype=torch.long))


# ---- data


def written_rows(path: Path = TRAIN_FILE) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def jddc_negatives(n: int, seed: int = SEED) -> list[str]:
    """Real JD agent turns (as ordinary, non-violating service language) from sessions outside the
    labelled set; turns whose text equals a labelled turn (by SHA-1) are left out too, and so is any
    text of a held-out test session (qa_datasets.forbidden_train.jddc_negatives)."""
    from qa_datasets.forbidden_train.jddc_negatives import jddc_negatives as draw

    return draw(n, seed)


def labelled_dev() -> list[dict]:
    """The labelled set's dev split (threshold choice); the test split is never read here."""
    from qa_datasets.labelled_set import load_labelled

    return [r for r in load_labelled() if r["split"] == "dev"]


# ---- training


def batches(items: list[tuple[str, int, int]], size: int, rng: random.Random) -> list[list[tuple[str, int, int]]]:
    order = items[:]
    rng.shuffle(order)
    return [order[i:i + size] for i in range(0, len(order), size)]


def train(model: ForbiddenClassifier, tok: Tokenizer, items: list[tuple[str, int, int]], epochs: float,
          batch_size: int, lr: float, seed: int, train_layers: int, max_steps: int | None = None, log=print) -> list[float]:
    """items: (text, violation 0/1, category index or -1). The embeddings and the bottom layers stay
    frozen (their output is computed once per text: on 2 shared CPU cores a full fine-tune takes
    hours); the top `train_layers` layers and the head are trained. Returns the loss per step."""
    n_layers = len(model.bert.encoder.layer)
    n_frozen = n_layers - min(train_layers, n_layers)
    for p in model.bert.embeddings.parameters():
        p.requires_grad_(False)
    for layer in model.bert.encoder.layer[:n_frozen]:
        for p in layer.parameters():
            p.requires_grad_(False)
    rng = random.Random(seed)
    # length-bucketed batches (sorted, chunked, chunks shuffled): little padding, random order
    order = sorted(range(len(items)), key=lambda i: (len(items[i][0]), rng.random()))
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    plan = []
    for _ in range(int(np.ceil(epochs))):
        ep = chunks[:]
        rng.shuffle(ep)
        plan += ep
    plan = plan[: int(round(epochs * len(chunks)))]
    if max_steps is not None:
        plan = plan[:max_steps]
    model.eval()
    t0 = time.perf_counter()
    cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    with torch.no_grad():
        for chunk in chunks:
            if max_steps is not None and not any(chunk is b for b in plan):
                continue
            ids, mask = encode(tok, [items[i][0] for i in chunk])
            hidden = model.lower(ids, mask, n_frozen)
            for k, i in enumerate(chunk):
                n = int(mask[k].sum())
                cache[i] = (hidden[k, :n].clone(), mask[k, :n].clone())
    log(f"frozen bottom ({n_frozen} layers) computed for {len(cache)} texts in {time.perf_counter() - t0:.0f}s")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warmup = max(1, len(plan) // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (len(plan) - s) / max(1, len(plan) - warmup))))
    bce = torch.nn.BCEWithLogitsLoss()
    ce = torch.nn.CrossEntropyLoss()
    model.train()
    losses = []
    for step, chunk in enumerate(plan):
        hidden = torch.nn.utils.rnn.pad_sequence([cache[i][0] for i in chunk], batch_first=True)
        mask = torch.nn.utils.rnn.pad_sequence([cache[i][1] for i in chunk], batch_first=True)
        y = torch.tensor([items[i][1] for i in chunk], dtype=torch.float32)
        cat = torch.tensor([items[i][2] for i in chunk], dtype=torch.long)
        out = model.upper_logits(hidden, mask, n_frozen)
        loss = bce(out[:, 0], y)
        if (cat >= 0).any():
            loss = loss + 0.5 * ce(out[cat >= 0, 1:], cat[cat >= 0])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step % 20 == 0 or step == len(plan) - 1:
            log(f"step {step + 1}/{len(plan)} loss {np.mean(losses[-20:]):.4f} {time.perf_counter() - t0:.0f}s")
    model.eval()
    return losses


@torch.no_grad()
def predict_torch(model: ForbiddenClassifier, tok: Tokenizer, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(texts), batch_size):
        ids, mask = encode(tok, texts[i:i + batch_size])
        out.append(model(ids, mask)[0].numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


# ---- threshold and metrics


def choose_threshold(gold: Sequence[bool], probs: np.ndarray, rules: Sequence[bool] | None = None,
                     target: float = TARGET_PRECISION) -> tuple[float, dict]:
    """Threshold with the highest dev recall (of rules OR classifier, given rules) at precision >= target; among
    equals the middle of the widest run (a threshold at the edge of a plateau is fragile on 36 positives)."""
    rules = rules if rules is not None else [False] * len(gold)
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
    scored = []
    for th in grid:
        pred = [r or p >= th for r, p in zip(rules, probs)]
        m = prf(gold, pred)
        ok = m["precision"] >= target
        scored.append((ok, m["recall"] if ok else -1.0, m["precision"], float(th), m))
    best_key = max((s[0], s[1], s[2]) for s in scored)
    candidates = [s for s in scored if (s[0], s[1], s[2]) == best_key]
    pick = candidates[len(candidates) // 2]
    return pick[3], pick[4]


# ---- export


def export_onnx(model: ForbiddenClassifier, out_dir: Path, quantize: bool = True) -> Path:
    model.eval()
    ids = torch.tensor([[0, 6, 2, 1], [0, 6, 7, 2]], dtype=torch.long)
    mask = (ids != 1).long()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "model.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(
            model, (ids, mask), str(fp32), dynamo=False, opset_version=OPSET,
            input_names=["input_ids", "attention_mask"], output_names=["violation", "category"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                          "violation": {0: "batch"}, "category": {0: "batch"}},
        )
        if quantize:
            quantise_int8(fp32, target)
        else:
            shutil.copy(fp32, target)
    return target


def onnx_probs(model_dir: Path, texts: Sequence[str], threads: int = 2) -> np.ndarray:
    from qa_engine.ml.turn_classifier import TurnClassifier

    return TurnClassifier(model_dir, threads=threads).predict(list(texts))[0]


def calibrate(out: Path, threads: int = 2) -> dict:
    """Choose the threshold on the labelled dev split with the shipped (int8) graph, write it into
    labels.json and return the dev figures."""
    from qa_engine.config import Settings
    from qa_engine.engine import Inspector
    from qa_engine.eval.evaluation import predict_turns

    dev = labelled_dev()
    gold = [bool(r["forbidden"]) for r in dev]
    probs = onnx_probs(out, [r["text"] for r in dev], threads)
    inspector = Inspector(Settings())  # default packs: the keyword / pattern rules the classifier adds to
    fired = [f.get("forbidden_words", set()) for f in predict_turns(inspector, [r["text"] for r in dev])]
    rules = [any(not rid.startswith("forbidden.model_") for rid in f) for f in fired]  # without the model's own rules
    # The keyword/pattern lists were tuned on this dev split (dev P = R = 1.0), so OR-ing them in
    # says nothing about the threshold: it is chosen for the classifier alone, then the union is shown.
    threshold, alone = choose_threshold(gold, probs)
    union = prf(gold, [r or p >= threshold for r, p in zip(rules, probs)])
    para = [i for i, r in enumerate(dev) if r["forbidden"] and r.get("paraphrase")]
    labels = json.loads((out / "labels.json").read_text(encoding="utf-8"))
    labels["threshold"] = threshold
    (out / "labels.json").write_text(json.dumps(labels, ensure_ascii=False, indent=1), encoding="utf-8")
    return {
        "turns": len(dev), "violations": sum(gold), "threshold": threshold,
        "rules_only": prf(gold, rules), "classifier_alone": alone, "rules_or_classifier": union,
        "classifier_alone_by_threshold": {f"{t:.2f}": prf(gold, list(probs >= t)) for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)},
        "paraphrase_recall": round(sum(bool(rules[i] or probs[i] >= threshold) for i in para) / max(1, len(para)), 4),
    }


# ---- main


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, default=REPO / "build" / "e5_small_zh_hf", help="converted e5 (training.e5_convert)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train-file", type=Path, default=TRAIN_FILE)
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--train-layers", type=int, default=4, help="top encoder layers trained (the rest frozen)")
    ap.add_argument("--jddc-negatives", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--max-steps", type=int, default=None, help="stop early (tests)")
    ap.add_argument("--no-labelled-dev", action="store_true", help="skip the threshold choice on datasets/labelled (tests)")
    ap.add_argument("--threshold", type=float, default=0.5, help="used with --no-labelled-dev")
    ap.add_argument("--no-quantize", action="store_true")
    ap.add_argument("--calibrate-only", action="store_true", help="only re-choose the threshold of an exported --out on dev")
    args = ap.parse_args(argv)
    if args.calibrate_only:
        dev = calibrate(args.out, args.threads)
        metrics_path = args.out / "metrics.json"
        metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
        metrics["labelled_dev"] = dev
        metrics_path.write_text(json.dumps(metrics, ensure_ascii=False, indent=1), encoding="utf-8")
        print(json.dumps(dev, ensure_ascii=False, indent=1))
        return

    torch.set_num_threads(args.threads)  # shared 2-core machine
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    t_start = time.perf_counter()

    rows = written_rows(args.train_file)
    train_rows = [r for r in rows if r["split"] == "train"]
    val_rows = [r for r in rows if r["split"] == "val"]
    jddc = jddc_negatives(args.jddc_negatives, args.seed) if args.jddc_negatives else []
    n_jddc_val = len(jddc) // 10
    items = [(r["text"], r["label"], CATEGORIES.index(r["category"]) if r["label"] else -1) for r in train_rows]
    items += [(t, 0, -1) for t in jddc[n_jddc_val:]]
    print(f"train: {len(items)} turns ({sum(v for _, v, _ in items)} violations), "
          f"written val {len(val_rows)}, JDDC val {n_jddc_val}")

    tok = load_tokenizer(args.base / "tokenizer.json", args.max_len)
    bert = BertModel.from_pretrained(args.base, add_pooling_layer=False, attn_implementation="eager")
    model = ForbiddenClassifier(bert)
    losses = train(model, tok, items, args.epochs, args.batch_size, args.lr, args.seed, args.train_layers,
                   args.max_steps)
    train_s = time.perf_counter() - t_start

    metrics: dict = {"train_turns": len(items), "train_violations": sum(v for _, v, _ in items),
                     "jddc_negatives": len(jddc) - n_jddc_val, "epochs": args.epochs,
                     "train_layers": args.train_layers, "lr": args.lr, "batch_size": args.batch_size, "max_len": args.max_len, "steps": len(losses),
                     "final_loss": round(float(np.mean(losses[-20:])), 4), "train_seconds": round(train_s)}
    if val_rows:
        p = predict_torch(model, tok, [r["text"] for r in val_rows])
        metrics["written_val@0.5"] = prf([bool(r["label"]) for r in val_rows], list(p >= 0.5))
    if n_jddc_val:
        p = predict_torch(model, tok, jddc[:n_jddc_val])
        metrics["jddc_val_false_positive_rate@0.5"] = round(float((p >= 0.5).mean()), 4)

    out = args.out
    export_onnx(model, out, quantize=not args.no_quantize)
    shutil.copy(args.base / "tokenizer.json", out / "tokenizer.json")
    threshold = args.threshold
    labels = {"labels": ["violation"], "categories": list(CATEGORIES), "threshold": threshold,
              "max_length": args.max_len, "prefix": PREFIX, "base": "multilingual-e5-small (Chinese-pruned, training.e5_convert)",
              "outputs": {"violation": "P(turn has a forbidden phrase)", "category": "P(category | violation)"}}
    (out / "labels.json").write_text(json.dumps(labels, ensure_ascii=False, indent=1), encoding="utf-8")

    if not args.no_labelled_dev:
        metrics["labelled_dev"] = calibrate(out, args.threads)
    metrics["size_mb"] = round((out / "model.onnx").stat().st_size / 1e6, 1)
    metrics["total_seconds"] = round(time.perf_counter() - t_start)
    (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(metrics, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
