"""A fine-tuned turn classifier in ONNX (models/forbidden_e5), CPU only.

The folder holds model.onnx (inputs input_ids / attention_mask; outputs `violation` (batch,) and
`category` (batch, k) probabilities), tokenizer.json and labels.json (categories, threshold,
max_length, prefix). Runtime needs onnxruntime + tokenizers + numpy, never torch. Probabilities are
cached per text (agents repeat template lines across interactions).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


class TurnClassifier:
    def __init__(self, model_dir: Path, threads: int = 2, cache_size: int = 20_000) -> None:
        model_dir = Path(model_dir)
        for name in ("model.onnx", "tokenizer.json", "labels.json"):
            if not (model_dir / name).is_file():
                raise FileNotFoundError(f"turn classifier: {model_dir / name} is missing")
        self.model_dir = model_dir
        self.name = model_dir.name
        self.labels = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
        self.categories: list[str] = list(self.labels["categories"])
        self.threshold: float = float(self.labels["threshold"])
        self.prefix: str = self.labels.get("prefix", "")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads  # shared CPU: never grab every core
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(int(self.labels.get("max_length", 64)))
        self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id("<pad>"), pad_token="<pad>")
        self._cache: OrderedDict[str, tuple[float, np.ndarray]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def predict(self, texts: list[str], batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(violation probabilities (n,), category probabilities (n, k)); repeated texts from the cache."""
        probs = np.zeros(len(texts), dtype=np.float32)
        cats = np.zeros((len(texts), len(self.categories)), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                got = self._cache.get(text)
                if got is None:
                    todo.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    probs[i], cats[i] = got
        if todo:
            new_p, new_c = self._run(list(todo), batch_size)
            with self._lock:
                for (text, rows), p, c in zip(todo.items(), new_p, new_c):
                    probs[rows], cats[rows] = p, c
                    c.setflags(write=False)
                    self._cache[text] = (float(p), c)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return probs, cats

    def cache_clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def _run(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        probs = np.zeros(len(texts), dtype=np.float32)
        cats = np.zeros((len(texts), len(self.categories)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding per batch
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            encs = self._tokenizer.encode_batch([self.prefix + texts[i] for i in rows])
            feed = {"input_ids": np.array([e.ids for e in encs], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64)}
            p, c = self._session.run(["violation", "category"], feed)
            probs[rows], cats[rows] = p, c
        return probs, cats


__all__ = ["TurnClassifier"]
