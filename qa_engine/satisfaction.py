"""Predicted customer satisfaction of one interaction (issue 14, point 5), served from ONNX.

The model (models/satisfaction_ridge, built by `python -m training.train_satisfaction`) is a ridge
regression on the STC-3 scale (-2 very dissatisfied .. 2 very satisfied, the mean S of 19 annotators)
over what the engine already has for the interaction, so it costs one small onnxruntime call:

- three bags of hashed character 1-3-grams (turn_classifier.char_ngram_matrix, presence, each bag
  scaled to unit length): all customer turns, the last customer turn, all agent turns;
- aggregate features (`DENSE_FEATURES`): the customer emotion trajectory from the engine's emotion
  scorer (negative / positive confidence: mean, first, last, maximum, last three, share), unresolved
  and resolved markers in the last customer turns (lists in the model's labels.json, so they are part
  of its digest), the dialogue's shape (turns, who spoke last, lengths) and the agent's behaviour as
  the rules found it (politeness and empathy rates, forbidden-phrase hits, negative agent emotion).

`dissatisfied` is P(mean S <= -0.5) from a logistic calibration of the prediction (fitted on the
training set's out-of-fold predictions). `evidence`: the customer turns that moved the prediction most
towards its side of the scale (each turn's effect = the prediction minus the prediction with that turn
blanked, all features recomputed; the blanked variants run in the same onnxruntime call), at most three.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa_engine.turn_classifier import BUCKETS, char_ngram_matrix

MODEL_FOLDER = "satisfaction_ridge"
BUILD = ".venv/bin/python -m training.train_satisfaction --out models/satisfaction_ridge"
BLOCKS = ("customer", "last_customer", "agent")  # the n-gram bags, in row order of the graph's input
DENSE_FEATURES = (
    "customer_turns_log", "agent_turns_log", "ends_with_customer", "agent_replied",
    "neg_mean", "neg_last", "neg_max", "neg_first", "pos_mean", "pos_last", "neg_share",
    "unresolved_last", "unresolved_last2", "resolved_last", "resolved_last2",
    "last_len_log", "agent_len_log", "neg_last3_mean", "neg_last3_max", "neg_count_log",
    "unresolved_all", "pos_max",
    "politeness_rate", "empathy_rate", "forbidden_hits_log", "agent_negative_log",
)  # fmt: skip
DISSATISFIED_AT = -0.5  # mean S at or below this (rounds to -1 or -2): dissatisfied
EVIDENCE_TURNS = 3


@dataclass(frozen=True, slots=True)
class DialogueParts:
    """What the features read: normalised turn texts and roles, per-turn emotion (polarity and
    confidence) and the engine's hits as (dimension, rule_id, turn)."""

    roles: Sequence[str]
    texts: Sequence[str]
    polarities: Sequence[str | None]
    confidences: Sequence[float]
    hits: Sequence[tuple[str, str, int | None]]


@dataclass(frozen=True, slots=True)
class Features:
    texts: list[str]  # one per BLOCKS entry
    dense: np.ndarray  # (len(DENSE_FEATURES),)
    customer_turns: list[int]  # turn indices of the customer turns, in order


def _count(text: str, words: Sequence[str]) -> int:
    return sum(text.count(w) for w in words)


def features(parts: DialogueParts, markers: dict[str, list[str]]) -> Features:
    """The model's inputs for one dialogue (training and serving call this same function)."""
    unresolved, resolved = markers["unresolved"], markers["resolved"]
    cust = [i for i, r in enumerate(parts.roles) if r == "customer"]
    agent = [i for i, r in enumerate(parts.roles) if r == "agent"]
    ctexts = [parts.texts[i] for i in cust]
    neg = np.array([parts.confidences[i] if parts.polarities[i] == "negative" else 0.0 for i in cust], dtype=np.float64)
    pos = np.array([parts.confidences[i] if parts.polarities[i] == "positive" else 0.0 for i in cust], dtype=np.float64)
    n0, p0 = (neg, pos) if len(cust) else (np.zeros(1), np.zeros(1))
    last = ctexts[-1] if ctexts else ""
    last2 = "".join(ctexts[-2:])
    agent_set = set(agent)
    polite = {t for d, r, t in parts.hits if d == "politeness" and t in agent_set}
    empathic = {t for d, r, t in parts.hits if d == "empathy" and t in agent_set and r != "empathy.missing_when_upset"}
    forbidden = sum(1 for d, _, _ in parts.hits if d == "forbidden_words")
    agent_negative = sum(1 for _, r, _ in parts.hits if r == "emotion.agent_negative")
    n_agent = len(agent)
    dense = [
        math.log1p(len(cust)), math.log1p(n_agent), float(bool(parts.roles) and parts.roles[-1] == "customer"),
        float(n_agent > 0),
        n0.mean(), n0[-1], n0.max(), n0[0], p0.mean(), p0[-1], float((n0 > 0).mean()),
        math.log1p(_count(last, unresolved)), math.log1p(_count(last2, unresolved)),
        math.log1p(_count(last, resolved)), math.log1p(_count(last2, resolved)),
        math.log1p(len(last)), math.log1p(sum(len(parts.texts[i]) for i in agent) / n_agent if n_agent else 0.0),
        n0[-3:].mean(), n0[-3:].max(), math.log1p(float((n0 > 0).sum())),
        math.log1p(_count("".join(ctexts), unresolved)), p0.max(),
        len(polite) / n_agent if n_agent else 0.0, len(empathic) / n_agent if n_agent else 0.0,
        math.log1p(forbidden), math.log1p(agent_negative),
    ]
    return Features(texts=["\n".join(ctexts), last, "\n".join(parts.texts[i] for i in agent)],
                    dense=np.asarray(dense, dtype=np.float32), customer_turns=cust)


