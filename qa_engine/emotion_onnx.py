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
from typing import TYPE_CHECKING, Protocol

import numpy as np
import onnxruntime as ort

from qa_engine.schema import TurnEmotion

if TYPE_CHECKING:
    from qa_engine.context import TurnView

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "emotion_lstm"
Prediction = tuple[str, str, float, dict[str, float]]  # label, polarity, confidence, probs


class Preprocessor(Protocol):
    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Graph inputs for a batch (padded arrays keyed by ONNX input name)."""
        ...


_SPACE = re.compile(r"\s+")
_DIGIT = re.compile(r"[0-9]")


class VocabPreprocessor:
    """Characters (or jieba words) -> ids from vocab.json, optionally also character-bigram ids.
    Pad id 0, unknown id 1 in both tables.

    Normalisation (NFKC, lower case, no whitespace, every digit -> 0) is the same at training time,
    because training imports this class; digits are collapsed since order numbers and prices carry
    no emotion but would otherwise fill the vocabulary. Bigrams (previous + current token, "^" before
    the first) give a char model most of the benefit of words (不错 vs 不, 错) without a segmenter.
    """

    PAD, UNK = 0, 1
    START = "^"

    def __init__(self, tokens: Sequence[str], unit: str = "char", max_len: int = 128, keep: str = "ends",
                 bigrams: Sequence[str] = ()) -> None:
        if unit not in ("char", "word") or keep not in ("head", "ends"):
            raise ValueError(f"unit must be 'char' or 'word' and keep 'head' or 'ends', not {unit!r}, {keep!r}")
        self.tokens, self.bigrams = list(tokens), list(bigrams)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.bigram_index = {t: i for i, t in enumerate(self.bigrams)}
        self.unit, self.max_len, self.keep = unit, max_len, keep

    @classmethod
    def from_dir(cls, model_dir: Path, config: dict) -> VocabPreprocessor:
        vocab = json.loads((model_dir / config.get("vocab", "vocab.json")).read_text(encoding="utf-8"))
        return cls(vocab["tokens"], unit=vocab["unit"], max_len=int(vocab["max_len"]),
                   keep=vocab.get("keep", "head"), bigrams=vocab.get("bigrams", ()))

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
        """The tokens the model sees (normalised, truncated)."""
        return self.truncate(self.tokenize(text))

    @classmethod
    def pairs(cls, toks: Sequence[str]) -> list[str]:
        return [a + b for a, b in zip([cls.START, *toks[:-1]], toks)]

    def features(self, text: str) -> tuple[list[int], list[int]]:
        """(token ids, bigram ids); an empty turn still gets one unknown step through the LSTM."""
        toks = self.units(text)
        if not toks:
            return [self.UNK], [self.UNK]
        ids = [self.index.get(t, self.UNK) for t in toks]
        bis = [self.bigram_index.get(b, self.UNK) for b in self.pairs(toks)] if self.bigrams else []
        return ids, bis

    def ids(self, text: str) -> list[int]:
        return self.features(text)[0]

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        feats = [self.features(t) for t in texts]
        width = max((len(f[0]) for f in feats), default=1)
        ids = np.full((len(feats), width), self.PAD, dtype=np.int64)
        bis = np.full((len(feats), width), self.PAD, dtype=np.int64)
        for i, (row, bi) in enumerate(feats):
            ids[i, : len(row)] = row
            bis[i, : len(bi)] = bi
        out = {"input_ids": ids, "lengths": np.array([len(f[0]) for f in feats], dtype=np.int64)}
        if self.bigrams:
            out["bigram_ids"] = bis
        return out


class TokenizerPreprocessor:
    """Subword ids from a `tokenizers` tokenizer.json (the fine-tuned e5 transformer): e5's "query: "
    prefix + text, cut to max_len pieces (<s> and </s> included), padded with <pad>. The tokenizer's
    own normaliser does NFKC; training imports this class, so both sides see the same ids."""

    def __init__(self, tokenizer_path: Path, max_len: int = 64, prefix: str = "query: ") -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_len)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("<pad>"), pad_token="<pad>")
        self.max_len, self.prefix = max_len, prefix

    @classmethod
    def from_dir(cls, model_dir: Path, config: dict) -> TokenizerPreprocessor:
        return cls(model_dir / config.get("tokenizer", "tokenizer.json"), int(config.get("max_len", 64)),
                   config.get("prefix", "query: "))

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        encs = self.tokenizer.encode_batch([self.prefix + t for t in texts])
        return {"input_ids": np.array([e.ids for e in encs], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64)}


PREPROCESSORS = {"vocab": VocabPreprocessor, "tokenizer": TokenizerPreprocessor}


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


class OnnxEmotionScorer:
    """The classifier as a qa_engine.emotion.EmotionScorer (score(turns) -> TurnEmotion per turn),
    so engine.make_emotion_scorer can offer it beside the lexicon baseline."""

    def __init__(self, model_dir: Path = DEFAULT_MODEL_DIR, threads: int = 2) -> None:
        self.classifier = OnnxEmotionClassifier(model_dir, threads=threads)
        self.source = f"onnx:{self.classifier.source}"

    def score(self, turns: Sequence[TurnView]) -> list[TurnEmotion]:
        preds = self.classifier.predict([v.text for v in turns])
        return [TurnEmotion(turn=v.index, role=v.role, label=label, polarity=polarity, confidence=conf)
                for v, (label, polarity, conf, _) in zip(turns, preds)]
