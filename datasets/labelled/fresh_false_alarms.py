"""Build the false-alarm set's fresh held-out split `test2` (FALSE_ALARMS.md, "Split test2"): real JD agent
turns that no forbidden-phrase model trained on and that no earlier split holds.

Run from the repository root:  QA_SHARED_DIR=... python -m datasets.labelled.fresh_false_alarms
(rewrites false_alarm_test2_turns.tsv: one line per turn, source, reference, text_sha1, occurrences; no
text). The list is committed, so the split does not depend on rerunning the speaker model below.

Sources (research-only text, read where it lies):

- `jddc_context`: the messages of the context windows of `jddc_replies/train.enc` (one window per line,
  messages joined with commas, **no speaker tags**). A message is taken as the agent's when a speaker
  model gives it P(agent) >= AGENT_P: a logistic regression on hashed character 1-3-grams trained on
  turns whose speaker is known (chat_dev rows, USS JDDC turns, train.dec messages as agent, the
  train.enc messages labelled as customer turns in customer_emotion_*.jsonl as customer). Its precision
  at AGENT_P, on chat_dev sessions it did not train on, is printed; misattributed customer messages
  found among flagged turns are labelled `not_agent` and leave the denominator (FALSE_ALARMS.md).
- `jddc_dev_refs`: every message of the three reference agents of `jddc_chat_sample/dev_answer.txt` and
  of the `A:` lines of `dev_question.txt` (split at `<sep>` and `!@@@!`; NULL skipped): agent text by
  construction. Caveat: the phrase lists were once checked over these (lexicons/words/README.md).

One turn per stripped text over both sources (context first, file order). Left out: any text (stripped)
of a turn of the false-alarm train / test splits, any message of a train.dec line, any chat_dev row
(either role), any USS JDDC turn (either role; their agent turns are the n-gram model's negatives), any
turn of the politeness/forbidden labelled set, any text of datasets/forbidden_train, and the train.enc
messages labelled as customer turns.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from ..jddc import chat_dev_path, iter_rows, shared_dir

HERE = Path(__file__).resolve().parent
TURNS_FILE = HERE / "false_alarm_test2_turns.tsv"
AGENT_P = 0.9
SEED = 20261205


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _enc_dec(shared: Path | None = None) -> tuple[list[str], list[str]]:
    folder = (shared or shared_dir()) / "datasets" / "jddc_replies"
    read = lambda name: (folder / name).read_text(encoding="utf-8").split("\n")[:-1]  # noqa: E731
    return read("train.enc"), read("train.dec")


def context_messages(enc: list[str]) -> list[tuple[str, str]]:
    """(reference `train.enc:<line>/<seg_index>`, message as in the file), every non-empty message."""
    return [(f"train.enc:{n}/{j}", m) for n, line in enumerate(enc, start=1)
            for j, m in enumerate(line.split(",")) if m.strip()]


def dev_ref_messages(shared: Path | None = None) -> list[tuple[str, str]]:
    """(reference `<file>:<line>/<agent>/<message>`, message), the reference agents' messages."""
    folder = (shared or shared_dir()) / "datasets" / "jddc_chat_sample"
    out = []
    for name, prefix in (("dev_question.txt", "A:\t"), ("dev_answer.txt", "")):
        for n, line in enumerate((folder / name).read_text(encoding="utf-8").split("\n"), start=1):
            if line.startswith("<") or not line.startswith(prefix) or not line.strip():
                continue
            for a, answer in enumerate(line[len(prefix):].split("<sep>")):
                for j, m in enumerate(answer.split("!@@@!")):
                    if m.strip() and m.strip() != "NULL":
                        out.append((f"{name}:{n}/{a}/{j}", m))
    return out


def _customer_segments(enc: list[str]) -> set[str]:
    """train.enc messages labelled as customer turns (customer_emotion_*.jsonl), stripped."""
    out = set()
    for name in ("customer_emotion_turns.jsonl", "customer_emotion_train.jsonl"):
        for line in (HERE / name).read_text(encoding="utf-8").splitlines():
            r = json.loads(line) if line.strip() else {}
            if r.get("source") == "jddc_replies":
                out.add(enc[r["line"] - 1].split(",")[r["seg_index"]].strip())
    return out


def excluded_texts(enc: list[str], dec: list[str]) -> set[str]:
    """Stripped texts no test2 turn may equal (module docstring)."""
    from ..labelled_set import load_labelled
    from ..satisfaction import uss_valid
    from .false_alarms import distinct_turns

    out = {t["text"].strip() for items in distinct_turns().values() for t in items}
    out |= {m.strip() for line in dec for m in [line, *line.split(",")]}
    out |= {text.strip() for _, _, _, text in iter_rows(chat_dev_path())}
    out |= {t["text"].strip() for d in uss_valid() for t in d["turns"]}
    out |= {r["text"].strip() for r in load_labelled()}
    train_file = HERE.parent / "forbidden_train" / "forbidden_train.jsonl"
    out |= {json.loads(line)["text"].strip() for line in train_file.read_text(encoding="utf-8").splitlines() if line.strip()}
    out |= _customer_segments(enc)
    return out


