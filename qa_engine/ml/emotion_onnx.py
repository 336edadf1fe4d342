"""Emotion classifier served from an ONNX graph (onnxruntime + numpy only, never torch at runtime).

A model directory holds `model.onnx`, `labels.json` (label sets, how to combine the heads) and the
files its preprocessor needs. The preprocessor is picked by `labels.json["preprocessor"]["type"]`, so
a transformer exported later with its own tokenizer can sit beside the char BiLSTM: register a class
in PREPROCESSORS whose `encode()` returns the graph's input dict.

Two heads: 5-class emotion and 3-class polarity. The final answer is hierarchical, so label and
polarity always agree (see `combine`):
  1. polarity probs r = mix * (5-class probs summed per polarity) + (1 - mix) * polarity-head probs,
     `mix` chosen on dev and stored in labels.json ("head_mix");
  2. polarity = argmax r; label = the most probable 5-class label of that polarity;
  3. probs[label] = r[polarity(label)] * p5[label] / p5-mass of that polarity (sums to 1 over the
     five labels); confidence = probs[chosen label].
"""

from __future__ import annotations

import json
import os
import re
import threading
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import onnxruntime as ort

from qa_engine.ml.emotion import EmotionScorer
from qa_engine.ml.text_cache import Staged, TextCache
from qa_engine.schema import TurnEmotion

if TYPE_CHECKING:
    from qa_engine.context import TurnView

Prediction = tuple[str, str, float, dict[str, float]]  # label, polarity, confidence, probs


