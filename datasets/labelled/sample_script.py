"""Reproduce the sample of whole JDDC sessions labelled for script steps (script_sessions.jsonl).

Run from the repository root:
  python -m datasets.labelled.sample_script            # session ids, split, rows and session hash
  python -m datasets.labelled.sample_script --show dev # the sessions of a split, for reading (text to
                                                       # stdout only, never committed)

The draw (SCRIPT_STEPS.md): sessions of chat_dev.txt that are not in the held-out politeness test
sample (jddc_test_turns.jsonl) and have at least two agent rows with content, sorted by id, shuffled
with random.Random(SEED); the first TARGET are taken, and dev / test alternate in that order.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections import defaultdict
from pathlib import Path

from ..jddc import chat_dev_path, iter_rows
from .sample_jddc import is_contentless

SEED = 20261207
TARGET = 90
HERE = Path(__file__).resolve().parent


def session_rows(path: Path | None = None) -> dict[str, list[tuple[str, str]]]:
    """session id -> [(role, text)] in file order."""
    rows: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for session, _, role, text in iter_rows(path or chat_dev_path()):
        rows[session].append((role, text))
    return rows


def session_sha1(rows: list[tuple[str, str]]) -> str:
    """SHA-1 of the session as written: one line per row, "<role>\\t<text>", joined with newlines."""
    return hashlib.sha1("\n".join(f"{role}\t{text}" for role, text in rows).encode("utf-8")).hexdigest()


def _test_sessions() -> set[str]:
    path = HERE / "jddc_test_turns.jsonl"
    return {json.loads(line)["session_id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def draw(seed: int = SEED, target: int = TARGET) -> list[tuple[str, str]]:
    """[(session_id, split)] in draw order; split alternates dev, test, dev, ..."""
    skip = _test_sessions()
    rows = session_rows()
    eligible = sorted(
        s for s, turns in rows.items()
        if s not in skip and sum(1 for role, text in turns if role == "agent" and not is_contentless(text)) >= 2
    )
    rng = random.Random(seed)
    rng.shuffle(eligible)
    return [(s, ("dev", "test")[i % 2]) for i, s in enumerate(eligible[:target])]


def show(split: str) -> None:
    rows = session_rows()
    for n, (session, s) in enumerate(draw()):
        if s != split:
            continue
        turns = rows[session]
        agent_idx = [i for i, (role, _) in enumerate(turns) if role == "agent"]
        print(f"\n##### {n} {session} ({len(turns)} rows, {len(agent_idx)} agent)")
        for i, (role, text) in enumerate(turns):
            if role == "agent":
                k = agent_idx.index(i)
                tag = f"A{k + 1}/-{len(agent_idx) - k}"
            else:
                tag = "C"
            print(f"{i:3d} {tag:8} {text}")


if __name__ == "__main__":
    if "--show" in sys.argv:
        show(sys.argv[sys.argv.index("--show") + 1])
    else:
        all_rows = session_rows()
        for session, split in draw():
            print(session, split, len(all_rows[session]), session_sha1(all_rows[session]), sep="\t")