_SPACES = re.compile(r"\s+")


def speaker_model(enc: list[str], dec: list[str]):
    """P(agent) for a message: (predict(texts) -> array, report of its precision on held-out chat_dev sessions)."""
    import torch

    from qa_engine.ml.turn_classifier import BUCKETS  # noqa: F401  (the served hashing, via char_ngrams)
    from training.forbidden_baselines import char_ngrams, fit_logreg, predict

    from ..satisfaction import uss_valid

    torch.manual_seed(SEED)
    held = lambda session: int(sha1(session)[:2], 16) < 26  # noqa: E731  (about 10 % of chat_dev sessions)
    texts, y, test_texts, test_y = [], [], [], []
    for session, _, role, text in iter_rows(chat_dev_path()):
        # chat_dev rows hold several messages joined by spaces; the windows hold one message each
        for piece in [p for p in _SPACES.split(text.strip()) if p]:
            (test_texts if held(session) else texts).append(piece)
            (test_y if held(session) else y).append(1 if role == "agent" else 0)
    for d in uss_valid():
        for t in d["turns"]:
            texts.append(t["text"].strip())
            y.append(1 if t["role"] == "agent" else 0)
    for line in dec:
        for m in line.split(","):
            if m.strip():
                texts.append(m.strip())
                y.append(1)
    for m in _customer_segments(enc):
        texts.append(m)
        y.append(0)
    model = fit_logreg(char_ngrams(texts), np.array(y, dtype=np.float32), 1e-4, epochs=200)
    run = lambda items: predict(model, char_ngrams(items)) if items else np.zeros(0)  # noqa: E731
    p = run(test_texts)
    gold = np.array(test_y) == 1
    picked = p >= AGENT_P
    report = {"held_out_chat_dev_messages": len(test_texts), "agent_p": AGENT_P,
              "precision": round(float((picked & gold).sum() / max(1, picked.sum())), 4),
              "recall": round(float((picked & gold).sum() / max(1, gold.sum())), 4)}
    return run, report


def build(shared: Path | None = None) -> tuple[list[dict], dict]:
    enc, dec = _enc_dec(shared)
    excluded = excluded_texts(enc, dec)
    run, report = speaker_model(enc, dec)
    first: dict[str, dict] = {}
    context = [(ref, m) for ref, m in context_messages(enc) if m.strip() not in excluded]
    keys = sorted({m.strip() for _, m in context})
    p_agent = dict(zip(keys, run(keys), strict=True))
    report["context_candidates"] = len(keys)
    for source, items in (("jddc_context", context), ("jddc_dev_refs", dev_ref_messages(shared))):
        for ref, m in items:
            key = m.strip()
            if key in excluded or (source == "jddc_context" and p_agent[key] < AGENT_P):
                continue
            if key in first:
                first[key]["occurrences"] += 1
            else:
                first[key] = {"source": source, "reference": ref, "text_sha1": sha1(m), "occurrences": 1}
    turns = list(first.values())
    for s in ("jddc_context", "jddc_dev_refs"):
        report[s] = sum(t["source"] == s for t in turns)
    return turns, report


SOURCES = ("jddc_context", "jddc_dev_refs")


def texts_by_reference(shared: Path | None = None) -> dict[str, dict[str, str]]:
    """{source: {reference: message as in the file}} for both test2 sources."""
    enc, _ = _enc_dec(shared)
    return {"jddc_context": dict(context_messages(enc)), "jddc_dev_refs": dict(dev_ref_messages(shared))}


def test2_turns(shared: Path | None = None) -> dict[str, list[dict]]:
    """{source: [{reference, text, text_sha1, occurrences}]} of the committed list (false_alarm_test2_turns.tsv),
    each text joined in from ../shared and checked against its hash; the shape of false_alarms.distinct_turns."""
    texts = texts_by_reference(shared)
    out: dict[str, list[dict]] = {s: [] for s in SOURCES}
    for line in TURNS_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        source, reference, text_sha1, occurrences = line.split("\t")
        text = texts[source].get(reference)
        if text is None or sha1(text) != text_sha1:
            raise ValueError(f"{TURNS_FILE.name}: {source} {reference}: missing or does not match text_sha1")
        out[source].append({"reference": reference, "text": text, "text_sha1": text_sha1, "occurrences": int(occurrences)})
    return out


def main() -> None:
    turns, report = build()
    with TURNS_FILE.open("w", encoding="utf-8") as fh:
        fh.write("# source\treference\ttext_sha1\toccurrences  (FALSE_ALARMS.md, split test2; built by fresh_false_alarms.py)\n")
        for t in turns:
            fh.write(f"{t['source']}\t{t['reference']}\t{t['text_sha1']}\t{t['occurrences']}\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
