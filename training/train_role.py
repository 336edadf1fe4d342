"""Train the agent/customer role classifier on the real JD chats (../shared, never committed).

Split: sessions whose sha1(session_id) first byte is < 52 (about 20 %) are held out for testing.
Run: .venv/bin/python -m training.train_role --out models/role_classifier
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections import Counter
from pathlib import Path

from qa_datasets.jddc import chat_dev_path, iter_rows
from qa_engine.ml.role_classifier import RoleClassifier, features

MIN_COUNT = 3
ALPHA = 0.5


def is_test(session: str) -> bool:
    return hashlib.sha1(session.encode()).digest()[0] < 52


def split_rows():
    train, test = [], []
    for session, _, role, text in iter_rows(chat_dev_path()):
        (test if is_test(session) else train).append((role, text))
    return train, test


def train(rows) -> dict:
    counts = {"agent": Counter(), "customer": Counter()}
    n_role = Counter()
    for role, text in rows:
        n_role[role] += 1
        counts[role].update(features(text))
    total = counts["agent"] + counts["customer"]
    vocab = [f for f, c in total.items() if c >= MIN_COUNT]
    model = {"prior_agent": n_role["agent"] / sum(n_role.values()), "min_count": MIN_COUNT, "alpha": ALPHA}
    unseen = []
    for role in ("agent", "customer"):
        denom = sum(counts[role][f] for f in vocab) + ALPHA * (len(vocab) + 1)
        model[role] = {f: round(math.log((counts[role][f] + ALPHA) / denom), 4) for f in vocab}
        unseen.append(round(math.log(ALPHA / denom), 4))
    model["unseen"] = unseen
    return model


def accuracy(clf: RoleClassifier, rows) -> float:
    ok = sum((clf.agent_probability(t) >= 0.5) == (r == "agent") for r, t in rows)
    return ok / len(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("models/role_classifier"))
    args = ap.parse_args()
    tr, te = split_rows()
    model = train(tr)
    clf = RoleClassifier(model["prior_agent"], model["agent"], model["customer"], tuple(model["unseen"]))
    acc = accuracy(clf, te)
    model["metrics"] = {"train_turns": len(tr), "test_turns": len(te), "test_accuracy": round(acc, 4)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.json").write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    print(json.dumps(model["metrics"]))


if __name__ == "__main__":
    main()
