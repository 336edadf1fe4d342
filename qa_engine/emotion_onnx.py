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
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as ort

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "emotion_lstm"
Prediction = tuple[str, str, float, dict[str, float]]  # label, polarity, confidence, probs


class Preprocessor(Protocol):
    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Graph inputs for a batch (padded arrays keyed by ONNX input name)."""
        ...


_SPACE = re.compile(r"\s+")
_DIGIT = re.compile(r"[0-9]")


class VocabPreprocessor:
    """Characters (or jieba words) -> ids from vocab.json. Pad id 0, unknown id 1.

    Normalisation (NFKC, lower case, no whitespace, every digit -> 0) is the same at training time,
    because training imports this class; digits are collapsed since order numbers and prices carry
    no emotion but would otherwise fill the vocabulary.
    """

    PAD, UNK = 0, 1

    def __init__(self, tokens: Sequence[str], unit: str = "char", max_len: int = 128) -> None:
        if unit not in ("char", "word"):
            raise ValueError(f"unit must be 'char' or 'word', not {unit!r}")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.unit, self.max_len = unit, max_len

    @classmethod
    def from_dir(cls, model_dir: Path, config: dict) -> VocabPreprocessor:
        vocab = json.loads((model_dir / config.get("vocab", "vocab.json")).read_text(encoding="utf-8"))
        return cls(vocab["tokens"], unit=vocab["unit"], max_len=int(vocab["max_len"]))

    @staticmethod
    def normalise(text: str) -> str:
        return _DIGIT.sub("0", unicodedata.normalize("NFKC", text).lower())

    def tokenize(self, text: str) -> list[str]:
        text = self.normalise(text)
        if self.unit == "char":
            return list(_SPACE.sub("", text))
        import jieba  # only word-level models need it

        return [w for w in jieba.lcut(text) if w.strip()]

    def ids(self, text: str) -> list[int]:
        ids = [self.index.get(t, self.UNK) for t in self.tokenize(text)[: self.max_len]]
        return ids or [self.UNK]  # an empty turn still needs one step through the LSTM

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        rows = [self.ids(t) for t in texts]
        batch = np.full((len(rows), max(map(len, rows), default=1)), self.PAD, dtype=np.int64)
        for i, row in enumerate(rows):
            batch[i, : len(row)] = row
        return {"input_ids": batch, "lengths": np.array([len(r) for r in rows], dtype=np.int64)}


PREPROCESSORS = {"vocab": VocabPreprocessor}


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def combine(p5: np.ndarray, p3: np.ndarray, labels: Sequence[str], polarities: Sequence[str],
            polarity_of: dict[str, str], mix: float) -> list[Prediction]:
    """Hierarchical decision (module docstring): polarity first, then the label inside it."""
    group = np.array([polarities.index(polarity_of[lab]) for lab in labels])  # label -> polarity column
    onehot = np.eye(len(polarities))[group]  # (5, 3)
    mass = p5 @ onehot  # 5-class probability per polarity
    r = mix * mass + (1.0 - mix) * p3
    joint = r[:, group] * p5 / np.maximum(mass[:, group], 1e-12)
    out: list[Prediction] = []
    for i in range(len(p5)):
        pol = int(np.argmax(r[i]))
        inside = np.where(group == pol, joint[i], -1.0)
        k = int(np.argmax(inside))
        probs = {lab: float(joint[i, j]) for j, lab in enumerate(labels)}
        out.append((labels[k], polarities[pol], float(joint[i, k]), probs))
    return out


class OnnxEmotionClassifier:
    """predict(texts) -> [(label, polarity, confidence, {label: prob})], batched, order kept."""

    def __init__(self, model_dir: Path = DEFAULT_MODEL_DIR, threads: int = 2, model_file: str = "model.onnx") -> None:
        model_dir = Path(model_dir)
        self.config = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
        self.labels: list[str] = self.config["emotion"]
        self.polarities: list[str] = self.config["polarity"]
        self.polarity_of: dict[str, str] = self.config["polarity_of"]
        self.mix = float(self.config.get("head_mix", 0.5))
        pre = self.config.get("preprocessor", {"type": "vocab"})
        self.preprocessor: Preprocessor = PREPROCESSORS[pre["type"]].from_dir(model_dir, pre)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads  # shared CPU: never grab every core
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_dir / model_file), opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.source = self.config.get("name", model_dir.name)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Raw head probabilities (n, 5) and (n, 3), in input order."""
        p5 = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        p3 = np.zeros((len(texts), len(self.polarities)), dtype=np.float32)
        # Sort by raw length so each batch pads little; results do not depend on the batch (the
        # graph masks padding exactly), only the speed does.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            feed = {k: v for k, v in self.preprocessor.encode([texts[i] for i in idx]).items() if k in self._inputs}
            emo, pol = self._session.run(["emotion_logits", "polarity_logits"], feed)
            p5[idx], p3[idx] = softmax(emo), softmax(pol)
        return p5, p3

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Prediction]:
        if not texts:
            return []
        p5, p3 = self.predict_proba(texts, batch_size)
        return combine(p5, p3, self.labels, self.polarities, self.polarity_of, self.mix)
