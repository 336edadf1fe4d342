"""Sentence embeddings from the ONNX multilingual-e5-small (models/e5_small_zh), CPU only.

Runtime needs onnxruntime + tokenizers + numpy, never torch or transformers. The graph does the
mean pooling and L2 norm; we add e5's "query: " prefix, tokenise, pad and cache per text.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

PREFIX = "query: "  # e5 was trained with it; symmetric tasks (paraphrase, clustering) use "query: "
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "e5_small_zh"


class SentenceEmbedder:
    def __init__(self, model_dir: Path = DEFAULT_MODEL_DIR, threads: int = 2, max_length: int = 128,
                 cache_size: int = 10_000, model_file: str = "model.onnx",
                 tokenizer_file: Path | None = None) -> None:
        model_dir = Path(model_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads  # shared CPU: never grab every core
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_dir / model_file), opts, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file or model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length)  # keeps <s> ... </s> inside max_length
        pad_id = self._tokenizer.token_to_id("<pad>")
        self._tokenizer.enable_padding(pad_id=pad_id, pad_token="<pad>")
        self.dim: int = int(self._session.get_outputs()[0].shape[-1])
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalised; repeated texts come from the LRU cache."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                vec = self._cache.get(text)
                if vec is None:
                    todo.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = vec
            self.hits += len(texts) - sum(map(len, todo.values()))
            self.misses += len(todo)
        if todo:
            new = self.encode(list(todo), batch_size)
            with self._lock:
                for (text, rows), vec in zip(todo.items(), new):
                    out[rows] = vec
                    vec.setflags(write=False)
                    self._cache[text] = vec
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """The model call itself, no cache. Batches are length-sorted so little time goes to padding."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            encs = self._tokenizer.encode_batch([PREFIX + texts[i] for i in rows])
            feed = {"input_ids": np.array([e.ids for e in encs], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64)}
            out[rows] = self._session.run(None, feed)[0]
        return out

    def cache_clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self.hits = self.misses = 0
