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


# The engines whose labelled hits on the false-alarm set's train split the n-gram trainer reads (hard
# negatives, violations): the engine the set was scanned with (rows without `found_by`) and those named
# here. Rows added later for a newer engine are left to the next round, so that the committed model stays
# what its one command rebuilds.
TRAINED_ON_HITS_OF = (
    "forbidden pack 2026.12.1 (forbidden_ngram threshold 0.73)",
    # the engine the STC-3 halves were built for (its hits on stc3_train: stc3_negatives, stc3_violations)
    "forbidden pack 2026.12.2 (forbidden_ngram threshold 0.78)",
)


def _hits_read(row: dict) -> bool:
    return row.get("found_by") in (None, *TRAINED_ON_HITS_OF)


def _labelled_sessions() -> set[str]:
    """chat_dev sessions of the politeness/forbidden labelled set (dev/tuning sample and held-out test sample)."""
    return {r["session_id"] for name in ("jddc_agent_turns.jsonl", "jddc_test_turns.jsonl") for r in _refs(name)}


def _held_out_texts() -> set[str]:
    """Stripped texts no negative may equal: every test-split turn of the false-alarm set (either source),
    every turn of the politeness/forbidden labelled set (any split) and every row of a chat_dev session
    of its held-out test sample (any role)."""
    from ..labelled.false_alarms import distinct_turns, false_alarm_split
    from ..labelled_set import load_labelled

    turns = distinct_turns()
    out = {t["text"].strip() for s in turns for t in turns[s] if false_alarm_split(t["text_sha1"]) == "test"}
    out |= {r["text"].strip() for r in load_labelled()}
    test_sessions = {r["session_id"] for r in _refs("jddc_test_turns.jsonl")}
    out |= {text.strip() for session, _, _, text in iter_rows(chat_dev_path()) if session in test_sessions}
    return out


def false_alarm_negatives() -> list[dict]:
    """Real JD agent turns of the false-alarm set's TRAIN split (labelled/FALSE_ALARMS.md) as negatives
    for the forbidden-phrase n-gram model: {text (stripped), source, text_sha1, hard}.

    - every distinct turn of that split, `jddc_replies` (train.dec) and `chat_dev` (outside the sessions of
      the politeness/forbidden labelled set, whose dev/tuning sessions calibrate the threshold and whose
      test sessions are held out), `hard` False;
    - `hard` True: the turns of the split labelled `false_alarm` for an engine the trainer reads
      (`TRAINED_ON_HITS_OF`), for the trainer to weight;
    - never: a turn of the test split, a text (stripped) that also occurs as a test-split turn of either
      source, a labelled violation, a text equal to a turn of the politeness/forbidden labelled set
      (labelled_set.py, any split) or to any row of its held-out test sessions.
    """
    from ..labelled.false_alarms import distinct_turns, false_alarm_split
    from ..labelled_empathy_jd import load_false_alarms

    turns = distinct_turns()
    rows = load_false_alarms()
    labels = {(r["source"], r["text_sha1"]): r["label"] for r in rows}
    hard = {(r["source"], r["text_sha1"]) for r in rows if r["label"] == "false_alarm" and _hits_read(r)}
    held_out = _held_out_texts()
    sessions = _labelled_sessions()
    out = []
    for source in ("jddc_replies", "chat_dev"):
        for t in turns[source]:
            key = t["text"].strip()
            if (false_alarm_split(t["text_sha1"]) != "train" or labels.get((source, t["text_sha1"])) == "violation"
                    or key in held_out):
                continue
            if source == "chat_dev" and t["reference"].split("#")[0] in sessions:
                continue
            out.append({"text": key, "source": source, "text_sha1": t["text_sha1"],
                        "hard": (source, t["text_sha1"]) in hard})
    return out


