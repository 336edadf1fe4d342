"""Draw the Weibo customer-service yardsticks (WEIBO.md): agent turns for empathy and customer turns for
customer emotion, from the NTCIR-14 STC-3 Chinese training dialogues (Weibo customer–helpdesk threads).

Run from the repository root:  QA_SHARED_DIR=... python -m datasets.labelled.sample_weibo [empathy|customer]
(prints one block per drawn turn, reference, split, earlier turns of the dialogue and the turn, for reading
and labelling; the text is never committed). `--check` compares the draw with the committed jsonl files.

The held-out sets the project is judged on include Weibo customer-service dialogues, which none of the
in-domain yardsticks (JD chats) hold; no emotion, empathy or forbidden-phrase model trained on STC-3 text.

The draw (seed SEED):
1. A turn's text is its utterances joined with a space, stripped (`turn_text`), as the satisfaction
   features read them. Reference: `<dialogue id>#<turn index>` (0-based among the dialogue's turns).
2. empathy: every distinct `helpdesk` text (first occurrence in file order), shuffled; the first RANDOM_N,
   then the next ENRICHED_N that hold a candidate string of the JD empathy sampler (CANDIDATES, raw text),
   so that apologies and their procedural look-alikes are common without choosing turns by label.
3. customer: one `customer` turn per dialogue, drawn uniformly among its turns, from the first
   CUSTOMER_N dialogues of the shuffled dialogue list; a text already drawn is skipped (next dialogue).
4. Split by the parity of the turn text's SHA-1 for empathy (`split_of`, as EMPATHY_JD.md and the
   false-alarm splits), of the dialogue id's SHA-1 for customer turns (a dialogue is in one split).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

from ..jddc import shared_dir
from .sample_empathy_jd import CANDIDATES, split_of

SEED = 20261206
RANDOM_N = 250
ENRICHED_N = 250
CUSTOMER_N = 600
HERE = Path(__file__).resolve().parent
FILES = {"empathy": HERE / "empathy_weibo_turns.jsonl", "customer": HERE / "customer_emotion_weibo.jsonl"}


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def stc3_path(shared: Path | None = None) -> Path:
    return (shared or shared_dir()) / "datasets" / "stc3_train_cn" / "train_data_cn.json"


def turn_text(turn: dict) -> str:
    return " ".join(turn["utterances"]).strip()


def dialogues(path: Path | None = None) -> list[dict]:
    return json.loads((path or stc3_path()).read_text(encoding="utf-8"))


def sample_empathy(items: list[dict], seed: int = SEED) -> list[dict]:
    seen: set[str] = set()
    pool: list[dict] = []
    for d in items:
        for i, t in enumerate(d["turns"]):
            text = turn_text(t)
            if t["sender"] == "helpdesk" and text and text not in seen:
                seen.add(text)
                pool.append({"reference": f"{d['id']}#{i}", "text": text})
    random.Random(seed).shuffle(pool)
    drawn = [dict(r, kind="random") for r in pool[:RANDOM_N]]
    enriched = [r for r in pool[RANDOM_N:] if any(c in r["text"] for c in CANDIDATES)][:ENRICHED_N]
    drawn += [dict(r, kind="enriched") for r in enriched]
    for r in drawn:
        r["text_sha1"] = sha1(r["text"])
        r["split"] = split_of(r["text_sha1"])
    return drawn


def sample_customer(items: list[dict], seed: int = SEED) -> list[dict]:
    rng = random.Random(seed + 1)
    order = list(items)
    rng.shuffle(order)
    seen: set[str] = set()
    drawn: list[dict] = []
    for d in order:
        if len(drawn) == CUSTOMER_N:
            break
        idx = [i for i, t in enumerate(d["turns"]) if t["sender"] == "customer" and turn_text(t)]
        if not idx:
            continue
        i = rng.choice(idx)
        text = turn_text(d["turns"][i])
        if text in seen:
            continue
        seen.add(text)
        drawn.append({
            "reference": f"{d['id']}#{i}",
            "text": text,
            "text_sha1": sha1(text),
            "split": "test" if int(sha1(str(d["id"]))[:8], 16) % 2 else "dev",
            "context": [(t["sender"], turn_text(t)) for t in d["turns"][:i]],
        })
    return drawn


def main(argv: list[str]) -> int:
    which = argv[0] if argv and not argv[0].startswith("-") else "empathy"
    items = dialogues()
    drawn = sample_empathy(items) if which == "empathy" else sample_customer(items)
    if "--check" in argv:
        rows = [json.loads(line) for line in FILES[which].read_text(encoding="utf-8").splitlines()]
        same = [(r["reference"], r["text_sha1"]) for r in rows] == [(r["reference"], r["text_sha1"]) for r in drawn]
        print("same draw" if same else "the draw differs from " + FILES[which].name)
        return 0 if same else 1
    for r in drawn:
        print(f"### {r['reference']}")
        for who, text in r.get("context", []):
            print(f"    {'C' if who == 'customer' else 'A'}: {text}")
        print(f"  >> {r['text']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
