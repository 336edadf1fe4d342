"""A turn classifier in ONNX (models/forbidden_ngram, models/forbidden_e5, models/empathy_ngram), CPU only.

The folder holds model.onnx (outputs `violation` (batch,) and `category` (batch, k) probabilities)
and labels.json (categories, threshold, and `input`, which says what the graph reads):
  - "tokens" (default): input_ids / attention_mask from tokenizer.json (max_length, prefix), e.g. a
    fine-tuned transformer;
  - "char_ngrams": `grams`, the hashed character 1-3-gram ids of each text (char_ngram_ids), padded
    with id `buckets`.
Optional fields: `text: "normalized"` when the model was trained on the engine's normalised text
(qa_engine.text.normalize: full-width -> half-width, lower case, whitespace next to CJK dropped;
models/empathy_ngram), which predict() then applies itself (default "raw": what the caller gives,
the rule passes Traditional -> Simplified only); `label_zh` (what the `violation` output is the
probability of, for explanations; default 违规) and `categories_zh` (category -> Chinese name).
Runtime needs onnxruntime + numpy (+ tokenizers for "tokens"), never torch. Probabilities are cached
per text (agents repeat template lines across interactions).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from operator import add
from pathlib import Path

import numpy as np
import onnxruntime as ort

from qa_engine.ml.text_cache import Staged, TextCache

BUCKETS = 1 << 18  # hashed n-gram ids of the char_ngrams input


def char_ngram_ids(text: str, n_max: int = 3, buckets: int = BUCKETS) -> set[int]:
    """The distinct hashed character 1..n_max-grams of a text (CRC-32 of the UTF-8 bytes, mod buckets)."""
    # 1-3-grams by map() over shifted copies of the text (no Python loop per gram): this featuriser
    # runs on every agent turn for each n-gram model, in the GIL, beside the text rules.
    grams = set(text)
    if n_max >= 2:
        grams.update(map(add, text, text[1:]))
    if n_max >= 3:
        grams.update(map(add, map(add, text, text[1:]), text[2:]))
    for n in range(4, n_max + 1):
        grams.update(text[j : j + n] for j in range(len(text) - n + 1))
    table = _GRAM_IDS.setdefault(buckets, {})
    ids = list(map(table.get, grams))
    if None in ids:
        if len(table) > _GRAM_IDS_MAX:  # bounded memory on an endless stream of new text
            table.clear()
        # the same set iterated twice, unchanged: same order as `ids`
        ids = [
            table.setdefault(gram, zlib.crc32(gram.encode("utf-8")) % buckets) if i is None else i for gram, i in zip(grams, ids)
        ]
    return set(ids)  # type: ignore[arg-type]  # no None left: filled in above


# Service text reuses a small set of n-grams: each is hashed once (buckets -> {gram: id}).
_GRAM_IDS: dict[int, dict[str, int]] = {}
_GRAM_IDS_MAX = 1 << 20
# The same for char_ngram_matrix, as sorted arrays for a vectorised lookup: the packed code points of
# each gram seen so far and its id, per (n, buckets).
_KEY_IDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
_CODE_BITS = 21  # every Unicode code point fits in 21 bits: three pack into one uint64


def char_ngram_matrix(texts: list[str], n_max: int = 3, buckets: int = BUCKETS) -> np.ndarray:
    """Each text's sorted distinct char_ngram_ids as one row, padded with `buckets` (a text without
    grams gets the single id `buckets`): the n-gram models' input, equal to
    [sorted(char_ngram_ids(t)) or [buckets] for t in texts] padded.

    Vectorised over the whole batch (numpy on the packed code points of every 1..3-gram), so the
    Python work is one dictionary lookup per distinct gram of the batch instead of set building per
    text: this featuriser runs on every agent turn for each n-gram model, in the GIL, beside the
    text rules (docs/benchmarks.md)."""
    if n_max > 3:  # packing holds three code points; longer grams take the per-text path
        per_text = [sorted(char_ngram_ids(t, n_max, buckets)) or [buckets] for t in texts]
        out = np.full((len(per_text), max(map(len, per_text), default=1)), buckets, dtype=np.int64)
        for r, got in enumerate(per_text):
            out[r, : len(got)] = got
        return out
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    # one sentinel code point (beyond Unicode) after each text, so no gram spans two texts
    codes = np.frombuffer("\U0010ffff".join([*texts, ""]).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    codes = codes.astype(np.uint64)
    codes[np.cumsum(lengths + 1) - 1] = 1 << _CODE_BITS
    row_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths + 1)
    row_parts, id_parts = [], []
    for n in range(1, n_max + 1):
        if len(codes) < n:
            break
        key = codes[: len(codes) - n + 1].copy()
        valid = key < (1 << _CODE_BITS)
        for k in range(1, n):
            nxt = codes[k : len(codes) - n + 1 + k]
            valid &= nxt < (1 << _CODE_BITS)
            key = (key << np.uint64(_CODE_BITS)) | nxt
        key, rows = key[valid], row_of[: len(valid)][valid]
        if not len(key):
            continue
        row_parts.append(rows)
        id_parts.append(_key_ids(key, n, buckets))
    out = np.full((len(texts), 1), buckets, dtype=np.int64)
    if not row_parts:
        return out
    # distinct (row, id) pairs, sorted by row then id: each row's sorted set of ids
    pairs = np.sort(np.concatenate(row_parts) * (buckets + 1) + np.concatenate(id_parts))
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]
    rows, ids = np.divmod(pairs, buckets + 1)
    counts = np.bincount(rows, minlength=len(texts))
    out = np.full((len(texts), max(int(counts.max()), 1)), buckets, dtype=np.int64)
    out[rows, np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)] = ids
    return out


def _key_ids(keys: np.ndarray, n: int, buckets: int) -> np.ndarray:
    """Ids of packed n-grams: a binary search in the grams seen so far; the new ones hashed once.
    The batch's distinct grams are searched, in sorted order (service text repeats its grams, and
    sorted probes walk the known array in order: ~2.5x faster than probing every gram)."""
    keys, inverse = np.unique(keys, return_inverse=True)
    known, known_ids = _KEY_IDS.get((n, buckets), (np.zeros(0, np.uint64), np.zeros(0, np.int64)))
    pos = np.searchsorted(known, keys)
    found = pos < len(known)
    found[found] = known[pos[found]] == keys[found]
    if not found.all():
        new = keys[~found]  # distinct and sorted already
        new_ids = np.fromiter((_gram_id(k, n, buckets) for k in new.tolist()), dtype=np.int64, count=len(new))
        if len(known) > _GRAM_IDS_MAX:  # bounded memory on an endless stream of new text
            known, known_ids = known[:0], known_ids[:0]
        known, known_ids = np.concatenate([known, new]), np.concatenate([known_ids, new_ids])
        order = np.argsort(known, kind="stable")
        known, known_ids = known[order], known_ids[order]
        _KEY_IDS[(n, buckets)] = (known, known_ids)
        pos = np.searchsorted(known, keys)
    return known_ids[pos][inverse.reshape(-1)]


def _gram_id(key: int, n: int, buckets: int) -> int:
    mask = (1 << _CODE_BITS) - 1
    gram = "".join(chr((key >> (_CODE_BITS * (n - 1 - k))) & mask) for k in range(n))
    return zlib.crc32(gram.encode("utf-8", "surrogatepass")) % buckets


class TurnClassifier:
    def __init__(self, model_dir: Path, threads: int = 2, cache_size: int = 20_000) -> None:
        model_dir = Path(model_dir)
        for name in ("model.onnx", "labels.json"):
            if not (model_dir / name).is_file():
                raise FileNotFoundError(f"turn classifier: {model_dir / name} is missing")
        self.model_dir = model_dir
        self.name = model_dir.name
        self.labels = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
        self.input = self.labels.get("input", "tokens")
        self.categories: list[str] = list(self.labels["categories"])
        self.threshold: float = float(self.labels["threshold"])
        self.prefix: str = self.labels.get("prefix", "")
        self.text_form: str = self.labels.get("text", "raw")
        if self.text_form not in ("raw", "normalized"):
            raise ValueError(f"turn classifier {model_dir}: unknown text {self.text_form!r} in labels.json")
        self.label_zh: str = self.labels.get("label_zh", "违规")
        self.categories_zh: dict[str, str] = dict(self.labels.get("categories_zh", {}))
        opts = ort.SessionOptions()
        # shared CPU: never grab every core; a hashed n-gram graph is a gather and a sum, which extra
        # threads only slow down (they spin up for microseconds of work)
        opts.intra_op_num_threads = 1 if self.input == "char_ngrams" else threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        if self.input == "tokens":
            from tokenizers import Tokenizer

            if not (model_dir / "tokenizer.json").is_file():
                raise FileNotFoundError(f"turn classifier: {model_dir / 'tokenizer.json'} is missing")
            self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            self._tokenizer.enable_truncation(int(self.labels.get("max_length", 64)))
            self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id("<pad>"), pad_token="<pad>")
        elif self.input != "char_ngrams":
            raise ValueError(f"turn classifier {model_dir}: unknown input {self.input!r} in labels.json")
        self._cache: TextCache[tuple[float, np.ndarray]] = TextCache(cache_size)

    def predict(self, texts: list[str], batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(violation probabilities (n,), category probabilities (n, k)); repeated texts from the cache."""
        got = self.values(texts, batch_size)
        probs = np.array([p for p, _ in got], dtype=np.float32)
        cats = np.stack([c for _, c in got]) if got else np.zeros((0, len(self.categories)), dtype=np.float32)
        return probs, cats

    def values(self, texts: list[str], batch_size: int = 32) -> list[tuple[float, np.ndarray]]:
        """(violation probability, category probabilities (k,), read-only) per text, as the cache holds
        them: what predict() stacks, for a caller that reads them one text at a time."""

        def compute(todo: list[str]) -> list[tuple[float, np.ndarray]]:
            feeds = self._feeds(todo, batch_size)
            return self._values(len(todo), feeds, [self._run_feed(f) for _, f in feeds])

        return self._cache.get_many(texts, compute)

    def cache_clear(self) -> None:
        self._cache.clear()

    @property
    def cache_size(self) -> int:
        return self._cache.size

    def stage(self, texts: list[str], batch_size: int = 32) -> Staged | None:
        """Predict these texts ahead (Inspector.inspect_many): features here, in the caller's thread;
        the Staged tasks are onnxruntime alone, one batch each; Staged.commit fills the cache."""
        return self._cache.stage(
            texts,
            lambda todo: self._feeds(todo, batch_size),
            lambda feed: self._run_feed(feed[1]),
            lambda todo, feeds, outputs: self._values(len(todo), feeds, outputs),
        )

    def _feeds(self, texts: list[str], batch_size: int) -> list[tuple[list[int], dict[str, np.ndarray]]]:
        """(row indices, graph inputs) per batch, rows sorted by length (little padding per batch)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        return [
            (rows, self._feed([texts[i] for i in rows]))
            for rows in (order[start : start + batch_size] for start in range(0, len(order), batch_size))
        ]

    def _run_feed(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._session.run(["violation", "category"], feed)

    def _values(self, n: int, feeds: Sequence[tuple[list[int], object]], outputs: list) -> list[tuple[float, np.ndarray]]:
        """(probability, category probabilities) per text in input order, as the cache holds them."""
        probs = np.zeros(n, dtype=np.float32)
        cats = np.zeros((n, len(self.categories)), dtype=np.float32)
        for (rows, _), (p, c) in zip(feeds, outputs, strict=True):
            probs[rows], cats[rows] = p, c
        cats.setflags(write=False)  # its rows are shared by every later caller through the cache
        return [(float(p), c) for p, c in zip(probs, cats)]

    def _feed(self, texts: list[str]) -> dict[str, np.ndarray]:
        if self.text_form == "normalized":
            from qa_engine.text.normalize import normalize

            texts = [normalize(t).text for t in texts]  # idempotent: the rule's clause texts already are
        if self.input == "char_ngrams":
            buckets, n_max = int(self.labels["buckets"]), int(self.labels.get("n_max", 3))
            return {"grams": char_ngram_matrix(texts, n_max, buckets)}
        encs = self._tokenizer.encode_batch([self.prefix + t for t in texts])
        return {
            "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
        }


__all__ = ["TurnClassifier", "char_ngram_ids", "char_ngram_matrix", "BUCKETS"]
