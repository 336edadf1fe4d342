"""Count the most frequent openings and closings of real JD chat sessions (research reading aid).

JD agents open and close sessions with a few pasted templates. This script prints the most frequent
ones so that their generic formulas can be added to the script and politeness word lists
(lexicons/words/script_*.txt, politeness_*.txt); it prints text for reading only, nothing is stored.

Two sources, both read where they lie (research-only text, never copied into the repository):

- ``jddc_replies`` (default; JDDC 2018 seq2seq baseline pairs, sessions other than chat_dev's):
  each line of train.enc is a window of consecutive messages joined with commas, without speaker tags
  or session ids, and consecutive lines continue one session. A line *starts a session* when its first
  message is a system or customer opening that no agent writes: the order card (咨询订单号:…,
  [订单编号:…], 顾客通过…, a bare order id), a product link, or a customer hail (你好 / 在吗 / 人工…).
  Openings: the messages at positions 1–5 of such lines (the customer's own messages are among them:
  read the list, do not copy it). Closings: the reply (train.dec) and the last 3 context messages of
  the line just before a session start.
- ``--chat-dev``: chat_dev.txt sessions (speaker tags, real session boundaries): first agent turn and
  last 2 agent turns, split into messages at runs of spaces. Sessions of the held-out test splits are
  skipped: the politeness test sample (labelled/jddc_test_turns.jsonl) and the script-step test split
  (labelled/script_sessions.jsonl, split test).

Run from the repository root:  python -m datasets.jd_openings [--chat-dev] [--top 40]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from qa_engine.text.normalize import normalize

from .jddc import chat_dev_path, iter_rows, shared_dir

_EMOTICON = re.compile(r"#e-[a-z]+(\[数字x\])?", re.I)
_EDGE = re.compile(r"^[\s,.!?~:;'\"’、。，！？～…]+|[\s,.!?~:;'\"’、。，！？～…]+$")
_SESSION_START = re.compile(
    r"^(咨询订单号|\[订单编号|顾客通过|\[orderid_|https?://|你好|您好啊|在吗|在不在|在么|人工|hi\b|hello)", re.I
)


def replies_dir(shared: Path | None = None) -> Path:
    return (shared or shared_dir()) / "datasets" / "jddc_replies"


def norm(message: str) -> str:
    """Normalised message for counting: Simplified, half-width, lower case, emoticon codes and edge
    punctuation removed."""
    text = normalize(_EMOTICON.sub("", message)).text
    return _EDGE.sub("", text)


def replies_sessions(folder: Path) -> tuple[Counter, Counter, int]:
    enc = (folder / "train.enc").read_text(encoding="utf-8").splitlines()
    dec = (folder / "train.dec").read_text(encoding="utf-8").splitlines()
    openings: Counter = Counter()
    closings: Counter = Counter()
    starts = 0
    for i, (context, reply) in enumerate(zip(enc, dec, strict=True)):
        messages = [m for m in context.split(",") if m.strip()]
        if not messages or not _SESSION_START.match(norm(messages[0])):
            continue
        starts += 1
        for m in messages[1:6]:
            if norm(m):
                openings[norm(m)] += 1
        if i > 0:
            previous = [m for m in enc[i - 1].split(",") if m.strip()][-3:] + [x for x in dec[i - 1].split(",") if x.strip()]
            for m in previous:
                if norm(m):
                    closings[norm(m)] += 1
    return openings, closings, starts


def held_out_sessions() -> set[str]:
    import json

    here = Path(__file__).resolve().parent / "labelled"
    skip: set[str] = set()
    for name, split in (("jddc_test_turns.jsonl", None), ("script_sessions.jsonl", "test")):
        path = here / name
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    if split is None or row.get("split") == split:
                        skip.add(row["session_id"])
    if not (here / "script_sessions.jsonl").is_file():  # before the script set exists: its draw
        from .labelled.sample_script import draw

        skip |= {s for s, split in draw() if split == "test"}
    return skip


def chat_dev_sessions() -> tuple[Counter, Counter, int]:
    skip = held_out_sessions()
    agent: dict[str, list[str]] = {}
    for session, _, role, text in iter_rows(chat_dev_path()):
        if session in skip:
            continue
        agent.setdefault(session, [])
        if role == "agent":
            agent[session].append(text)
    openings: Counter = Counter()
    closings: Counter = Counter()
    for turns in agent.values():
        if not turns:
            continue
        for m in re.split(r"\s{2,}|\t", turns[0]):
            if norm(m):
                openings[norm(m)] += 1
        for turn in turns[-2:]:
            for m in re.split(r"\s{2,}|\t", turn):
                if norm(m):
                    closings[norm(m)] += 1
    return openings, closings, len(agent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chat-dev", action="store_true", help="chat_dev.txt sessions outside the held-out test splits")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    if args.chat_dev:
        openings, closings, n = chat_dev_sessions()
        print(f"chat_dev.txt: {n} sessions outside the held-out test splits")
    else:
        openings, closings, n = replies_sessions(replies_dir())
        print(f"jddc_replies train: {n} lines start a session")
    for title, counts in (("openings", openings), ("closings", closings)):
        print(f"\n== {title} (count, normalised message)")
        for text, count in counts.most_common(args.top):
            print(f"{count:5d}  {text}")


if __name__ == "__main__":
    main()
