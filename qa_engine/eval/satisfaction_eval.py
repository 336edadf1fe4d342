"""Accuracy of the satisfaction model beside the baseline (`qa-engine eval satisfaction`; training uses
the same code, training/train_satisfaction.py, whose docstring describes the model and the baseline).

5-fold cross-validated Spearman with the mean S on STC-3 train (folds fixed by dialogue id; both the
model's features and block weights and the baseline refitted per fold, alpha chosen by the same CV),
and AUC for dissatisfied dialogues on USS JDDC valid (dissatisfied = OVERALL satisfaction 0), the
served model (models/satisfaction_ridge, through the exported graph) and the baseline fitted on all of
STC-3. Then USS valid as training data, out of fold (`uss_out_of_fold`: repeated stratified 5-fold by
dialogue; the STC-3-only model, the ridge with USS targets, a second-stage logistic, the baseline with
USS), the check that adapting to JD chats carries over. Needs the shared datasets and torch (sparse kernel
products; the `train` extra).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from qa_engine.config import Settings
from qa_engine.ml.satisfaction import BLOCKS, DISSATISFIED_AT, MODEL_FOLDER, Markers, bags_of, features, gram_ids
from qa_engine.ml.turn_classifier import BUCKETS

BLOCK_WEIGHTS = {"customer": 0.03, "last_customer": 0.015, "agent": 0.015, "dense": 1.0}
ALPHAS = (0.01, 0.03, 0.1)
BASELINE_ALPHAS = (0.3, 1.0, 3.0)
# Markers read in the last customer turns (written for service chat, generic; not taken from the data).
MARKERS = {
    "unresolved": [
        "还没",
        "怎么还",
        "没人",
        "没有人",
        "投诉",
        "差评",
        "太差",
        "不行",
        "不能",
        "没用",
        "垃圾",
        "骗",
        "退款",
        "怎么回事",
        "为什么",
        "什么时候",
        "到底",
        "一直",
        "等了",
        "多久",
        "无语",
        "算了",
        "呵呵",
        "?",
        "!",
        "坑",
        "失望",
        "生气",
        "慢",
    ],
    "resolved": [
        "谢谢",
        "感谢",
        "好的",
        "解决",
        "明白",
        "知道了",
        "可以了",
        "好了",
        "收到",
        "没有了",
        "没了",
        "辛苦",
        "麻烦了",
        "ok",
        "嗯",
        "满意",
        "赞",
        "给力",
    ],
}


# --- statistics (numpy only) ---------------------------------------------------------------------


def rank(values: ArrayLike) -> np.ndarray:
    """Ranks with ties averaged."""
    a = np.asarray(values, dtype=np.float64)
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    starts = np.concatenate(([True], sorted_a[1:] != sorted_a[:-1]))
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.concatenate((first[1:], [len(a)])) - 1
    r = np.empty(len(a))
    r[order] = ((first + last) / 2)[group]
    return r


def spearman(a: ArrayLike, b: ArrayLike) -> float:
    return float(np.corrcoef(rank(a), rank(b))[0, 1])


def auc(score: ArrayLike, positive: ArrayLike) -> float:
    """P(a positive scores above a negative), ties half."""
    pos = np.asarray(positive, dtype=bool)
    r = rank(score)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    return float((r[pos].sum() - n1 * (n1 - 1) / 2) / (n1 * n0))


def platt(raw: np.ndarray, label: np.ndarray, steps: int = 50) -> dict[str, float]:
    """P(label | raw) = sigmoid(a * raw + b), maximum likelihood by Newton's method."""
    a, b = -1.0, 0.0
    x = np.stack([raw, np.ones_like(raw)], axis=1)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ [a, b])))
        g = x.T @ (label - p)
        h = -(x.T * (p * (1 - p))) @ x
        a, b = np.array([a, b]) - np.linalg.solve(h, g)
    return {"a": round(float(a), 6), "b": round(float(b), 6)}


# --- kernels -------------------------------------------------------------------------------------


