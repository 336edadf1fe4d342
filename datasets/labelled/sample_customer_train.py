"""Draw the customer-emotion TRAINING pool (customer_emotion_train.jsonl, CUSTOMER_EMOTION_TRAIN.md).

Real JD customer turns that share nothing with the yardstick (customer_emotion_turns.jsonl): every
chat_dev session, uss dialogue and jddc_replies group (run of overlapping windows) that holds a
yardstick turn is left out whole, so is every text whose key matches a yardstick text, and so are the
chat_dev sessions held out from emotion training (`jddc_held_out`, the unlabelled in-domain check of
`qa-engine eval emotion`). Candidates and groups are those of sample_customer.py (customer turns
with content; jddc_replies: the last segment of each window).

Order: one seeded weighted draw over turns (key u^(1/w), w = 2 for turns of cue groups, else 1, the
yardstick's weighting), each text once (first source wins: chat_dev, jddc_replies, uss_valid).

    python -m datasets.labelled.sample_customer_train --batch K [--size 200]   # print batch K for labelling
    python -m datasets.labelled.sample_customer_train --stats
    python -m datasets.labelled.sample_customer_train --check     # the jsonl references == the draw
    python -m datasets.labelled.sample_customer_train --segments --batch K | --check   # the window segments

The printed text is for reading only and is never committed (JDDC data are research-only).
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter

from ..customer_emotion import read_refs
from .sample_customer import LOADERS, SOURCES, reference, sha1, text_key

SEED = 20261206
BATCH = 200
SEGMENT_SEED = 20261207


def excluded_groups() -> dict[str, set]:
    """Yardstick groups per source (chat_dev sessions, uss dialogues, jddc_replies lines) and text keys."""
    refs = read_refs()
    return {"chat_dev": {r["session_id"] for r in refs if r["source"] == "chat_dev"},
            "uss_valid": {r["dialogue_idx"] for r in refs if r["source"] == "uss_valid"},
            "jddc_replies": {r["line"] for r in refs if r["source"] == "jddc_replies"}}


def pool(stats: dict | None = None) -> list[dict]:
    """Candidate training turns in draw order, each with reference fields, cue_group, text, context."""
    from ..customer_emotion import load_customer_emotion

    ex = excluded_groups()
    yard_keys = {text_key(r["text"]) for r in load_customer_emotion(include_excluded=True)}
    rng = random.Random(SEED)
    seen: set[str] = set()
    keyed: list[tuple[float, int, dict]] = []
    for source in SOURCES:
        groups = LOADERS[source]()
        left = 0
        for gid in sorted(groups):
            g = groups[gid]
            c0 = g["cands"][0]
            if source == "chat_dev" and (c0["session_id"] in ex["chat_dev"] or c0["jddc_held_out"]):
                continue
            if source == "uss_valid" and c0["dialogue_idx"] in ex["uss_valid"]:
                continue
            if source == "jddc_replies" and any(c["line"] in ex["jddc_replies"] for c in g["cands"]):
                continue
            for c in g["cands"]:
                key = text_key(c["text"])
                u = rng.random()
                if key in yard_keys or key in seen:
                    continue
                seen.add(key)
                left += 1
                w = 2.0 if g["cue"] else 1.0
                keyed.append((u ** (1.0 / w), len(keyed),
                              {**c, "group": gid, "cue_group": g["cue"], "split": "train", "text_sha1": sha1(c["text"])}))
        if stats is not None:
            stats[source] = {"groups": len(groups), "candidate_turns": left}
    keyed.sort(key=lambda x: (-x[0], x[1]))
    return [row for _, _, row in keyed]


def segments_pool(shuffle: bool = True) -> list[dict]:
    """The other segments of the jddc_replies context windows (earlier messages of the same chats, customer
    or agent: the windows carry no speaker tags) of the groups that hold no yardstick line, each text once:
    no text of the pool above, of the yardstick or of a train.dec reply (file order: line, segment). In a
    seeded shuffle (SEGMENT_SEED) unless `shuffle` is false: the order in which they are labelled
    (customer_emotion_train_segments.jsonl, CUSTOMER_EMOTION_TRAIN.md)."""
    from ..customer_emotion import load_customer_emotion, replies_path
    from .sample_customer import _read_lines, is_contentless, replies_groups

    enc, dec = _read_lines(replies_path()), _read_lines(replies_path().with_suffix(".dec"))
    group_of = replies_groups(enc, dec)
    bad_groups = {group_of[r["line"] - 1] for r in read_refs() if r["source"] == "jddc_replies"}
    seen = {text_key(r["text"]) for r in pool()} | {text_key(r["text"]) for r in load_customer_emotion(include_excluded=True)}
    seen |= {text_key(x) for line in dec for x in line.split(",")}
    rows: list[dict] = []
    for i, line in enumerate(enc):
        if group_of[i] in bad_groups:
            continue
        segments = line.split(",")
        for j, seg in enumerate(segments):
            key = text_key(seg)
            if not seg.strip() or is_contentless(seg) or key in seen:
                continue
            seen.add(key)
            before = [x for x in segments[:j] if x.strip()]
            rows.append({"source": "jddc_replies", "line": i + 1, "seg_index": j, "text_sha1": sha1(seg),
                         "cue_group": False, "split": "train", "text": seg, "context": [("?", x) for x in before]})
    if shuffle:
        random.Random(SEGMENT_SEED).shuffle(rows)
    return rows


def context_line(row: dict) -> str:
    ctx = [t for who, t in row["context"] if who in ("A", "?")]
    return ctx[-1][:60] if ctx else ""


def main(argv: list[str]) -> int:
    stats: dict = {}
    rows = pool(stats)
    if "--stats" in argv:
        stats["pool"] = len(rows)
        stats["by_source"] = dict(Counter(r["source"] for r in rows))
        print(json.dumps(stats, ensure_ascii=False, indent=1))
        return 0
    if "--segments" in argv:
        rows = segments_pool()
    if "--check" in argv:
        from ..customer_emotion import SEGMENTS_FILE, TRAIN_FILE

        path = SEGMENTS_FILE if "--segments" in argv else TRAIN_FILE
        committed = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        want = [reference(r) for r in rows[: len(committed)]]
        keys = ("source", "session_id", "utt_index", "line", "seg_index", "dialogue_idx", "turn_index", "text_sha1")
        same = [{k: a.get(k) for k in keys} for a in want] == [{k: b.get(k) for k in keys} for b in committed]
        print("identical" if same else "DIFFERENT", f"({len(committed)} labelled rows = the first "
              f"{len(committed) // BATCH} batches of the draw)")
        return 0 if same else 1
    size = int(argv[argv.index("--size") + 1]) if "--size" in argv else BATCH
    k = int(argv[argv.index("--batch") + 1])
    for n, r in enumerate(rows[k * size:(k + 1) * size]):
        print(f"{n}| {context_line(r)}")
        print(f"   >> {r['text'][:150]}")
    if "--refs" in argv:
        print(json.dumps([reference(r) for r in rows[k * size:(k + 1) * size]]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
