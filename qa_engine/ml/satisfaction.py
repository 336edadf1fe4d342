"""Predicted customer satisfaction of one interaction (issue 14, point 5), served from ONNX.

The model (models/satisfaction_ridge, built by `python -m training.train_satisfaction`) is a ridge
regression on the STC-3 scale (-2 very dissatisfied .. 2 very satisfied, the mean S of 19 annotators)
over what the engine already has for the interaction, so it costs one small onnxruntime call:

- three bags of hashed character 1-3-grams (turn_classifier.char_ngram_matrix; each turn's distinct
  n-grams, added up over the bag's turns, the bag divided by the square root of its size): all customer
  turns, the last customer turn, all agent turns. A bag's score is then the sum of its turns' weight
  sums over that root: per text, the n-gram count and the three weight sums are cached, so a template
  line or a 好的 is hashed and looked up once;
- aggregate features (`DENSE_FEATURES`): the customer emotion trajectory from the engine's emotion
  scorer (negative / positive confidence: mean, first, last, maximum, last three, share), unresolved
  and resolved markers in the last customer turns (lists in the model's labels.json, so they are part
  of its digest), the dialogue's shape (turns, who spoke last, lengths) and the agent's behaviour as
  the rules found it (politeness and empathy rates, forbidden-phrase hits, negative agent emotion).

`dissatisfied` is P(mean S <= -0.5) from a logistic calibration of the prediction (fitted on the
training set's out-of-fold predictions). `evidence`: the customer turns that moved the prediction most
towards its side of the scale (each turn's effect = the prediction minus the prediction with that turn
blanked, every feature recomputed: exact for this linear model and cheap, the turn's cached sums
taken out of the customer bag and the aggregate features of all variants at once), at most three.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa_engine.ml.text_cache import TextCache
from qa_engine.ml.turn_classifier import BUCKETS, char_ngram_matrix

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
# the counts and lengths among them enter as log1p
_LOG = [
    DENSE_FEATURES.index(f)
    for f in (
        "unresolved_last",
        "unresolved_last2",
        "resolved_last",
        "resolved_last2",
        "last_len_log",
        "agent_len_log",
        "neg_count_log",
        "unresolved_all",
        "forbidden_hits_log",
        "agent_negative_log",
    )
]
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
    """One dialogue's aggregate features, and the variants the evidence needs."""

    dense: np.ndarray  # (1 + number of customer turns, len(DENSE_FEATURES)): row 0 the dialogue,
    #                    row 1 + j the dialogue with customer turn j blanked (said nothing)
    customer_turns: list[int]  # turn indices of the customer turns, in order
    agent_turns: list[int]


class Markers:
    """Unresolved / resolved marker counts of a text (every occurrence of every marker), one C pass."""

    def __init__(self, markers: dict[str, list[str]]) -> None:
        import ahocorasick

        self.automaton = ahocorasick.Automaton()
        for kind, words in enumerate((markers["unresolved"], markers["resolved"])):
            for w in words:
                self.automaton.add_word(w, (w, kind))  # a word in both lists counts as the first
        self.automaton.make_automaton()

    def counts(self, text: str) -> tuple[int, int]:
        c = [0, 0]
        for _, (_, kind) in self.automaton.iter(text):
            c[kind] += 1
        return c[0], c[1]


def gram_ids(texts: Sequence[str]) -> list[np.ndarray]:
    """Each text's sorted distinct hashed character 1-3-gram ids (turn_classifier.char_ngram_matrix)."""
    if not texts:
        return []
    m = char_ngram_matrix(list(texts))
    return [row[row < BUCKETS] for row in m]