def sparse_rows(rows: list[tuple[np.ndarray, float]], width: int):
    """(ids, value) per row -> torch sparse (rows x width), float64."""
    import torch

    r = np.concatenate([np.full(len(ids), i) for i, (ids, _) in enumerate(rows)]) if rows else np.zeros(0)
    c = np.concatenate([ids for ids, _ in rows]) if rows else np.zeros(0)
    v = np.concatenate([np.full(len(ids), val) for ids, val in rows]) if rows else np.zeros(0)
    idx = torch.tensor(np.stack([r, c]).astype(np.int64))
    return torch.sparse_coo_tensor(idx, torch.tensor(v, dtype=torch.float64), (len(rows), width)).coalesce()


def linear_kernel(a, b) -> np.ndarray:
    import torch

    return torch.sparse.mm(a, b.t().coalesce()).to_dense().numpy()


def bag_rows(texts: Sequence[str], vocab: dict[str, int], grow: bool) -> list[tuple[np.ndarray, float]]:
    """The baseline's bag: distinct character uni- and bigrams, unit length."""
    rows = []
    for text in texts:
        grams = set(text) | {text[i : i + 2] for i in range(len(text) - 1)}
        ids = []
        for g in grams:
            j = vocab.get(g)
            if j is None and grow:
                j = vocab[g] = len(vocab)
            if j is not None:
                ids.append(j)
        rows.append((np.array(sorted(ids), dtype=np.int64), 1 / np.sqrt(len(ids)) if ids else 0.0))
    return rows


def cv_predictions(k: np.ndarray, y: np.ndarray, folds: np.ndarray, alpha: float) -> np.ndarray:
    """Out-of-fold predictions of kernel ridge (a constant 1 added to the kernel: the intercept)."""
    pred = np.zeros(len(y))
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        m = y[tr].mean()
        a = np.linalg.solve(k[np.ix_(tr, tr)] + 1.0 + alpha * np.eye(int(tr.sum())), y[tr] - m)
        pred[te] = (k[np.ix_(te, tr)] + 1.0) @ a + m
    return pred


def choose_alpha(k: np.ndarray, y: np.ndarray, folds: np.ndarray, alphas: Sequence[float]) -> dict:
    """The alpha with the best cross-validated Spearman, its out-of-fold predictions and the curve."""
    curve, preds = {}, {}
    for alpha in alphas:
        preds[alpha] = cv_predictions(k, y, folds, alpha)
        curve[alpha] = spearman(preds[alpha], y)
    best = max(alphas, key=lambda a: curve[a])
    per_fold = [spearman(preds[best][folds == f], y[folds == f]) for f in np.unique(folds)]
    return {
        "alpha": best,
        "oof": preds[best],
        "cv_spearman": round(curve[best], 4),
        "cv_spearman_per_fold": [round(x, 4) for x in per_fold],
        "curve": {str(a): round(s, 4) for a, s in curve.items()},
    }