def block_inputs(texts: Sequence[str], blocks: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(grams, scale) rows of the graph: each text's hashed n-gram ids offset into its block's part of
    the weight table (padding: the zero row len(BLOCKS) * BUCKETS), and 1/sqrt(number of grams)."""
    m = char_ngram_matrix(list(texts))
    real = m < BUCKETS
    n = real.sum(axis=1)
    grams = np.where(real, m + np.asarray(blocks, dtype=np.int64)[:, None] * BUCKETS, len(BLOCKS) * BUCKETS)
    scale = np.where(n > 0, 1.0 / np.sqrt(np.maximum(n, 1)), 0.0).astype(np.float32)
    return grams.astype(np.int64), scale


@dataclass(frozen=True, slots=True)
class Prediction:
    predicted: float
    dissatisfied: float
    evidence: list[int]


class SatisfactionModel:
    """predict(parts) -> Prediction; `source` is "<model id>@<digest>" (qa_engine.model_digest)."""

    def __init__(self, model_dir: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        from qa_engine.model_digest import folder_digest

        self.model_dir = Path(model_dir)
        self.config = json.loads((self.model_dir / "labels.json").read_text(encoding="utf-8"))
        if tuple(self.config["dense_features"]) != DENSE_FEATURES or tuple(self.config["blocks"]) != BLOCKS:
            raise ValueError(f"{self.model_dir}: the model was built for other features; rebuild it with `{BUILD}`")
        self.markers = self.config["markers"]
        self.bias = float(self.config["bias"])
        self.calibration = self.config["calibration"]
        self.dense_weights = np.asarray(self.config["dense_weights"], dtype=np.float64)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(self.model_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.name = self.config.get("name", self.model_dir.name)
        self.source = f"{self.name}@{folder_digest(self.model_dir)}"

    def probability(self, predicted: float) -> float:
        a, b = self.calibration["a"], self.calibration["b"]
        return 1.0 / (1.0 + math.exp(-(a * predicted + b)))

    def predict(self, parts: DialogueParts) -> Prediction:
        f = features(parts, self.markers)
        # rows: the three bags, then the customer and last-turn bags with each customer turn left out
        # in turn (the agent bag does not change), for the evidence
        variants = [features(_blanked(parts, i), self.markers) for i in f.customer_turns]
        texts = [*f.texts, *(t for v in variants for t in v.texts[:2])]
        grams, scale = block_inputs(texts, [0, 1, 2, *([0, 1] * len(variants))])
        rows, = self._session.run(["row_scores"], {"grams": grams, "scale": scale})
        raw = self._raw(rows[:3], f.dense)
        predicted = min(2.0, max(-2.0, raw))
        effects = [raw - self._raw([rows[3 + 2 * j], rows[4 + 2 * j], rows[2]], v.dense) for j, v in enumerate(variants)]
        return Prediction(predicted=round(predicted, 3), dissatisfied=round(self.probability(raw), 3),
                          evidence=_evidence(f.customer_turns, effects, raw))

    def _raw(self, block_scores, dense: np.ndarray) -> float:
        return self.bias + float(np.sum(block_scores)) + float(dense.astype(np.float64) @ self.dense_weights)


def _blanked(parts: DialogueParts, turn: int) -> DialogueParts:
    """The dialogue as if customer turn `turn` had said nothing (empty text, no emotion)."""
    texts, pols = list(parts.texts), list(parts.polarities)
    texts[turn], pols[turn] = "", None
    return DialogueParts(roles=parts.roles, texts=texts, polarities=pols, confidences=parts.confidences, hits=parts.hits)


def _evidence(turns: list[int], effects: list[float], raw: float) -> list[int]:
    """The customer turns whose words moved the prediction most towards its side of the scale's
    midpoint (below 0: the turns that lowered it most), at most EVIDENCE_TURNS, in turn order.
    A turn's effect: the prediction minus the prediction with that turn blanked."""
    sign = -1.0 if raw < 0 else 1.0
    order = sorted(range(len(turns)), key=lambda j: -sign * effects[j])
    return sorted(turns[j] for j in order[:EVIDENCE_TURNS] if sign * effects[j] > 0.01)


def parts_of(roles: Sequence[str], texts: Sequence[str], emotions, hits) -> DialogueParts:
    """DialogueParts from the engine's turn views' roles and normalised texts, its TurnEmotion list
    (one per turn, by `turn`) and its Hit list."""
    pol: list[str | None] = [None] * len(roles)
    conf = [0.0] * len(roles)
    for e in emotions:
        if 0 <= e.turn < len(roles):
            pol[e.turn], conf[e.turn] = e.polarity, float(e.confidence)
    return DialogueParts(roles=list(roles), texts=list(texts), polarities=pol, confidences=conf,
                         hits=[(h.dimension, h.rule_id, h.turn) for h in hits])
