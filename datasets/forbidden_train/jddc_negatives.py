"""Real JD agent turns used as ordinary negatives by the forbidden-phrase trainers
(training/train_forbidden.py, train_forbidden_ngram.py, forbidden_baselines.py), read from chat_dev.txt
where it lies (research-only text, never stored).

The pool: agent turns, not content-less, from sessions outside the labelled set's dev/tuning sample
(labelled/jddc_agent_turns.jsonl), distinct stripped texts, first occurrence in file order, seeded
shuffle. Then every text that occurs in a session of the held-out test sample
(labelled/jddc_test_turns.jsonl) or equals one of its turns is dropped. That filter runs after the
shuffle, so the first DRAWN texts are those the committed models were trained on, and the test
sessions were drawn among sessions holding none of them (labelled/sample_jddc.py, sample_test).
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from ..jddc import chat_dev_path, iter_rows

SEED = 20261123
DRAWN = 900  # the trainers' default --jddc-negatives
LABELLED = Path(__file__).resolve().parents[1] / "labelled"


def _refs(name: str) -> list[dict]:
    path = LABELLED / name
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def shuffled_pool(seed: int = SEED, path: Path | None = None) -> list[str]:
    """Candidate negative texts (stripped) in the seeded order, before the held-out filter."""
    from ..labelled.sample_jddc import is_contentless

    labelled = _refs("jddc_agent_turns.jsonl")
    sessions = {r["session_id"] for r in labelled}
    hashes = {r["text_sha1"] for r in labelled}
    seen: set[str] = set()
    texts = []
    for session, _, role, text in iter_rows(path or chat_dev_path()):
        if role != "agent" or session in sessions or is_contentless(text):
            continue
        key = text.strip()
        if key in seen or hashlib.sha1(text.encode("utf-8")).hexdigest() in hashes:
            continue
        seen.add(key)
        texts.append(key)
    random.Random(seed).shuffle(texts)
    return texts


def jddc_negatives(n: int, seed: int = SEED, path: Path | None = None) -> list[str]:
    """The first n texts of the pool that do not touch the held-out test sample's sessions."""
    path = path or chat_dev_path()
    test = _refs("jddc_test_turns.jsonl")
    test_sessions = {r["session_id"] for r in test}
    test_hashes = {r["text_sha1"] for r in test}
    in_test = {text.strip() for session, _, _, text in iter_rows(path) if session in test_sessions}
    out = []
    for key in shuffled_pool(seed, path):
        if key in in_test or hashlib.sha1(key.encode("utf-8")).hexdigest() in test_hashes:
            continue
        out.append(key)
        if len(out) >= n:
            break
    return out
