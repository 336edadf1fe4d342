"""Reproduce the JDDC agent-turn samples: jddc_agent_turns.jsonl (dev / tuning) and the held-out
test sample jddc_test_turns.jsonl.

Run from the repository root:  python -m datasets.labelled.sample_jddc [--test]  (prints the sampled
turns as session_id, utt_index, text_sha1, text to stdout; the text is for reading only, never
committed).
"""

from __future__ import annotations

import hashlib
import random
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Hashable

from ..jddc import chat_dev_path, iter_rows

SEED = 20261123
PER_SESSION = 2
TARGET = 340

_PLACEHOLDER = re.compile(r"\[[^\[\]]*\]|#E-[a-z]+")
_FILLER = re.compile(r"[\s\W_]+")


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def is_contentless(text: str) -> bool:
    """True for empty turns and turns made only of masks ([链接x], [订单x]...), emoticon codes, punctuation."""
    prev = None
    while prev != text:  # masks can nest: [订单编号:[订单x]，...]
        prev, text = text, _PLACEHOLDER.sub("", text)
    return not _FILLER.sub("", text)


def sample(seed: int = SEED, target: int = TARGET, skip_sessions: frozenset[str] = frozenset(),
           skip_texts: frozenset[str] = frozenset()) -> list[tuple[str, int, str, str]]:
    """Up to PER_SESSION agent turns from each session, sessions in seeded random order, until target.

    Turns whose text (whitespace-stripped) was already drawn are skipped, so the many verbatim
    template lines of the JD agents appear once each. skip_sessions / skip_texts (stripped) are
    never drawn (used by sample_test).
    """
    by_session: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for session, index, role, text in iter_rows(chat_dev_path()):
        if role == "agent" and not is_contentless(text) and session not in skip_sessions:
            by_session[session].append((index, text))
    rng = random.Random(seed)
    sessions = sorted(by_session)
    rng.shuffle(sessions)
    seen: set[str] = set(skip_texts)
    picked: list[tuple[str, int, str, str]] = []
    for session in sessions:
        fresh = [(i, t) for i, t in by_session[session] if t.strip() not in seen]
        for index, text in sorted(rng.sample(fresh, min(PER_SESSION, len(fresh)))):
            seen.add(text.strip())
            picked.append((session, index, sha1(text), text))
        if len(picked) >= target:
            break
    return picked


TEST_SEED = 20261124
TEST_TARGET = 200


def sample_test() -> list[tuple[str, int, str, str]]:
    """The held-out test sample (jddc_test_turns.jsonl): the same rules as sample(), seed TEST_SEED,
    TEST_TARGET turns, from sessions that are neither in jddc_agent_turns.jsonl nor hold any of the
    texts the forbidden-phrase trainers draw as JD negatives (the first DRAWN texts of their pool,
    wherever those texts occur); texts of the dev/tuning sample are not drawn again."""
    import json
    from pathlib import Path

    from ..forbidden_train.jddc_negatives import DRAWN, shuffled_pool

    here = Path(__file__).resolve().parent
    old = [json.loads(line) for line in (here / "jddc_agent_turns.jsonl").read_text(encoding="utf-8").splitlines() if line]
    old_sessions = {r["session_id"] for r in old}
    negatives = set(shuffled_pool()[:DRAWN])
    skip_sessions, skip_texts = set(old_sessions), set()
    for session, index, _, text in iter_rows(chat_dev_path()):
        if text.strip() in negatives:
            skip_sessions.add(session)
        if session in old_sessions:
            skip_texts.add(text.strip())
    return sample(TEST_SEED, TEST_TARGET, frozenset(skip_sessions), frozenset(skip_texts))


_RARE_FIRST = ("farewell_wishes", "thanks", "apology", "greeting", "please")


def split_key(item: dict) -> tuple:
    """Stratum: forbidden categories, paraphrase flag, and the rarest politeness category present."""
    rarest = next((c for c in _RARE_FIRST if c in item["politeness_categories"]), "")
    return tuple(item["forbidden_categories"]), item.get("paraphrase", False), rarest


def assign_split(items: list[dict], key: Callable[[dict], Hashable] = split_key, seed: int = SEED) -> None:
    """Set item["split"] to dev/test, 50/50, stratified by key (strata in sorted order, seeded shuffle)."""
    rng = random.Random(seed)
    strata: dict[Hashable, list[dict]] = defaultdict(list)
    for item in items:
        strata[key(item)].append(item)
    turn = 0
    for k in sorted(strata, key=repr):
        group = strata[k]
        rng.shuffle(group)
        for item in group:
            item["split"] = ("dev", "test")[turn % 2]
            turn += 1


if __name__ == "__main__":
    for row in (sample_test() if "--test" in sys.argv[1:] else sample()):
        sys.stdout.write("\t".join(map(str, row)) + "\n")