def fit_dual(k: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    m = float(y.mean())
    return np.linalg.solve(k + 1.0 + alpha * np.eye(len(y)), y - m), m


# --- data through the engine ---------------------------------------------------------------------


def engine_parts(items: list[dict], settings: Settings) -> list:
    """DialogueParts of each dialogue as the engine sees it (`settings`, satisfaction off)."""
    from qa_datasets.satisfaction import as_interaction
    from qa_engine.engine import Inspector
    from qa_engine.ml.satisfaction import parts_of
    from qa_engine.schema import Interaction
    from qa_engine.text.normalize import normalize

    inspector = Inspector(settings.model_copy(update={"satisfaction": False, "onnx_threads": 1}))
    interactions = [Interaction.model_validate(as_interaction(d)) for d in items]
    out = []
    for interaction, result in zip(interactions, inspector.inspect_many(interactions), strict=True):
        if isinstance(result, Exception):
            raise result
        turns = interaction.turns
        out.append(parts_of([t.role for t in turns], [normalize(t.text).text for t in turns], result.emotion.turns, result.hits))
    return out


def customer_text(parts) -> str:
    return "\n".join(t for r, t in zip(parts.roles, parts.texts) if r == "customer")


# --- the whole build -----------------------------------------------------------------------------


def evaluate(stc_parts: list, y: np.ndarray, folds: np.ndarray, uss_parts: list, uss_dis: np.ndarray) -> dict:
    """Both models: CV on STC-3, fitted on all of it, the baseline scored on USS (the model's USS
    figure comes from the exported graph, see build). Returns the figures and what export needs."""
    markers = Markers(MARKERS)
    feats = [features(p, markers) for p in stc_parts]
    bags = [bags_of(gram_ids(p.texts), (f.customer_turns, f.agent_turns)) for p, f in zip(stc_parts, feats)]
    kernels = {}
    for b, name in enumerate(BLOCKS):
        rows = [bag[b] for bag in bags]
        x = sparse_rows(rows, BUCKETS)
        kernels[name] = (rows, linear_kernel(x, x))
    dense = np.stack([f.dense[0] for f in feats]).astype(np.float64)
    mu, sd = dense.mean(axis=0), dense.std(axis=0)
    sd[sd == 0] = 1.0
    z = (dense - mu) / sd
    k = BLOCK_WEIGHTS["dense"] * (z @ z.T) / z.shape[1]
    for name in BLOCKS:
        k = k + BLOCK_WEIGHTS[name] * kernels[name][1]
    model = choose_alpha(k, y, folds, ALPHAS)
    a, m = fit_dual(k, y, model["alpha"])
    # primal weights: one per hashed n-gram of each bag, one per aggregate feature
    table = np.zeros((BUCKETS + 1, len(BLOCKS)))  # row BUCKETS (the padding id) stays zero
    for b, name in enumerate(BLOCKS):
        for (ids, scale), coef in zip(kernels[name][0], a):
            np.add.at(table[:, b], ids, BLOCK_WEIGHTS[name] * coef * scale)  # an id may repeat
    dense_weights = BLOCK_WEIGHTS["dense"] * (z.T @ a) / z.shape[1] / sd
    bias = m + float(a.sum()) - float(dense_weights @ mu)
    fitted = (k + 1.0) @ a + m

    vocab: dict[str, int] = {}
    b_rows = bag_rows([customer_text(p) for p in stc_parts], vocab, grow=True)
    bx = sparse_rows(b_rows, len(vocab))
    bk = linear_kernel(bx, bx)
    baseline = choose_alpha(bk, y, folds, BASELINE_ALPHAS)
    ba, bm = fit_dual(bk, y, baseline["alpha"])
    ux = sparse_rows(bag_rows([customer_text(p) for p in uss_parts], vocab, grow=False), len(vocab))
    uss_baseline = (linear_kernel(ux, bx) + 1.0) @ ba + bm
    return {
        "model": model,
        "baseline": baseline,
        "table": table,
        "dense_weights": dense_weights,
        "bias": bias,
        "fitted": fitted,
        "uss_baseline": uss_baseline,
    }


def figures(name: str, cv: dict, y: np.ndarray, uss_score: np.ndarray, uss_dis: np.ndarray, uss_overall: np.ndarray) -> dict:
    """One model's row of the report: STC-3 CV and USS valid (score: higher = more dissatisfied)."""
    return {
        "name": name,
        "alpha": cv["alpha"],
        "stc3_cv_spearman": cv["cv_spearman"],
        "stc3_cv_spearman_per_fold": cv["cv_spearman_per_fold"],
        "stc3_alpha_curve": cv["curve"],
        "stc3_cv_dissatisfied_auc": round(auc(-cv["oof"], y <= DISSATISFIED_AT), 4),
        "uss_dissatisfied_auc": round(auc(uss_score, uss_dis), 4),
        "uss_overall_spearman": round(spearman(-uss_score, uss_overall), 4),
    }


# --- USS valid as training data, out of fold (issue 14 point 5: does adapting to JD carry over?) --------

USS_SEEDS = 5  # repeats of the stratified 5-fold split of the 330 USS dialogues
USS_FOLDS = 5
# candidate maps of OVERALL 0/1/2 onto the mean-S scale and USS sample weights (chosen by an inner CV)
USS_TARGETS = ((-1.0, 0.0, 0.5), (-1.5, -0.5, 0.5), (-1.0, -0.25, 1.0), (-0.5, 0.0, 0.5), (-1.5, 0.0, 1.0))
USS_WEIGHTS = (0.1, 0.3, 1.0, 3.0)
STAGE2_LAMBDAS = (30.0, 100.0, 300.0, 1000.0, 3000.0)  # L2 of the second-stage logistic (inner CV)


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each item's fold: every class shuffled (seeded) and dealt round-robin, so each fold holds its share."""
    rng = np.random.RandomState(seed)
    out = np.zeros(len(labels), dtype=int)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        out[idx] = np.arange(len(idx)) % folds
    return out


def uss_splits(overall: np.ndarray, seeds: int = USS_SEEDS, folds: int = USS_FOLDS):
    """(seed, train indices, test indices) of the repeated stratified split by dialogue: every USS
    out-of-fold figure goes through here, and nothing of a test fold is in its training side."""
    for seed in range(seeds):
        f = stratified_folds(overall, folds, seed)
        for j in range(folds):
            yield seed, np.flatnonzero(f != j), np.flatnonzero(f == j)


def residual_kernel(k: np.ndarray, y: np.ndarray, alpha: float, ns: int) -> tuple[np.ndarray, np.ndarray]:
    """`k` (with the constant) over STC-3 (the first `ns` rows) then USS: the STC-3-only fit's
    predictions on USS and the kernel of USS left once STC-3 is fitted, K_uu - K_us (K_ss + a)^-1 K_su.
    Adding USS dialogues to the ridge is then a small ridge on the residuals with this kernel (exact)."""
    m = float(y.mean())
    sol = np.linalg.solve(k[:ns, :ns] + alpha * np.eye(ns), np.concatenate([(y - m)[:, None], k[:ns, ns:]], axis=1))
    return k[ns:, :ns] @ sol[:, 0] + m, k[ns:, ns:] - k[ns:, :ns] @ sol[:, 1:]


def adapted(base: np.ndarray, c: np.ndarray, alpha: float, target: np.ndarray, weight: float, train, test) -> np.ndarray:
    """Predictions on USS `test` of the ridge fitted on all of STC-3 and the USS `train` dialogues
    (targets `target`, sample weight `weight`: their ridge penalty alpha / weight)."""
    a = np.linalg.solve(c[np.ix_(train, train)] + alpha / weight * np.eye(len(train)), target[train] - base[train])
    return base[test] + c[np.ix_(test, train)] @ a


def logistic_fit(x: np.ndarray, label: np.ndarray, lam: float, steps: int = 30) -> np.ndarray:
    """L2-penalised logistic regression (intercept unpenalised) by Newton's method; weights, intercept first."""
    x1 = np.hstack([np.ones((len(x), 1)), x])
    pen = lam * np.eye(x1.shape[1])
    pen[0, 0] = 0.0
    w = np.zeros(x1.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x1 @ w)))
        w = w + np.linalg.solve(x1.T @ (x1 * (p * (1 - p))[:, None]) + pen, x1.T @ (label - p) - pen @ w)
    return w