def features(
    parts: DialogueParts,
    markers: Markers,
    marker_counts: Sequence[tuple[int, int]] | None = None,
    turns: tuple[list[int], list[int]] | None = None,
) -> Features:
    """The aggregate features of one dialogue (training and serving call this same function): per
    customer turn first (emotion, marker counts, length), then for the dialogue (row 0) and for each
    variant with one customer turn blanked (row 1 + j; a blanked turn's values count as 0), each
    feature in closed form from the turns' sums and two largest values. Plain Python: a dialogue has
    a few dozen turns, where numpy's per-call overhead would cost more than the arithmetic.
    `marker_counts`: the customer turns' (unresolved, resolved) counts when the caller has them cached;
    `turns`: (customer turn indices, agent turn indices) when the caller has them."""
    if turns is None:
        turns = [i for i, r in enumerate(parts.roles) if r == "customer"], [i for i, r in enumerate(parts.roles) if r == "agent"]
    cust, agent = turns
    k = len(cust)
    if marker_counts is None:
        marker_counts = [markers.counts(parts.texts[i]) for i in cust]
    agent_set = set(agent)
    polite: set[int | None] = set()  # agent turns with a politeness hit
    empathic: set[int | None] = set()  # ... with an empathy hit (not the missing-empathy one)
    forbidden = agent_negative = 0
    for d, r, t in parts.hits:  # one pass
        if d == "politeness":
            if t in agent_set:
                polite.add(t)
        elif d == "empathy":
            if t in agent_set and r != "empathy.missing_when_upset":
                empathic.add(t)
        elif d == "forbidden_words":
            forbidden += 1
        if r == "emotion.agent_negative":
            agent_negative += 1
    n_agent = len(agent)
    head = [math.log1p(k), math.log1p(n_agent), float(bool(parts.roles) and parts.roles[-1] == "customer"), float(n_agent > 0)]
    agent_len = sum(len(parts.texts[i]) for i in agent) / n_agent if n_agent else 0.0
    tail = [
        len(polite) / n_agent if n_agent else 0.0,
        len(empathic) / n_agent if n_agent else 0.0,
        math.log1p(forbidden),
        math.log1p(agent_negative),
    ]
    if not k:  # no customer turn: every customer feature 0 (as for one silent turn)
        return Features(
            dense=np.array([head + [0.0] * 12 + [math.log1p(agent_len)] + [0.0] * 5 + tail]),
            customer_turns=cust,
            agent_turns=agent,
        )
    neg = [parts.confidences[i] if parts.polarities[i] == "negative" else 0.0 for i in cust]
    pos = [parts.confidences[i] if parts.polarities[i] == "positive" else 0.0 for i in cust]
    unres = [float(u) for u, _ in marker_counts]
    res = [float(r) for _, r in marker_counts]
    negative = [1.0 if x > 0 else 0.0 for x in neg]
    last3 = [0.0] * max(0, k - 3) + neg[-3:]
    n3 = min(k, 3)
    s_neg, s_pos, s_negative, s_unres, s_last3 = sum(neg), sum(pos), sum(negative), sum(unres), sum(last3)
    u2, r2 = sum(unres[-2:]), sum(res[-2:])
    length = float(len(parts.texts[cust[-1]]))
    neg_max, pos_max, l3_max = _max_without(neg), _max_without(pos), _max_without(last3)
    log = math.log1p
    # what does not depend on the blanked turn, once (log1p(0.0) is 0.0: a blanked last turn's values)
    neg_last, pos_last, neg_first = neg[-1], pos[-1], neg[0]
    log_unres_last, log_res_last, log_length, log_agent_len = log(unres[-1]), log(res[-1]), log(length), log(agent_len)
    rows = []
    for j in range(-1, k):  # variant j (-1: none blanked): the 12 + 5 customer features, as DENSE_FEATURES orders them
        if j < 0:
            d_neg = d_pos = d_negative = d_unres = d_last3 = 0.0  # what the blanked turn takes out
        else:
            d_neg, d_pos, d_negative, d_unres, d_last3 = neg[j], pos[j], negative[j], unres[j], last3[j]
        last = j != k - 1  # the last turn is still there
        in2 = j >= k - 2 and j >= 0
        rows.append(
            head
            + [
                (s_neg - d_neg) / k,
                neg_last if last else 0.0,
                neg_max[j + 1],
                neg_first if j != 0 else 0.0,
                (s_pos - d_pos) / k,
                pos_last if last else 0.0,
                (s_negative - d_negative) / k,
                log_unres_last if last else 0.0,
                log(u2 - (unres[j] if in2 else 0.0)),
                log_res_last if last else 0.0,
                log(r2 - (res[j] if in2 else 0.0)),
                log_length if last else 0.0,
                log_agent_len,
                (s_last3 - d_last3) / n3,
                l3_max[j + 1],
                log(s_negative - d_negative),
                log(s_unres - d_unres),
                pos_max[j + 1],
            ]
            + tail
        )
    dense = np.array(rows)
    return Features(dense=dense, customer_turns=cust, agent_turns=agent)


def _max_without(x: list[float]) -> list[float]:
    """[max(x, 0)] then, per j, the max with x[j] set to 0 (every x >= 0): the top value, except at
    the first top position, where it is the runner-up."""
    top = max(x)
    at = x.index(top)
    second = max(x[:at] + x[at + 1 :], default=0.0)  # the others (slices: no Python loop)
    out = [max(top, 0.0)] * (len(x) + 1)
    out[at + 1] = max(second, 0.0)
    return out


def bags_of(grams: Sequence[np.ndarray], parts_turns: tuple[list[int], list[int]]) -> list[tuple[np.ndarray, float]]:
    """The three bags of one dialogue as (ids, value) for training: the customer turns' n-gram ids
    together (an n-gram in two turns counts twice), the last customer turn's, the agent turns'; each
    value 1/sqrt(number of ids), so a bag's score is its weight sum over sqrt(its size), as served.
    `grams`: gram_ids of every turn; `parts_turns`: (customer turn indices, agent turn indices)."""
    cust, agent = parts_turns
    out = []
    for ids in (
        np.concatenate([grams[i] for i in cust]) if cust else _EMPTY,
        grams[cust[-1]] if cust else _EMPTY,
        np.concatenate([grams[i] for i in agent]) if agent else _EMPTY,
    ):
        out.append((ids, 1.0 / math.sqrt(len(ids)) if len(ids) else 0.0))
    return out


_EMPTY = np.zeros(0, dtype=np.int64)
_SORT_BATCH = 256  # texts per onnxruntime call when filling the cache, sorted by length (little padding)


