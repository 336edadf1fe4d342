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


def false_alarm_negatives() -> list[dict]:
    """Real JD agent turns of the false-alarm set's TRAIN split (labelled/FALSE_ALARMS.md) as negatives
    for the forbidden-phrase n-gram model: {text (stripped), source, text_sha1, hard}.

    - every distinct `jddc_replies` turn (train.dec) in the train split, `hard` False;
    - every turn of the train split labelled `false_alarm` for the engine the set was scanned with (rows
      without `found_by`; both sources), `hard` True: that engine's false flags, for the trainer to
      weight. Rows added later for a newer engine (`found_by`) are left to the next round, so that the
      committed model stays what its one command rebuilds;
    - never: a turn of the test split, a text (stripped) that also occurs as a test-split turn of either
      source, a labelled violation, a text equal to a turn of the politeness/forbidden labelled set
      (labelled_set.py, any split), and no chat_dev turn from a session of that set's dev/tuning or
      held-out test sample (as jddc_negatives).
    """
    from ..labelled.false_alarms import distinct_turns, false_alarm_split
    from ..labelled_empathy_jd import load_false_alarms
    from ..labelled_set import load_labelled

    turns = distinct_turns()
    rows = load_false_alarms()
    labels = {(r["source"], r["text_sha1"]): r["label"] for r in rows}
    scanned_hard = {(r["source"], r["text_sha1"]) for r in rows if r["label"] == "false_alarm" and "found_by" not in r}
    test_texts = {t["text"].strip() for s in turns for t in turns[s] if false_alarm_split(t["text_sha1"]) == "test"}
    labelled_texts = {r["text"].strip() for r in load_labelled()}
    sessions = {r["session_id"] for name in ("jddc_agent_turns.jsonl", "jddc_test_turns.jsonl") for r in _refs(name)}
    out = []
    for source in ("jddc_replies", "chat_dev"):
        for t in turns[source]:
            key = t["text"].strip()
            label = labels.get((source, t["text_sha1"]))
            if (false_alarm_split(t["text_sha1"]) != "train" or label == "violation" or key in test_texts
                    or key in labelled_texts):
                continue
            if source == "chat_dev" and t["reference"].split("#")[0] in sessions:
                continue
            hard = (source, t["text_sha1"]) in scanned_hard
            if source == "jddc_replies" or hard:
                out.append({"text": key, "source": source, "text_sha1": t["text_sha1"], "hard": hard})
    return out


def false_alarm_violations() -> list[dict]:
    """The turns of the false-alarm set's TRAIN split labelled `violation` (real JD violations the engine
    flagged), as positives: {text (stripped), source, text_sha1, category (the first labelled one)}."""
    from ..labelled.false_alarms import false_alarm_split
    from ..labelled_empathy_jd import load_false_alarms

    return [{"text": r["text"].strip(), "source": r["source"], "text_sha1": r["text_sha1"],
             "category": r["violation_categories"][0]}
            for r in load_false_alarms() if r["label"] == "violation" and false_alarm_split(r["text_sha1"]) == "train"]
