"""Hand-labelled politeness / forbidden-phrase evaluation set (see labelled/GUIDELINE.md).

Four files in labelled/: written_turns.jsonl and written_test_turns.jsonl carry their own text;
jddc_agent_turns.jsonl and jddc_test_turns.jsonl only point at JDDC rows (session_id, utt_index,
text_sha1) because the JDDC text may not be redistributed, so the text is joined in here from
chat_dev.txt and checked against the hash.

Splits: `dev` and `tuning` (the first sample; `tuning` was the first test split, retired after it was
used for model selection) are for tuning; `test` (the *_test_turns files, drawn and labelled later) is
the held-out split, scored once per change.

Run as `python -m datasets.labelled_set` to print the counts.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from .jddc import chat_dev_path, iter_rows, shared_dir

LABELLED = Path(__file__).resolve().parent / "labelled"
KEYS = ("politeness", "politeness_categories", "forbidden", "forbidden_categories", "split")
SPLITS = ("dev", "tuning", "test")
JDDC_FILES = ("jddc_agent_turns.jsonl", "jddc_test_turns.jsonl")
WRITTEN_FILES = ("written_turns.jsonl", "written_test_turns.jsonl")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_labelled(shared_dir_: Path | None = None) -> list[dict]:
    """All labelled agent turns, JDDC first, then written (dev/tuning file before test file), each with keys
    id, source ("jddc" | "written"), text, politeness, politeness_categories, forbidden,
    forbidden_categories, paraphrase, split.

    shared_dir_ defaults to $QA_SHARED_DIR, else the `shared` folder beside the repository.
    Raises FileNotFoundError if chat_dev.txt is missing, ValueError if a referenced row is absent
    or its text no longer matches text_sha1.
    """
    path = chat_dev_path(shared_dir_ or shared_dir())
    texts = {(session, index): text for session, index, _, text in iter_rows(path)}
    out: list[dict] = []
    jddc_rows = [row for name in JDDC_FILES for row in _read_jsonl(LABELLED / name)]
    written_rows = [row for name in WRITTEN_FILES for row in _read_jsonl(LABELLED / name)]
    for row in jddc_rows:
        ref = f"{row['session_id']}#{row['utt_index']}"
        text = texts.get((row["session_id"], row["utt_index"]))
        if text is None:
            raise ValueError(f"labelled JDDC turn {ref} not found in {path}")
        if hashlib.sha1(text.encode("utf-8")).hexdigest() != row["text_sha1"]:
            raise ValueError(f"labelled JDDC turn {ref}: text in {path} does not match text_sha1")
        out.append({"id": f"jddc:{ref}", "source": "jddc", "text": text, "paraphrase": False,
                    **{k: row[k] for k in KEYS}})
    for row in written_rows:
        out.append({"id": row["id"], "source": "written", "text": row["text"],
                    "paraphrase": row["paraphrase"], **{k: row[k] for k in KEYS}})
    for row in out:
        if row["split"] not in SPLITS:
            raise ValueError(f"labelled turn {row['id']}: split {row['split']!r} not in {SPLITS}")
    ids = [row["id"] for row in out]
    if len(set(ids)) != len(ids):
        raise ValueError("labelled turns: duplicate ids")
    return out


def select(items: list[dict], split: str) -> list[dict]:
    """Rows of one split; "tune" = dev + tuning (everything but the held-out test), "all" = every row."""
    if split == "all":
        return items
    if split == "tune":
        return [r for r in items if r["split"] in ("dev", "tuning")]
    return [r for r in items if r["split"] == split]


def _counts(items: list[dict]) -> None:
    for source in ("jddc", "written"):
        for split in SPLITS:
            part = [x for x in items if x["source"] == source and x["split"] == split]
            cats = Counter(c for x in part for c in x["politeness_categories"] + x["forbidden_categories"])
            print(f"{source:7} {split:6} n={len(part):3} polite={sum(x['politeness'] for x in part):3} "
                  f"forbidden={sum(x['forbidden'] for x in part):3} paraphrase={sum(x['paraphrase'] for x in part):2} "
                  + " ".join(f"{k}={v}" for k, v in sorted(cats.items())))


if __name__ == "__main__":
    _counts(load_labelled())
