"""Sentence embeddings from the ONNX multilingual-e5-small (models/e5_small_zh), CPU only.

Runtime needs onnxruntime + tokenizers + numpy, never torch or transformers. The graph does the
mean pooling and L2 norm; we add e5's "query: " prefix, tokenise, pad and cache per text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from qa_engine.ml.text_cache import TextCache

PREFIX = "query: "  # e5 was trained with it; symmetric tasks (paraphrase, clustering) use "query: "


class SentenceEmbedder:
    def __init__(
        self,
        model_dir: Path,
        threads: int = 2,
        max_length: int = 128,
        cache_size: int = 10_000,
        model_file: str = "model.onnx",
        tokenizer_file: Path | None = None,
    ) -> None:
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
        self._cache: TextCache[np.ndarray] = TextCache(cache_size)

    @property
    def hits(self) -> int:
        return self._cache.hits

    @property
    def misses(self) -> int:
        return self._cache.misses

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalised; repeated texts come from the LRU cache."""

        def compute(todo: list[str]) -> list[np.ndarray]:
            rows = list(self.encode(todo, batch_size))
            for vec in rows:
                vec.setflags(write=False)  # shared by every later caller through the cache
            return rows

        got = self._cache.get_many(texts, compute)
        return np.stack(got) if got else np.empty((0, self.dim), dtype=np.float32)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """The model call itself, no cache. Batches are length-sorted so little time goes to padding."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            encs = self._tokenizer.encode_batch([PREFIX + texts[i] for i in rows])
            feed = {
                "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
            }
            out[rows] = self._session.run(None, feed)[0]
        return out

    def cache_clear(self) -> None:
        self._cache.clear()
