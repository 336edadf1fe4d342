"""Run the engine's forbidden-phrase rules (服务禁语) over every distinct real JD agent turn and list the
hits, for reading and labelling (false_alarm_turns.jsonl, FALSE_ALARMS.md).

Run from the repository root:  QA_SHARED_DIR=... python -m datasets.labelled.false_alarms
(prints one line per hit turn: source, reference, text_sha1, split, occurrences, rule ids, spans, text;
the text is for reading only, never committed).  `--summary` prints the counts only.

Turns: every line of jddc_replies/train.dec and every agent row of jddc_chat_sample/chat_dev.txt, one
per whitespace-stripped text within each source (first occurrence; `occurrences` counts the rows
holding it, so figures can be given per distinct turn and per row). Only turns empty after stripping
are left out. Each turn is scored as a one-turn chat (one agent turn) by the default engine
(`Inspector(Settings())` with every default rule pack; the emotion scorer is set to the lexicon one,
which no forbidden rule reads, to save time). A hit is any finding of a rule of the `forbidden` pack
(rule id `forbidden.*`, dimension `forbidden_words`): phrase lists, pattern lists and the
forbidden_ngram classifier rules.
"""

from __future__ import annotations

import sys
from collections import Counter

from ..jddc import chat_dev_path, iter_rows
from .sample_empathy_jd import iter_replies, sha1

FORBIDDEN_PREFIX = "forbidden."


def false_alarm_split(text_sha1: str) -> str:
    """train / test by the parity of the hash (FALSE_ALARMS.md; the same rule as EMPATHY_JD.md's dev / test)."""
    return "test" if int(text_sha1[:8], 16) % 2 else "train"


def distinct_turns() -> dict[str, list[dict]]:
    """{source: [{reference, text, text_sha1, occurrences}]}, one per stripped non-empty text per source."""
    out: dict[str, list[dict]] = {}
    for source, rows in (
        ("jddc_replies", ((f"train.dec:{n}", t) for n, t in iter_replies())),
        ("chat_dev", ((f"{s}#{i}", t) for s, i, role, t in iter_rows(chat_dev_path()) if role == "agent")),
    ):
        first: dict[str, dict] = {}
        for reference, text in rows:
            key = text.strip()
            if not key:
                continue
            if key in first:
                first[key]["occurrences"] += 1
            else:
                first[key] = {"reference": reference, "text": text, "text_sha1": sha1(text), "occurrences": 1}
        out[source] = list(first.values())
    return out


def scan(turns: dict[str, list[dict]] | None = None, inspector=None) -> dict[str, list[dict]]:
    """Adds `hits` (list of (rule_id, start, end, matched text, severity)) to every turn; returns the turns."""
    from qa_engine.config import Settings
    from qa_engine.engine import Inspector
    from qa_engine.schema import Interaction

    turns = turns or distinct_turns()
    inspector = inspector or Inspector(Settings(emotion_scorer="lexicon"))
    flat = [t for source in turns for t in turns[source]]
    chats = (Interaction.model_validate({"interaction_id": f"fa-{n}", "channel": "chat",
                                          "turns": [{"role": "agent", "text": t["text"]}]})
             for n, t in enumerate(flat))
    for turn, result in zip(flat, inspector.inspect_many(chats), strict=True):
        if isinstance(result, Exception):
            raise result
        turn["hits"] = [(h.rule_id, h.start, h.end, h.text, h.severity) for h in result.hits
                        if h.rule_id.startswith(FORBIDDEN_PREFIX)]
    return turns


def _main(summary: bool) -> None:
    turns = scan()
    for source, items in turns.items():
        hit = [t for t in items if t["hits"]]
        rules = Counter(r for t in hit for r in {h[0] for h in t["hits"]})
        print(f"# {source}: {len(items)} distinct agent turns ({sum(t['occurrences'] for t in items)} rows), "
              f"{len(hit)} with a forbidden hit ({sum(t['occurrences'] for t in hit)} rows); "
              + ", ".join(f"{k}={v}" for k, v in sorted(rules.items())))
        if summary:
            continue
        for t in hit:
            rule_ids = ",".join(sorted({h[0] for h in t["hits"]}))
            spans = ";".join(f"{h[0]}:{h[1]}-{h[2]}" for h in t["hits"])
            sys.stdout.write("\t".join([source, t["reference"], t["text_sha1"], false_alarm_split(t["text_sha1"]),
                                        str(t["occurrences"]), rule_ids, spans, t["text"]]) + "\n")


if __name__ == "__main__":
    _main("--summary" in sys.argv[1:])
