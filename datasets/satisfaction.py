"""Dialogues with customer-satisfaction labels, as Interactions of the contract (issue 14, point 5).

Both sets are research-only and are read where they lie in ../shared/datasets (QA_SHARED_DIR); nothing
of their text is committed.

- `stc3_train()`: NTCIR-14 STC-3 Chinese training set, 3,700 Weibo customer-helpdesk dialogues. Target
  `s_mean`: the mean of the 19 annotators' S (customer satisfaction, -2..2). Each turn's utterances are
  joined with a newline; sender customer -> role customer, helpdesk -> agent.
- `uss_valid()`: USS JDDC valid split, 330 JD dialogues (the reconstructed file). Each labelled step is
  `user` (customer) then `agent` (the agent's answer after it; empty when the agent said nothing in
  between): a customer turn, then an agent turn when its text is not empty. The last step is USS's
  pseudo-turn `OVERALL`, whose `sat` is the dialogue's satisfaction (0 dissatisfied, 1 neutral,
  2 satisfied); it is not a turn. **Dissatisfied** = OVERALL sat 0 (ASAP's evaluation: label < 1):
  33 of 330 dialogues. `sat_overall` keeps the class.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .jddc import shared_dir

SPLITS = 5  # STC-3 cross-validation folds (fold_of)


def stc3_path(shared: Path | None = None) -> Path:
    return (shared or shared_dir()) / "datasets" / "stc3_train_cn" / "train_data_cn.json"


def uss_path(shared: Path | None = None) -> Path:
    return (shared or shared_dir()) / "datasets" / "uss_jddc_satisfaction" / "uss_jddc_valid_reconstructed.jsonl"


def _need(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"satisfaction data: {path} not found (set QA_SHARED_DIR to the folder that holds datasets/)")
    return path


def fold_of(dialogue_id: str, folds: int = SPLITS) -> int:
    """A dialogue's cross-validation fold: fixed by its id (SHA-1), so every model is cut the same way."""
    return int(hashlib.sha1(dialogue_id.encode("utf-8")).hexdigest()[:8], 16) % folds


def stc3_train(shared: Path | None = None) -> list[dict]:
    """[{id, turns: [{role, text}], s_mean, s_votes, fold}] in file order."""
    with _need(stc3_path(shared)).open(encoding="utf-8") as fh:
        items = json.load(fh)
    out = []
    for item in items:
        votes = [a["quality"]["S"] for a in item["annotations"]]
        turns = [{"role": "customer" if t["sender"] == "customer" else "agent",
                  "text": "\n".join(u for u in t["utterances"] if u)} for t in item["turns"]]
        out.append({"id": str(item["id"]), "turns": turns, "s_mean": sum(votes) / len(votes), "s_votes": votes,
                    "fold": fold_of(str(item["id"]))})
    return out


def uss_valid(shared: Path | None = None) -> list[dict]:
    """[{id, turns: [{role, text}], sat_overall (0/1/2), dissatisfied (bool)}] in file order."""
    out = []
    with _need(uss_path(shared)).open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            d = json.loads(line)
            steps = d["turns"]
            if not steps or steps[-1]["user"] != "OVERALL":
                raise ValueError(f"uss dialogue {d['dialogue_idx']}: no OVERALL pseudo-turn at the end")
            turns = []
            for step in steps[:-1]:
                if step["user"].strip():
                    turns.append({"role": "customer", "text": step["user"]})
                if step["agent"].strip():
                    turns.append({"role": "agent", "text": step["agent"]})
            sat = int(steps[-1]["sat"])
            out.append({"id": f"uss_valid:{d['dialogue_idx']}", "turns": turns, "sat_overall": sat,
                        "dissatisfied": sat == 0})
    return out


def as_interaction(item: dict) -> dict:
    """The dialogue as an Interaction of the contract (channel chat, no times)."""
    return {"interaction_id": item["id"], "channel": "chat", "turns": item["turns"]}


if __name__ == "__main__":
    stc = stc3_train()
    uss = uss_valid()
    print(f"stc3_train: {len(stc)} dialogues, {sum(len(d['turns']) for d in stc)} turns; "
          f"folds {[sum(d['fold'] == k for d in stc) for k in range(SPLITS)]}")
    print(f"uss_valid: {len(uss)} dialogues, dissatisfied {sum(d['dissatisfied'] for d in uss)}, "
          f"overall 0/1/2 = {[sum(d['sat_overall'] == k for d in uss) for k in range(3)]}")
