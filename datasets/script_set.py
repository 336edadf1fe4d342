"""Whole JD sessions hand-labelled for the six script steps (labelled/SCRIPT_STEPS.md).

labelled/script_sessions.jsonl holds no text: each row names a chat_dev.txt session by id, its row
count and a SHA-1 of its rows, and lists per step the agent rows (utt_index) that perform it. The
sessions are joined back in here from chat_dev.txt and checked.

Run as `python -m datasets.script_set` to print the counts.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .jddc import chat_dev_path, shared_dir
from .labelled.sample_script import session_rows, session_sha1

LABELLED = Path(__file__).resolve().parent / "labelled"
STEPS = ("greeting", "identity", "needs_confirm", "further_help", "closing", "satisfaction")
SPLITS = ("dev", "test")


def load_script_sessions(shared_dir_: Path | None = None) -> list[dict]:
    """Every labelled session: session_id, split, steps (step -> sorted utt_index list, empty when
    absent), present (step -> bool), note, and turns ([{"role", "text"}], every row of the session).

    Raises FileNotFoundError if chat_dev.txt is missing, ValueError if a session is missing, its row
    count or hash differs, a listed row is not an agent row, or a row is malformed.
    """
    path = chat_dev_path(shared_dir_ or shared_dir())
    sessions = session_rows(path)
    out = []
    for line in (LABELLED / "script_sessions.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        sid = row["session_id"]
        turns = sessions.get(sid)
        if turns is None:
            raise ValueError(f"labelled session {sid} not found in {path}")
        if len(turns) != row["rows"] or session_sha1(turns) != row["session_sha1"]:
            raise ValueError(f"labelled session {sid}: rows in {path} do not match rows / session_sha1")
        if row["split"] not in SPLITS or set(row["steps"]) != set(STEPS):
            raise ValueError(f"labelled session {sid}: bad split or steps")
        for step, rows in row["steps"].items():
            if any(not 0 <= i < len(turns) or turns[i][0] != "agent" for i in rows):
                raise ValueError(f"labelled session {sid}: step {step} lists a row that is not an agent row")
        out.append({
            "session_id": sid, "split": row["split"], "steps": row["steps"],
            "present": {step: bool(rows) for step, rows in row["steps"].items()},
            "note": row.get("note", ""), "turns": [{"role": r, "text": t} for r, t in turns],
        })
    if len({s["session_id"] for s in out}) != len(out):
        raise ValueError("script sessions: duplicate session ids")
    return out


def select(items: list[dict], split: str) -> list[dict]:
    """Sessions of one split; "all" = every session."""
    return items if split == "all" else [s for s in items if s["split"] == split]


if __name__ == "__main__":
    items = load_script_sessions()
    for split in SPLITS:
        part = select(items, split)
        counts = Counter(step for s in part for step in STEPS if s["present"][step])
        print(f"{split:5} sessions={len(part)} " + " ".join(f"{k}={counts[k]}" for k in STEPS))