def stage2(x: np.ndarray, dis: np.ndarray, overall: np.ndarray, train, test, seed: int) -> np.ndarray:
    """Second stage: P(dissatisfied) logit on USS `test` from a logistic fitted on USS `train` (features
    standardised on `train`; lambda by a 4-fold CV inside `train`)."""
    mu, sd = x[train].mean(axis=0), x[train].std(axis=0)
    sd[sd == 0] = 1.0
    z = (x - mu) / sd
    inner = stratified_folds(overall[train], 4, 1000 + seed)
    best: tuple[float, float] | None = None
    for lam in STAGE2_LAMBDAS:
        score = np.zeros(len(train))
        for j in range(4):
            w = logistic_fit(z[train][inner != j], dis[train][inner != j], lam)
            score[inner == j] = w[0] + z[train][inner == j] @ w[1:]
        a = auc(score, dis[train])
        if best is None or a > best[0]:
            best = (a, lam)
    assert best is not None  # STAGE2_LAMBDAS is not empty
    w = logistic_fit(z[train], dis[train], best[1])
    return w[0] + z[test] @ w[1:]


def uss_out_of_fold(
    stc_parts: list, y: np.ndarray, stc_folds: np.ndarray, uss_parts: list, overall: np.ndarray, alphas: tuple[float, float]
) -> dict:
    """USS valid as training data, measured out of fold (uss_splits): per seed the out-of-fold AUC for
    dissatisfied and Spearman with OVERALL of (1) the STC-3-only model (this feature set), (2) the same
    ridge fitted on STC-3 + the other USS folds (OVERALL mapped by USS_TARGETS, weight USS_WEIGHTS, both
    chosen by a 4-fold CV inside the training folds), (3) a second-stage logistic for dissatisfied on
    the STC-3 model's prediction and the 26 aggregate features, fitted on the other USS folds, (4) the
    baseline with USS added as in (2). `alphas`: the model's and the baseline's ridge alpha (STC-3 CV).
    Gains: each model's AUC minus the STC-3-only model's, per fold (mean, sd) and by a paired bootstrap
    of the first seed's out-of-fold scores; and the STC-3 CV Spearman of (2) with all of USS in training."""
    dis = overall == 0
    ns = len(stc_parts)
    markers = Markers(MARKERS)
    parts = list(stc_parts) + list(uss_parts)
    feats = [features(p, markers) for p in parts]
    bags = [bags_of(gram_ids(p.texts), (f.customer_turns, f.agent_turns)) for p, f in zip(parts, feats)]
    dense = np.stack([f.dense[0] for f in feats]).astype(np.float64)
    mu, sd = dense[:ns].mean(axis=0), dense[:ns].std(axis=0)  # STC-3's, as the served model: no USS in it
    sd[sd == 0] = 1.0
    z = (dense - mu) / sd
    k = BLOCK_WEIGHTS["dense"] * (z @ z.T) / z.shape[1] + 1.0
    for block, name in enumerate(BLOCKS):
        x = sparse_rows([bag[block] for bag in bags], BUCKETS)
        k += BLOCK_WEIGHTS[name] * linear_kernel(x, x)
    vocab: dict[str, int] = {}
    bx = sparse_rows(bag_rows([customer_text(p) for p in parts], vocab, grow=True), len(vocab))
    post = {"model": residual_kernel(k, y, alphas[0], ns)}
    post["baseline"] = residual_kernel(linear_kernel(bx, bx) + 1.0, y, alphas[1], ns)
    del bx
    stage2_x = np.hstack([post["model"][0][:, None], z[ns:]])

    def choose(base, c, alpha, train, seed):
        """The OVERALL map and USS weight with the best AUC of a 4-fold CV inside `train`."""
        inner = stratified_folds(overall[train], 4, 2000 + seed)
        best: tuple[float, np.ndarray, float] | None = None
        for t in USS_TARGETS:
            target = np.array(t)[overall]
            for weight in USS_WEIGHTS:
                score = np.zeros(len(train))
                for j in range(4):
                    score[inner == j] = adapted(base, c, alpha, target, weight, train[inner != j], train[inner == j])
                a = auc(-score, dis[train])
                if best is None or a > best[0]:
                    best = (a, target, weight)
        assert best is not None  # USS_TARGETS and USS_WEIGHTS are not empty
        return best[1], best[2]

    rows: dict[str, dict[str, list[float]]] = {
        n: {"auc": [], "rho": [], "fold_gain": []} for n in ("stc3_only", "ridge_uss", "stage2", "baseline_uss")
    }
    pred = {n: np.zeros(len(overall)) for n in rows}
    first_seed: dict[str, np.ndarray] = {}
    base = post["model"][0]
    for seed, train, test in uss_splits(overall):
        pred["stc3_only"][test] = -base[test]
        for name, key in (("ridge_uss", "model"), ("baseline_uss", "baseline")):
            b, c = post[key]
            alpha = alphas[0] if key == "model" else alphas[1]
            target, weight = choose(b, c, alpha, train, seed)
            pred[name][test] = -adapted(b, c, alpha, target, weight, train, test)
        pred["stage2"][test] = stage2(stage2_x, dis.astype(np.float64), overall, train, test, seed)
        for name in rows:
            rows[name]["fold_gain"].append(auc(pred[name][test], dis[test]) - auc(-base[test], dis[test]))
        if len(rows["stc3_only"]["fold_gain"]) % USS_FOLDS == 0:  # this seed's folds are all scored
            for name in rows:
                rows[name]["auc"].append(auc(pred[name], dis))
                rows[name]["rho"].append(spearman(-pred[name], overall))
                first_seed.setdefault(name, pred[name].copy())
    rng = np.random.RandomState(0)  # paired bootstrap over dialogues of the first seed's out-of-fold scores
    draws = [rng.randint(0, len(overall), len(overall)) for _ in range(1000)]
    out = {}
    for name, r in rows.items():
        gain = [auc(first_seed[name][i], dis[i]) - auc(first_seed["stc3_only"][i], dis[i]) for i in draws]
        out[name] = {
            "uss_oof_auc_mean": round(float(np.mean(r["auc"])), 4),
            "uss_oof_auc_sd": round(float(np.std(r["auc"])), 4),
            "uss_oof_rho_mean": round(float(np.mean(r["rho"])), 4),
            "per_fold_gain_mean": round(float(np.mean(r["fold_gain"])), 4),
            "per_fold_gain_sd": round(float(np.std(r["fold_gain"])), 4),
            "bootstrap_gain_95": [round(float(np.percentile(gain, q)), 4) for q in (2.5, 97.5)],
        }
    # STC-3 5-fold CV of the ridge with all of USS in its training data (map and weight by CV on USS)
    target, weight = choose(*post["model"], alphas[0], np.arange(len(overall)), USS_SEEDS)
    yy = np.concatenate([y, target])
    folds = stc_folds
    oof = np.zeros(ns)
    for f in np.unique(folds):
        tr = np.concatenate([np.flatnonzero(folds != f), np.arange(ns, len(yy))])
        te = np.flatnonzero(folds == f)
        m = float(y[folds != f].mean())
        reg = np.where(tr < ns, alphas[0], alphas[0] / weight)
        a = np.linalg.solve(k[np.ix_(tr, tr)] + np.diag(reg), yy[tr] - m)
        oof[te] = k[np.ix_(te, tr)] @ a + m
    out["ridge_uss"]["stc3_cv_spearman_with_all_uss"] = round(spearman(oof, y), 4)
    out["ridge_uss"]["map_and_weight_on_all_uss"] = {
        "overall_0_1_2": [float(target[overall == c][0]) for c in range(3)],
        "weight": weight,
    }
    return {"seeds": USS_SEEDS, "folds": USS_FOLDS, "models": out}