class Preprocessor(Protocol):
    # characters of the turn before that a context-reading model reads (VocabPreprocessor); 0: none
    context_chars: int

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Graph inputs for a batch (padded arrays keyed by ONNX input name)."""
        ...


_SPACE = re.compile(r"\s+")
_DIGIT = re.compile(r"[0-9]")

# Between the turn before and a customer turn in what a context-reading model reads ("context" + SEP +
# "turn"): a private-use character, so no real text contains it and NFKC / lower case leave it alone.
CONTEXT_SEP = "\ue000"


def with_context(text: str, context: str | None) -> str:
    """The model input for a turn read with the turn before it (VocabPreprocessor.char_units splits it)."""
    return f"{context}{CONTEXT_SEP}{text}" if context and context.strip() else text


class VocabPreprocessor:
    """Characters (or jieba words) -> ids from vocab.json, optionally also character-bigram ids.
    Pad id 0, unknown id 1 in both tables.

    Normalisation (NFKC, lower case, no whitespace, every digit -> 0) is the same at training time,
    because training imports this class; digits are collapsed since order numbers and prices carry
    no emotion but would otherwise fill the vocabulary. Bigrams (previous + current token, "^" before
    the first) give a char model most of the benefit of words (不错 vs 不, 错) without a segmenter.

    Context (context_chars > 0, char models): an input made by with_context() is read as the last
    context_chars characters of the turn before, CONTEXT_SEP, then the turn (cut to max_len as any
    text): 那算了 reads differently after 无法退款 than after 已经为您办好. With context_chars = 0 the
    context is dropped, so a model trained without it reads only the turn.
    """

    PAD, UNK = 0, 1
    START = "^"

    def __init__(
        self,
        tokens: Sequence[str],
        unit: str = "char",
        max_len: int = 128,
        keep: str = "ends",
        bigrams: Sequence[str] = (),
        context_chars: int = 0,
    ) -> None:
        if unit not in ("char", "word") or keep not in ("head", "ends"):
            raise ValueError(f"unit must be 'char' or 'word' and keep 'head' or 'ends', not {unit!r}, {keep!r}")
        self.tokens, self.bigrams = list(tokens), list(bigrams)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.bigram_index = {t: i for i, t in enumerate(self.bigrams)}
        self.unit, self.max_len, self.keep = unit, max_len, keep
        self.context_chars = context_chars if unit == "char" else 0
        self._tables: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # encode_units' lookups

    @classmethod
    def from_dir(cls, model_dir: Path, config: dict) -> VocabPreprocessor:
        vocab = json.loads((model_dir / config.get("vocab", "vocab.json")).read_text(encoding="utf-8"))
        return cls(
            vocab["tokens"],
            unit=vocab["unit"],
            max_len=int(vocab["max_len"]),
            keep=vocab.get("keep", "head"),
            bigrams=vocab.get("bigrams", ()),
            context_chars=int(vocab.get("context_chars", 0)),
        )

    @staticmethod
    def normalise(text: str) -> str:
        return _DIGIT.sub("0", unicodedata.normalize("NFKC", text).lower())

    def tokenize(self, text: str) -> list[str]:
        text = self.normalise(text)
        if self.unit == "char":
            return list(_SPACE.sub("", text))
        import jieba  # only word-level models need it

        return [w for w in jieba.lcut(text) if w.strip()]

    def truncate(self, tokens: list[str]) -> list[str]:
        """Cut to max_len; keep="ends" keeps head and tail halves (a long review's verdict is often last)."""
        if len(tokens) <= self.max_len or self.keep == "head":
            return tokens[: self.max_len]
        half = self.max_len // 2
        return tokens[:half] + tokens[len(tokens) - (self.max_len - half) :]

    def units(self, text: str) -> list[str]:
        """The tokens the model sees (normalised, truncated; a char model's context included)."""
        if self.unit == "char":
            return list(self.char_units(text))
        return self.truncate(self.tokenize(text.rpartition(CONTEXT_SEP)[2]))

    @classmethod
    def pairs(cls, toks: Sequence[str]) -> list[str]:
        return [a + b for a, b in zip([cls.START, *toks[:-1]], toks)]

    def features(self, text: str) -> tuple[list[int], list[int]]:
        """(token ids, bigram ids); an empty turn still gets one unknown step through the LSTM."""
        if self.unit == "char":
            return self._char_features(text)
        toks = self.units(text)
        if not toks:
            return [self.UNK], [self.UNK]
        ids = [self.index.get(t, self.UNK) for t in toks]
        bis = [self.bigram_index.get(b, self.UNK) for b in self.pairs(toks)] if self.bigrams else []
        return ids, bis

    def char_units(self, text: str) -> str:
        """The characters a char model reads (normalised, whitespace removed, truncated; with
        context_chars, the tail of a with_context() context and CONTEXT_SEP before them)."""
        context, sep, text = text.rpartition(CONTEXT_SEP)
        s = _SPACE.sub("", self.normalise(text))
        if len(s) > self.max_len:
            half = self.max_len // 2
            s = s[: self.max_len] if self.keep == "head" else s[:half] + s[len(s) - (self.max_len - half) :]
        if sep and self.context_chars:
            tail = _SPACE.sub("", self.normalise(context))[-self.context_chars :]
            if tail:
                return tail + CONTEXT_SEP + s
        return s

    def _char_features(self, text: str) -> tuple[list[int], list[int]]:
        """features() for unit="char" on strings instead of token lists (same ids as tokenize ->
        truncate -> pairs, checked by tests/ml/test_emotion_lstm.py)."""
        s = self.char_units(text)
        if not s:
            return [self.UNK], [self.UNK]
        get, unk = self.index.get, self.UNK
        ids = [get(c, unk) for c in s]
        if not self.bigrams:
            return ids, []
        bget = self.bigram_index.get
        return ids, [bget(a + b, unk) for a, b in zip(self.START + s[:-1], s)]

    def encode_units(self, units: Sequence[str]) -> dict[str, np.ndarray]:
        """encode_features([features(t)]) for a char model from char_units() strings, vectorised
        over the batch (the serving hot path: one numpy lookup per array instead of a dict lookup
        per character and bigram in the GIL). An empty string is one unknown step, as in features()."""
        lengths = np.fromiter(map(len, units), dtype=np.int64, count=len(units))
        codes = np.frombuffer("".join(units).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        lut, keys, key_ids = self._char_tables()
        ids = np.where(codes < len(lut), lut[np.minimum(codes, len(lut) - 1)], self.UNK)
        starts = np.cumsum(lengths) - lengths
        prev = np.empty_like(codes)
        prev[1:] = codes[:-1]
        prev[starts[lengths > 0]] = ord(self.START)
        pair = (prev << 21) | codes
        pos = np.minimum(np.searchsorted(keys, pair), max(len(keys) - 1, 0))
        bis = np.where(keys[pos] == pair, key_ids[pos], self.UNK) if len(keys) else np.full_like(pair, self.UNK)
        width = max(int(lengths.max(initial=0)), 1)
        steps = np.maximum(lengths, 1)
        out_ids = np.full((len(units), width), self.PAD, dtype=np.int64)
        out_ids[lengths == 0, 0] = self.UNK
        mask = np.arange(width) < lengths[:, None]
        out_ids[mask] = ids
        out = {"input_ids": out_ids, "lengths": steps}
        if self.bigrams:
            out_bis = np.full((len(units), width), self.PAD, dtype=np.int64)
            out_bis[lengths == 0, 0] = self.UNK
            out_bis[mask] = bis
            out["bigram_ids"] = out_bis
        return out

    def _char_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Code point -> id (unknown: UNK), and the bigrams as sorted packed code-point pairs with their ids."""
        if self._tables is None:
            chars = {t: i for t, i in self.index.items() if len(t) == 1}
            lut = np.full(max(map(ord, chars), default=0) + 1, self.UNK, dtype=np.int64)
            lut[[ord(c) for c in chars]] = list(chars.values())
            pairs = {(ord(t[0]) << 21) | ord(t[1]): i for t, i in self.bigram_index.items() if len(t) == 2}
            keys = np.array(sorted(pairs), dtype=np.int64)
            self._tables = (lut, keys, np.array([pairs[k] for k in keys.tolist()], dtype=np.int64))
        return self._tables

    def ids(self, text: str) -> list[int]:
        return self.features(text)[0]

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.encode_features([self.features(t) for t in texts])

    def encode_features(self, feats: Sequence[tuple[list[int], list[int]]]) -> dict[str, np.ndarray]:
        """Padded graph inputs from features() rows (one numpy scatter per array, no loop per row)."""
        lengths = np.fromiter((len(f[0]) for f in feats), dtype=np.int64, count=len(feats))
        width = int(lengths.max()) if len(feats) else 1
        mask = np.arange(width) < lengths[:, None]  # row-major order = the order of the concatenated ids
        ids = np.full((len(feats), width), self.PAD, dtype=np.int64)
        if len(feats):
            ids[mask] = np.fromiter(chain.from_iterable(f[0] for f in feats), dtype=np.int64, count=int(lengths.sum()))
        out = {"input_ids": ids, "lengths": lengths}
        if self.bigrams:
            bis = np.full((len(feats), width), self.PAD, dtype=np.int64)
            if len(feats):
                bis[mask] = np.fromiter(chain.from_iterable(f[1] for f in feats), dtype=np.int64, count=int(lengths.sum()))
            out["bigram_ids"] = bis
        return out


class TokenizerPreprocessor:
    """Subword ids from a `tokenizers` tokenizer.json (the fine-tuned e5 transformer): e5's "query: "
    prefix + text, cut to max_len pieces (<s> and </s> included), padded with <pad>. The tokenizer's
    own normaliser does NFKC; training imports this class, so both sides see the same ids."""

    context_chars = 0  # reads the turn alone

    def __init__(self, tokenizer_path: Path, max_len: int = 64, prefix: str = "query: ") -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_len)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("<pad>"), pad_token="<pad>")
        self.max_len, self.prefix = max_len, prefix

    @classmethod
    def from_dir(cls, model_dir: Path, config: dict) -> TokenizerPreprocessor:
        return cls(
            model_dir / config.get("tokenizer", "tokenizer.json"), int(config.get("max_len", 64)), config.get("prefix", "query: ")
        )

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        encs = self.tokenizer.encode_batch([self.prefix + t for t in texts])
        return {
            "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
        }


PREPROCESSORS: dict[str, type[VocabPreprocessor | TokenizerPreprocessor]] = {
    "vocab": VocabPreprocessor,
    "tokenizer": TokenizerPreprocessor,
}


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def combine(
    p5: np.ndarray, p3: np.ndarray, labels: Sequence[str], polarities: Sequence[str], polarity_of: dict[str, str], mix: float
) -> list[Prediction]:
    """Hierarchical decision (module docstring): polarity first, then the label inside it."""
    group = np.array([polarities.index(polarity_of[lab]) for lab in labels])  # label -> polarity column
    onehot = np.eye(len(polarities))[group]  # (5, 3)
    mass = p5 @ onehot  # 5-class probability per polarity
    r = mix * mass + (1.0 - mix) * p3
    joint = r[:, group] * p5 / np.maximum(mass[:, group], 1e-12)
    pol = np.argmax(r, axis=1)
    inside = np.where(group[None, :] == pol[:, None], joint, -1.0)
    k = np.argmax(inside, axis=1)
    conf = joint[np.arange(len(k)), k]
    return [
        (labels[j], polarities[q], c, dict(zip(labels, row)))
        for j, q, c, row in zip(k.tolist(), pol.tolist(), conf.tolist(), joint.tolist())
    ]


RUN_OVERHEAD_STEPS = 40  # what one more onnxruntime run costs, in padded LSTM steps (bench/models.py --engine-split)


def plan_batches(lengths: Sequence[int], batch_size: int, overhead: float = RUN_OVERHEAD_STEPS) -> list[tuple[int, int]]:
    """[start, end) cuts of ascending `lengths` into batches of at most `batch_size` rows that minimise
    sum(overhead + width x rows) over the batches (dynamic programming), so a few long texts do not
    pad many shorter ones to their width.

    Up to one batch (the engine scores one interaction, ~12 turns from 1 to 48 characters, at a time):
    every cut is tried, O(n^2); on the JDDC sessions this cut the CPU time of the per-interaction
    emotion calls by about a third against one padded batch. More (inspect_many's chunks, ~1,500
    texts): cuts are tried only where the length changes (where an optimal batch ends when no batch
    is full) and every `batch_size` rows inside a run of one length, so the plan costs ~1 ms per chunk;
    against plain chunks of `batch_size` it pads 2 % instead of 17 % and saves ~14 % of the LSTM's
    time on the 800 JD sessions (docs/benchmarks.md)."""
    n = len(lengths)
    if n <= batch_size:
        points = list(range(n + 1))
    else:
        points = [0]
        for k in range(1, n):
            if lengths[k] != lengths[k - 1] or k - points[-1] >= batch_size:
                points.append(k)
        points.append(n)
    best = [0.0] + [float("inf")] * (len(points) - 1)
    cut = [0] * len(points)
    lo = 0  # the first point a batch ending at points[b] may start at (batch_size rows at most)
    for b in range(1, len(points)):
        j = points[b]
        width = lengths[j - 1]
        while j - points[lo] > batch_size:
            lo += 1
        for a in range(lo, b):
            cost = best[a] + overhead + width * (j - points[a])
            if cost < best[b]:
                best[b], cut[b] = cost, a
    out, b = [], len(points) - 1
    while b > 0:
        out.append((points[cut[b]], points[b]))
        b = cut[b]
    return out[::-1]


class OnnxEmotionClassifier:
    """predict(texts) -> [(label, polarity, confidence, {label: prob})], batched, order kept.

    How `threads` cores are used depends on the model (`labels.json["parallel"]`, else by preprocessor):
      - "batches" (the char BiLSTM): onnxruntime runs each batch on 1 thread (no intra-op pool, so no
        spinning workers), and up to `threads` batches run at once on a small thread pool
        (onnxruntime releases the GIL). The LSTM's small matrices (batch x 128) parallelise poorly
        inside one op: on 2 cores this is far faster than 2 intra-op threads (docs/benchmarks.md).
        The engine's calls (one interaction's turns) are split by length (plan_batches), and those
        small batches share the threads the same way.
      - "intra_op" (the e5 transformer, large matrix products): `threads` intra-op threads per batch.
    """

    BATCH_SIZES = {"vocab": 128, "tokenizer": 64}  # measured defaults (bench/models.py)

    def __init__(
        self,
        model_dir: Path,
        threads: int = 2,
        model_file: str = "model.onnx",
        batch_size: int | None = None,
        parallel: str | None = None,
    ) -> None:
        model_dir = Path(model_dir)
        self.config = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
        self.labels: list[str] = self.config["emotion"]
        self.polarities: list[str] = self.config["polarity"]
        self.polarity_of: dict[str, str] = self.config["polarity_of"]
        self.mix = float(self.config.get("head_mix", 0.5))
        pre = self.config.get("preprocessor", {"type": "vocab"})
        self.preprocessor: Preprocessor = PREPROCESSORS[pre["type"]].from_dir(model_dir, pre)
        self.parallel = parallel or self.config.get("parallel") or ("batches" if pre["type"] == "vocab" else "intra_op")
        if self.parallel not in ("batches", "intra_op"):
            raise ValueError(f"parallel must be 'batches' or 'intra_op', not {self.parallel!r}")
        self.batch_size = int(batch_size or self.config.get("batch_size") or self.BATCH_SIZES.get(pre["type"], 64))
        self.threads = max(1, int(threads))
        opts = ort.SessionOptions()
        # shared CPU: never grab every core
        opts.intra_op_num_threads = 1 if self.parallel == "batches" else self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if opts.intra_op_num_threads > 1:
            # Idle pool threads sleep instead of spinning: on a machine shared with other jobs (or
            # with the engine's other work between calls) spinning burns cores for nothing.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model_dir / model_file), opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._outputs = ["emotion_logits", "polarity_logits"]
        self.source = self.config.get("name", model_dir.name)
        self._executor: ThreadPoolExecutor | None = None
        self._executor_pid = 0
        self._pool_lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        """The batch threads, made on first use and again in a forked child (a pool does not survive a fork)."""
        with self._pool_lock:
            if self._executor is None or self._executor_pid != os.getpid():
                self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="emotion-onnx")
                self._executor_pid = os.getpid()
            return self._executor

    def _batches(self, texts: Sequence[str], batch_size: int) -> list[tuple[list[int], object]]:
        """(row indices, what encode_batch encodes) per batch, rows sorted by length so a batch pads little.
        Results do not depend on the batch (the graph masks padding exactly), only the speed does."""
        if isinstance(self.preprocessor, VocabPreprocessor):
            # What the model reads, once per text, sorted by the number of steps the LSTM runs
            # (after whitespace removal and truncation), which the raw length only approximates.
            if self.preprocessor.unit == "char":
                units: list[str] | list[tuple[list[int], list[int]]] = [self.preprocessor.char_units(t) for t in texts]
                steps = [len(u) or 1 for u in units]
            else:
                units = [self.preprocessor.features(t) for t in texts]
                steps = [len(f[0]) for f in units]
            order = sorted(range(len(texts)), key=steps.__getitem__)
            cuts = plan_batches([steps[i] for i in order], batch_size)
            return [(idx, [units[i] for i in idx]) for idx in (order[a:b] for a, b in cuts)]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        return [(idx, [texts[i] for i in idx]) for idx in (order[s : s + batch_size] for s in range(0, len(order), batch_size))]

    def encode_batch(self, items: object) -> dict[str, np.ndarray]:
        """The graph inputs of one batch from _batches (also what bench/models.py feeds torch)."""
        pre = self.preprocessor
        if isinstance(pre, VocabPreprocessor):
            return pre.encode_units(items) if pre.unit == "char" else pre.encode_features(items)  # type: ignore[arg-type]
        return pre.encode(items)  # type: ignore[arg-type]

    def feeds(self, texts: Sequence[str], batch_size: int | None = None) -> list[tuple[list[int], dict[str, np.ndarray]]]:
        """(row indices, graph inputs) per batch: all the Python work of a prediction."""
        return [(idx, self.encode_batch(items)) for idx, items in self._batches(texts, batch_size or self.batch_size)]

    def run_feed(self, feed: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(emotion, polarity) logits of one batch: onnxruntime only, which releases the GIL."""
        emo, pol = self._session.run(self._outputs, {k: v for k, v in feed.items() if k in self._inputs})
        return emo, pol

    def run_feeds(self, feeds: Sequence[dict[str, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
        workers = min(self.threads, len(feeds)) if self.parallel == "batches" else 1
        return list(self._pool().map(self.run_feed, feeds)) if workers > 1 else [self.run_feed(f) for f in feeds]

    def probabilities(
        self, n: int, feeds: Sequence[tuple[list[int], object]], logits: Sequence[tuple[np.ndarray, np.ndarray]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Head probabilities (n, 5) and (n, 3) in input order, from run_feeds' logits."""
        p5 = np.zeros((n, len(self.labels)), dtype=np.float32)
        p3 = np.zeros((n, len(self.polarities)), dtype=np.float32)
        for (idx, _), (emo, pol) in zip(feeds, logits, strict=True):
            p5[idx], p3[idx] = softmax(emo), softmax(pol)
        return p5, p3

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raw head probabilities (n, 5) and (n, 3), in input order."""
        feeds = self.feeds(texts, batch_size)
        return self.probabilities(len(texts), feeds, self.run_feeds([f for _, f in feeds]))

    def predict(self, texts: Sequence[str], batch_size: int | None = None) -> list[Prediction]:
        if not texts:
            return []
        p5, p3 = self.predict_proba(texts, batch_size)
        return combine(p5, p3, self.labels, self.polarities, self.polarity_of, self.mix)


class OnnxEmotionScorer(EmotionScorer):
    """The classifier as a qa_engine.ml.emotion.EmotionScorer (score(turns) -> TurnEmotion per turn),
    so qa_engine.ml.scorers.make_emotion_scorer can offer it beside the lexicon baseline.

    The engine calls score() once per interaction (all its turns in one call). Agents paste the same
    template lines again and again (a quarter of the JDDC turns repeat an earlier one), so
    (label, polarity, confidence) is cached per text (LRU, `cache_size` texts) and repeated texts in
    one call are run once. A result does not depend on the batch it was computed in (labels are
    identical; confidences agree to ~1e-7, float rounding of a different batch width)."""

    releases_gil = True  # the engine runs score() in a background thread beside the text rules

    def __init__(self, model_dir: Path, threads: int = 2, cache_size: int = 20_000) -> None:
        self.classifier = OnnxEmotionClassifier(model_dir, threads=threads)
        self.source = f"onnx:{self.classifier.source}"
        self.model_dir: Path | None = Path(model_dir)
        self._cache: TextCache[tuple[str, str, float]] = TextCache(cache_size)

    def cache_clear(self) -> None:
        self._cache.clear()

    def labels(self, texts: Sequence[str]) -> list[tuple[str, str, float]]:
        """(label, polarity, confidence) per text, from the cache where it can."""
        return self._cache.get_many(
            texts, lambda todo: [(label, polarity, conf) for label, polarity, conf, _ in self.classifier.predict(todo)]
        )

    def stage(self, texts: Sequence[str]) -> Staged | None:
        """Label these texts ahead, in large batches, so that later score() calls find them cached
        (Inspector.inspect_many: one model call per chunk of interactions, not one per interaction).
        The features are made here, in the caller's thread; the Staged tasks are onnxruntime alone,
        one batch each, outside the GIL; Staged.commit fills the cache."""
        clf = self.classifier

        def labels(todo: list[str], feeds: Sequence[tuple[list[int], object]], logits: list) -> list[tuple[str, str, float]]:
            p5, p3 = clf.probabilities(len(todo), feeds, logits)
            preds = combine(p5, p3, clf.labels, clf.polarities, clf.polarity_of, clf.mix)
            return [(label, polarity, conf) for label, polarity, conf, _ in preds]

        return self._cache.stage(texts, clf.feeds, lambda feed: clf.run_feed(feed[1]), labels)

    def inputs(self, turns: Sequence[TurnView]) -> list[str]:
        """What the model reads per turn, in order: a model with context (vocab.json "context_chars")
        reads each customer turn after the turn before it, whoever said it (the agent's answer, or the
        customer's own unanswered message before 在吗); other turns, and every turn of a model without
        context, alone. Also what stage() takes, so that score() then finds them cached."""
        if not self.classifier.preprocessor.context_chars:
            return [v.text for v in turns]
        return [with_context(v.text, turns[k - 1].text if k and v.role == "customer" else None) for k, v in enumerate(turns)]

    def score(self, turns: Sequence[TurnView]) -> list[TurnEmotion]:
        return [
            TurnEmotion(turn=v.index, role=v.role, label=label, polarity=polarity, confidence=conf)
            for v, (label, polarity, conf) in zip(turns, self.labels(self.inputs(turns)))
        ]