@dataclass(frozen=True, slots=True)
class Prediction:
    predicted: float
    dissatisfied: float
    evidence: list[int]


class SatisfactionModel:
    """predict(parts) -> Prediction; `source` is "<model id>@<digest>" (qa_engine.ml.model_digest)."""

    def __init__(self, model_dir: Path, threads: int = 1, cache_size: int = 20_000) -> None:
        import onnxruntime as ort

        from qa_engine.ml.model_digest import folder_digest

        self.model_dir = Path(model_dir)
        self.config = json.loads((self.model_dir / "labels.json").read_text(encoding="utf-8"))
        if tuple(self.config["dense_features"]) != DENSE_FEATURES or tuple(self.config["blocks"]) != BLOCKS:
            raise ValueError(f"{self.model_dir}: the model was built for other features; rebuild it with `{BUILD}`")
        self.markers = Markers(self.config["markers"])
        self.bias = float(self.config["bias"])
        self.calibration = self.config["calibration"]
        self.dense_weights = np.asarray(self.config["dense_weights"], dtype=np.float64)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(self.model_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.name = self.config.get("name", self.model_dir.name)
        self.source = f"{self.name}@{folder_digest(self.model_dir)}"
        self._sums: TextCache[tuple[int, float, float, float, int, int]] = TextCache(cache_size)

    def probability(self, raw: float) -> float:
        a, b = self.calibration["a"], self.calibration["b"]
        return 1.0 / (1.0 + math.exp(-(a * raw + b)))

    def text_sums(self, texts: Sequence[str]) -> list[tuple[int, float, float, float, int, int]]:
        """Per text: (number of its n-grams, their weight sums in the customer, last-turn and agent
        bags, unresolved and resolved marker counts), through a per-text cache (agents repeat template
        lines, customers 好的 / 谢谢)."""
        return self._sums.get_many(texts, self._compute_sums)

    def _compute_sums(self, texts: list[str]) -> list[tuple[int, float, float, float, int, int]]:
        out: list[tuple[int, float, float, float, int, int] | None] = [None] * len(texts)
        order = sorted(range(len(texts)), key=list(map(len, texts)).__getitem__)  # by length
        for a in range(0, len(order), _SORT_BATCH):
            idx = order[a : a + _SORT_BATCH]
            m = char_ngram_matrix([texts[i] for i in idx])  # padded with BUCKETS: the zero row
            (sums,) = self._session.run(["block_sums"], {"grams": m})
            n = (m < BUCKETS).sum(axis=1)
            counts = self.markers.counts
            # tolist(): Python ints and floats (the same values) in one call, not three numpy scalars per text
            for i, n_i, (s0, s1, s2) in zip(idx, n.tolist(), sums[:, :3].tolist()):
                out[i] = (n_i, s0, s1, s2, *counts(texts[i]))
        return out  # type: ignore[return-value]

    def warm(self, texts: Sequence[str]) -> None:
        """Fill the cache for many texts at once (Inspector.inspect_many does it per chunk: the n-grams
        and onnxruntime calls of a chunk's distinct texts in a few large batches, not per interaction)."""
        self.text_sums(texts)

    def cache_clear(self) -> None:
        self._sums.clear()

    def predict(self, parts: DialogueParts) -> Prediction:
        cust = [i for i, r in enumerate(parts.roles) if r == "customer"]
        agent = [i for i, r in enumerate(parts.roles) if r == "agent"]
        sums = self.text_sums([parts.texts[i] for i in cust + agent])
        k = len(cust)
        f = features(parts, self.markers, [(s[4], s[5]) for s in sums[:k]], (cust, agent))
        n_cust = sum(s[0] for s in sums[:k])
        s_cust = sum(s[1] for s in sums[:k])
        n_agent = sum(s[0] for s in sums[k:])
        agent_score = sum(s[3] for s in sums[k:]) / math.sqrt(n_agent) if n_agent else 0.0
        last_score = sums[k - 1][2] / math.sqrt(sums[k - 1][0]) if k and sums[k - 1][0] else 0.0
        # (1 + k,) as Python floats: the same sums as numpy's `bias + agent_score + f.dense @ w`
        # (left to right: the scalar first), without a numpy scalar per element
        offset = self.bias + agent_score
        dense = [offset + x for x in (f.dense @ self.dense_weights).tolist()]
        raw = (s_cust / math.sqrt(n_cust) if n_cust else 0.0) + last_score + dense[0]
        effects = []
        for j in range(k):  # the prediction minus the prediction with customer turn j blanked
            rest = n_cust - sums[j][0]
            customer = (s_cust - sums[j][1]) / math.sqrt(rest) if rest else 0.0
            effects.append(raw - (customer + (0.0 if j == k - 1 else last_score) + dense[1 + j]))
        return Prediction(
            predicted=round(min(2.0, max(-2.0, raw)), 3),
            dissatisfied=round(self.probability(raw), 3),
            evidence=_evidence(cust, effects, raw),
        )


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
    return DialogueParts(
        roles=list(roles),
        texts=list(texts),
        polarities=pol,
        confidences=conf,
        hits=[(h.dimension, h.rule_id, h.turn) for h in hits],
    )