def load(settings: Settings):
    """STC-3 and USS through the engine (`settings`): parts, targets, folds."""
    from qa_datasets.satisfaction import stc3_train, uss_valid

    stc, uss = stc3_train(), uss_valid()
    return {
        "stc_parts": engine_parts(stc, settings),
        "uss_parts": engine_parts(uss, settings),
        "y": np.array([d["s_mean"] for d in stc]),
        "folds": np.array([d["fold"] for d in stc]),
        "uss_dis": np.array([d["dissatisfied"] for d in uss]),
        "uss_overall": np.array([d["sat_overall"] for d in uss]),
    }


def measure(data: dict, report: dict, model_dir: Path) -> dict:
    """The report (metrics.json): both models' CV on STC-3, the baseline refitted and the served model
    in `model_dir` scored on USS valid."""
    from qa_engine.ml.satisfaction import SatisfactionModel

    y, uss_dis, uss_overall = data["y"], data["uss_dis"], data["uss_overall"]
    served = SatisfactionModel(model_dir)
    uss_model = np.array([served.predict(p).dissatisfied for p in data["uss_parts"]])
    rows = [
        figures(f"{model_dir.name} (this model)", report["model"], y, uss_model, uss_dis, uss_overall),
        figures(
            "baseline: ridge on char uni+bigram bag of customer turns",
            report["baseline"],
            y,
            -report["uss_baseline"],
            uss_dis,
            uss_overall,
        ),
    ]
    return {
        "stc3_train": {
            "dialogues": len(y),
            "folds": int(data["folds"].max() + 1),
            "dissatisfied_share": round(float((y <= DISSATISFIED_AT).mean()), 4),
        },
        "uss_valid": {
            "dialogues": len(uss_dis),
            "dissatisfied": int(uss_dis.sum()),
            "definition": "OVERALL satisfaction 0 (of 0/1/2)",
        },
        "model_source": served.source,
        "models": rows,
        "uss_out_of_fold": uss_out_of_fold(
            data["stc_parts"], y, data["folds"], data["uss_parts"], uss_overall,
            (report["model"]["alpha"], report["baseline"]["alpha"]),
        ),
    }  # fmt: skip