def false_alarm_violations() -> list[dict]:
    """The turns of the false-alarm set's TRAIN split labelled `violation` (real JD violations an engine the
    trainer reads flagged), as positives: {text (stripped), source, text_sha1, category (the first labelled one)}."""
    from ..labelled.false_alarms import false_alarm_split
    from ..labelled_empathy_jd import load_false_alarms

    return [{"text": r["text"].strip(), "source": r["source"], "text_sha1": r["text_sha1"],
             "category": r["violation_categories"][0]}
            for r in load_false_alarms()
            if r["label"] == "violation" and r["split"] == "train" == false_alarm_split(r["text_sha1"]) and _hits_read(r)]


MIN_SHARED_CHARS = 10  # a customer turn this long in both a USS dialogue and chat_dev: the same session


def uss_negatives() -> list[dict]:
    """Real JD agent turns of the USS JDDC valid dialogues (qa_datasets.satisfaction.uss_valid; another sample
    of JD chats, chat-log style like chat_dev) as ordinary negatives: {text (stripped), source "uss_valid",
    text_sha1}, one per distinct text, first occurrence.

    Never: a text equal to a held-out text (`_held_out_texts`: the false-alarm test split, the labelled
    set, the rows of its held-out test sessions), nor any turn of a dialogue that is probably a chat_dev
    session (a customer turn of at least MIN_SHARED_CHARS characters occurs in chat_dev)."""
    from ..satisfaction import uss_valid

    held_out = _held_out_texts()
    chat_dev_texts = {text.strip() for _, _, _, text in iter_rows(chat_dev_path())}
    seen: set[str] = set()
    out = []
    for dialogue in uss_valid():
        if any(t["role"] == "customer" and len(t["text"].strip()) >= MIN_SHARED_CHARS
               and t["text"].strip() in chat_dev_texts for t in dialogue["turns"]):
            continue
        for turn in dialogue["turns"]:
            key = turn["text"].strip()
            if turn["role"] != "agent" or key in seen or key in held_out:
                continue
            seen.add(key)
            out.append({"text": key, "source": "uss_valid", "text_sha1": hashlib.sha1(key.encode("utf-8")).hexdigest()})
    return out


def _stc3_labels() -> dict[str, dict]:
    """text_sha1 -> labelled row, for the stc3_train rows of the engines the trainer reads."""
    from ..labelled_empathy_jd import STC3_SOURCE, load_false_alarms

    return {r["text_sha1"]: r for r in load_false_alarms()
            if r["source"] == STC3_SOURCE and r["split"] == "stc3_train" and _hits_read(r)}


def stc3_negatives() -> list[dict]:
    """The STC-3 helpdesk turns of the mining half `stc3_train` (labelled/FALSE_ALARMS.md; Weibo
    customer-service accounts) as negatives: {text (stripped), source "stc3_helpdesk", text_sha1, hard}:
    every distinct turn of that half but its labelled violations, `hard` True for those labelled
    `false_alarm` (engines of TRAINED_ON_HITS_OF). Never a turn of `test3` (the half is cut by hash),
    nor a held-out text (`_held_out_texts`)."""
    from ..labelled.stc3_false_alarms import SOURCE, stc3_split, stc3_turns

    labels = _stc3_labels()
    held_out = _held_out_texts()
    out = []
    for t in stc3_turns("stc3_train")[SOURCE]:
        row = labels.get(t["text_sha1"])
        key = t["text"].strip()
        if stc3_split(t["text_sha1"]) != "stc3_train" or (row and row["label"] == "violation") or key in held_out:
            continue
        out.append({"text": key, "source": SOURCE, "text_sha1": t["text_sha1"],
                    "hard": bool(row) and row["label"] == "false_alarm"})
    return out


def stc3_violations() -> list[dict]:
    """The stc3_train turns labelled `violation`, as positives: {text (stripped), source, text_sha1, category}."""
    return [{"text": r["text"].strip(), "source": r["source"], "text_sha1": r["text_sha1"],
             "category": r["violation_categories"][0]}
            for r in _stc3_labels().values() if r["label"] == "violation"]
