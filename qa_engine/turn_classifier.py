"""A turn classifier in ONNX (models/forbidden_ngram, models/forbidden_e5, models/empathy_ngram), CPU only.

The folder holds model.onnx (outputs `violation` (batch,) and `category` (batch, k) probabilities)
and labels.json (categories, threshold, and `input`, which says what the graph reads):
  - "tokens" (default): input_ids / attention_mask from tokenizer.json (max_length, prefix), e.g. a
    fine-tuned transformer;
  - "char_ngrams": `grams`, the hashed character 1-3-gram ids of each text (char_ngram_ids), padded
    with id `buckets`.
Optional fields: `text: "normalized"` when the model was trained on the engine's normalised text
(qa_engine.normalize: full-width -> half-width, lower case, whitespace next to CJK dropped;
models/empathy_ngram), which predict() then applies itself (default "raw": what the caller gives,
the rule passes Traditional -> Simplified only); `label_zh` (what the `violation` output is the
probability of, for explanations; default 违规) and `categories_zh` (category -> Chinese name).
Runtime needs onnxruntime + numpy (+ tokenizers for "tokens"), never torch. Probabilities are cached
per text (agents repeat template lines across interactions).
"""

from __future__ import annotations

import json
import zlib
from operator import add
from pathlib import Path

import numpy as np
import onnxruntime as ort

from qa_engine.text_cache import TextCache

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
        grams.update(text[j:j + n] for j in range(len(text) - n + 1))
    table = _GRAM_IDS.setdefault(buckets, {})
    ids = list(map(table.get, grams))
    if None in ids:
        if len(table) > _GRAM_IDS_MAX:  # bounded memory on an endless stream of new text
            table.clear()
        # the same set iterated twice, unchanged: same order as `ids`
        ids = [table.setdefault(gram, zlib.crc32(gram.encode("utf-8")) % buckets) if i is None else i
               for gram, i in zip(grams, ids)]
    return set(ids)


# Service text reuses a small set of n-grams: each is hashed once (buckets -> {gram: id}).
_GRAM_IDS: dict[int, dict[str, int]] = {}
_GRAM_IDS_MAX = 1 << 20


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
        def compute(todo: list[str]) -> list[tuple[float, np.ndarray]]:
            probs, cats = self._run(todo, batch_size)
            for c in cats:
                c.setflags(write=False)  # shared by every later caller through the cache
            return [(float(p), c) for p, c in zip(probs, cats)]

        got = self._cache.get_many(texts, compute)
        probs = np.array([p for p, _ in got], dtype=np.float32)
        cats = np.stack([c for _, c in got]) if got else np.zeros((0, len(self.categories)), dtype=np.float32)
        return probs, cats

    def cache_clear(self) -> None:
        self._cache.clear()

    @property
    def cache_size(self) -> int:
        return self._cache.size

    def _run(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        probs = np.zeros(len(texts), dtype=np.float32)
        cats = np.zeros((len(texts), len(self.categories)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding per batch
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            p, c = self._session.run(["violation", "category"], self._feed([texts[i] for i in rows]))
            probs[rows], cats[rows] = p, c
        return probs, cats

    def _feed(self, texts: list[str]) -> dict[str, np.ndarray]:
        if self.text_form == "normalized":
            from qa_engine.normalize import normalize

            texts = [normalize(t).text for t in texts]  # idempotent: the rule's clause texts already are
        if self.input == "char_ngrams":
            buckets, n_max = int(self.labels["buckets"]), int(self.labels.get("n_max", 3))
            ids = [sorted(char_ngram_ids(t, n_max, buckets)) or [buckets] for t in texts]
            grams = np.full((len(ids), max(map(len, ids))), buckets, dtype=np.int64)
            for row, got in enumerate(ids):
                grams[row, : len(got)] = got
            return {"grams": grams}
        encs = self._tokenizer.encode_batch([self.prefix + t for t in texts])
        return {"input_ids": np.array([e.ids for e in encs], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64)}


__all__ = ["TurnClassifier", "char_ngram_ids", "BUCKETS"]