def evaluate_saved(settings: Settings) -> dict:
    """`qa-engine eval satisfaction`: the CV figures recomputed (the model's feature set and block
    weights, the baseline) and the served model (settings.models_dir) on USS valid."""
    import torch

    torch.set_num_threads(settings.onnx_threads)
    data = load(settings)
    report = evaluate(data["stc_parts"], data["y"], data["folds"], data["uss_parts"], data["uss_dis"])
    return measure(data, report, settings.models_dir / MODEL_FOLDER)


def format_report(metrics: dict) -> str:
    stc, uss = metrics["stc3_train"], metrics["uss_valid"]
    lines = [
        f"Predicted customer satisfaction ({metrics['model_source']})",
        f"STC-3 train: {stc['dialogues']} dialogues, {stc['folds']}-fold CV (folds by dialogue id), target mean S; "
        f"USS JDDC valid: {uss['dialogues']} dialogues, {uss['dissatisfied']} dissatisfied ({uss['definition']})",
        "",
        f"{'model':58} {'alpha':>6} {'STC-3 CV Spearman':>18} {'STC-3 CV AUC':>13} {'USS AUC':>8} {'USS rho':>8}",
    ]
    for r in metrics["models"]:
        lines.append(
            f"{r['name'][:58]:58} {r['alpha']:>6g} {r['stc3_cv_spearman']:>18.4f} "
            f"{r['stc3_cv_dissatisfied_auc']:>13.4f} {r['uss_dissatisfied_auc']:>8.4f} {r['uss_overall_spearman']:>8.4f}"
        )
    lines += [
        "",
        "STC-3 CV AUC: dissatisfied = mean S <= -0.5, out-of-fold; USS AUC: dissatisfied dialogues; "
        "USS rho: Spearman with the OVERALL class 0/1/2. Targets: CV Spearman >= 0.80, USS AUC >= 0.75.",
    ]
    oof = metrics.get("uss_out_of_fold")
    if oof:
        names = {
            "stc3_only": "this model's features, STC-3 only",
            "ridge_uss": "ridge on STC-3 + other USS folds (map, weight by inner CV)",
            "stage2": "2nd-stage logistic on USS folds (prediction + 26 features)",
            "baseline_uss": "baseline on STC-3 + other USS folds",
        }
        lines += [
            "",
            f"USS valid as training data, out of fold: {oof['folds']}-fold stratified by OVERALL, by dialogue, "
            f"{oof['seeds']} seeds (mean +- sd over seeds); gain = AUC minus the STC-3-only model's",
            f"{'model':60} {'USS OOF AUC':>15} {'rho':>7} {'gain per fold':>15} {'bootstrap 95 %':>17}",
        ]
        for key, r in oof["models"].items():
            lo, hi = r["bootstrap_gain_95"]
            lines.append(
                f"{names[key]:60} {r['uss_oof_auc_mean']:>7.4f} +- {r['uss_oof_auc_sd']:.3f} {r['uss_oof_rho_mean']:>7.4f} "
                f"{r['per_fold_gain_mean']:>+7.3f} +- {r['per_fold_gain_sd']:.3f} {lo:>+8.3f}..{hi:+.3f}"
            )
        lines.append(
            f"STC-3 CV Spearman of the ridge with all of USS in training: {oof['models']['ridge_uss']['stc3_cv_spearman_with_all_uss']:.4f}"
        )
    return "\n".join(lines)
