"""Reproduce the real JD part of the in-domain empathy set (empathy_jd_turns.jsonl, EMPATHY_JD.md).

Run from the repository root:  QA_SHARED_DIR=... python -m datasets.labelled.sample_empathy_jd
(prints kind, source, reference, text_sha1, split and text, tab-separated, to stdout; the text is for
reading only, never committed). `--forbidden` prints the references of the written 服务禁语 turns that
the set reuses as hard negatives instead.

The draw:
1. Eligible texts. jddc_replies: every line of train.dec. chat_dev: agent rows, except texts the
   project's trainers may have drawn as JD negatives (the first 3,000 of
   qa_datasets.forbidden_train.jddc_negatives: the forbidden classifiers use the first 900, the
   empathy / politeness classifier up to 3,000 of the plain ones) and texts of the politeness set's
   dev/tuning JD sample (jddc_agent_turns.jsonl: read while the empathy classifier was built).
   Content-less turns (masks, emoticon codes, punctuation only; sample_jddc.is_contentless) are
   dropped; a whitespace-stripped text counts once (first occurrence in file order, replies first).
2. The pool is sorted (source, reference) and shuffled with random.Random(SEED).
3. `random`: the first RANDOM_N texts of the shuffled pool.
4. `enriched`: the next ENRICHED_N texts, in the same shuffled order, that hold at least one of
   CANDIDATES (checked on the raw text, no normalisation). Real JD turns with empathy are rare at
   random; the enrichment makes them common without choosing them by label: the candidate set is
   broad (it also catches 麻烦您, 不好意思 and other procedural politeness, the hard negatives).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

from ..jddc import chat_dev_path, iter_rows, shared_dir
from .sample_jddc import is_contentless

SEED = 20261214
RANDOM_N = 250
ENRICHED_N = 250
TRAINER_POOL = 3000
CANDIDATES = ("歉", "不便", "久等", "理解", "谅解", "见谅", "体谅", "放心", "安心", "急", "担心", "心情",
              "辛苦", "不好意思", "对不起", "麻烦", "委屈", "生气", "耽误", "困扰", "体验", "失误")
HERE = Path(__file__).resolve().parent
FORBIDDEN_FILES = ("written_turns.jsonl", "written_test_turns.jsonl")


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def split_of(text_sha1: str) -> str:
    """dev / test by the parity of the hash (EMPATHY_JD.md); the false-alarm set maps dev to train."""
    return "test" if int(text_sha1[:8], 16) % 2 else "dev"


def replies_path(shared: Path | None = None) -> Path:
    return (shared or shared_dir()) / "datasets" / "jddc_replies" / "train.dec"


def iter_replies(path: Path | None = None):
    """(1-based line number, text) for each line of train.dec, newline removed."""
    path = path or replies_path()
    if not path.is_file():
        raise FileNotFoundError(f"JDDC replies not found at {path} (set QA_SHARED_DIR)")
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            yield line_no, line.rstrip("\n")


def excluded_chat_dev_texts() -> set[str]:
    """Stripped chat_dev texts the draw skips (module docstring, step 1)."""
    from ..forbidden_train.jddc_negatives import jddc_negatives

    skip = set(jddc_negatives(TRAINER_POOL))
    refs = [json.loads(x) for x in (HERE / "jddc_agent_turns.jsonl").read_text(encoding="utf-8").splitlines() if x]
    keys = {(r["session_id"], r["utt_index"]) for r in refs}
    for session, index, _, text in iter_rows(chat_dev_path()):
        if (session, index) in keys:
            skip.add(text.strip())
    return skip


def pool() -> list[tuple[str, str, str]]:
    """Eligible (source, reference, text), one per stripped text, in sorted order."""
    seen: set[str] = set()
    out = []
    for line_no, text in iter_replies():
        if not is_contentless(text) and text.strip() not in seen:
            seen.add(text.strip())
            out.append(("jddc_replies", f"train.dec:{line_no}", text))
    skip = excluded_chat_dev_texts()
    for session, index, role, text in iter_rows(chat_dev_path()):
        if role == "agent" and not is_contentless(text) and text.strip() not in seen | skip:
            seen.add(text.strip())
            out.append(("chat_dev", f"{session}#{index}", text))
    return sorted(out)


def sample(seed: int = SEED) -> list[dict]:
    """The drawn JD turns: kind, source, reference, text_sha1, split, text (text for reading only)."""
    items = pool()
    random.Random(seed).shuffle(items)
    picked = [("random", *x) for x in items[:RANDOM_N]]
    for item in items[RANDOM_N:]:
        if len(picked) >= RANDOM_N + ENRICHED_N:
            break
        if any(c in item[2] for c in CANDIDATES):
            picked.append(("enriched", *item))
    return [{"kind": k, "source": s, "reference": r, "text_sha1": sha1(t), "split": split_of(sha1(t)), "text": t}
            for k, s, r, t in picked]


def forbidden_written() -> list[dict]:
    """The written 服务禁语 turns (forbidden = true) reused as hard negatives, by id."""
    out = []
    for name in FORBIDDEN_FILES:
        for line in (HERE / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if row["forbidden"]:
                    out.append({"kind": "forbidden_written", "source": "forbidden_written", "reference": row["id"],
                                "text_sha1": sha1(row["text"]), "split": split_of(sha1(row["text"])),
                                "text": row["text"]})
    return out


if __name__ == "__main__":
    rows = forbidden_written() if "--forbidden" in sys.argv[1:] else sample()
    for row in rows:
        sys.stdout.write("\t".join(row[k] for k in ("kind", "source", "reference", "text_sha1", "split", "text")) + "\n")
