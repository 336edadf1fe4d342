"""The Weibo customer-service yardsticks (datasets/labelled/WEIBO.md), text joined back in from ../shared.

- customer_emotion_weibo.jsonl: customer turns of STC-3 Weibo helpdesk threads, labelled by the customer
  emotion guideline (CUSTOMER_EMOTION.md);
- empathy_weibo_turns.jsonl: helpdesk turns of the same threads, labelled by the empathy guideline
  (EMPATHY_JD.md), with whether the turn is a 服务禁语 (GUIDELINE.md).

The STC-3 text may not be redistributed: rows hold `reference` (`<dialogue id>#<turn index>`) and
`text_sha1`; the loaders read the text from train_data_cn.json and check it against the hash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .customer_emotion import POLARITIES, POLARITY_OF
from .jddc import shared_dir
from .labelled.sample_weibo import FILES, dialogues, stc3_path, turn_text
from .labelled_empathy_jd import CATEGORIES


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _turns(shared: Path | None) -> dict[str, list[dict]]:
    path = stc3_path(shared or shared_dir())
    if not path.is_file():
        raise FileNotFoundError(f"STC-3 training dialogues not found: {path}")
    return {str(d["id"]): d["turns"] for d in dialogues(path)}


def _join(rows: list[dict], name: str, turns: dict[str, list[dict]]) -> list[dict]:
    out, seen = [], set()
    for row in rows:
        ref = row["reference"]
        if ref in seen:
            raise ValueError(f"{name}: duplicate reference {ref}")
        seen.add(ref)
        dialogue, _, index = ref.partition("#")
        thread = turns.get(dialogue)
        if thread is None or not index.isdigit() or int(index) >= len(thread):
            raise ValueError(f"{name}: {ref} not found in the STC-3 training dialogues")
        i = int(index)
        text = turn_text(thread[i])
        if hashlib.sha1(text.encode("utf-8")).hexdigest() != row["text_sha1"]:
            raise ValueError(f"{name}: {ref}: text in ../shared does not match text_sha1")
        prev = turn_text(thread[i - 1]) if i else None
        out.append({**row, "text": text, "prev_text": prev, "sender": thread[i]["sender"]})
    return out


def load_customer_weibo(shared: Path | None = None) -> list[dict]:
    """Labelled Weibo customer turns: id, source, split, text, polarity, label (5-class emotion or None),
    prev_text (the thread's turn before, either speaker; None for the first post)."""
    rows = _join(_rows(FILES["customer"]), FILES["customer"].name, _turns(shared))
    for r in rows:
        polarity, emotion = r["polarity"], r["emotion"]
        if r["sender"] != "customer" or polarity not in POLARITIES or (emotion is not None and POLARITY_OF.get(emotion) != polarity):
            raise ValueError(f"{FILES['customer'].name}: {r['reference']}: bad sender or labels")
        r.update(id=r["reference"], source="stc3_weibo", label=emotion, cue_group=False)
    return rows


def load_empathy_weibo(shared: Path | None = None) -> list[dict]:
    """Labelled Weibo helpdesk turns: reference, split, kind, text, empathy, categories, taboo, borderline."""
    from .labelled.sample_empathy_jd import split_of

    rows = _join(_rows(FILES["empathy"]), FILES["empathy"].name, _turns(shared))
    for r in rows:
        where = f"{FILES['empathy'].name}: {r['reference']}"
        if r["sender"] != "helpdesk" or r["split"] != split_of(r["text_sha1"]):
            raise ValueError(f"{where}: not a helpdesk turn, or split not by the hash rule")
        if not set(r["categories"]) <= set(CATEGORIES) or r["empathy"] != bool(r["categories"]):
            raise ValueError(f"{where}: bad categories or empathy")
        if r["taboo"] and r["empathy"]:
            raise ValueError(f"{where}: a 服务禁语 turn is never empathy (EMPATHY_JD.md)")
        r["source"] = "stc3_helpdesk"
    return rows
