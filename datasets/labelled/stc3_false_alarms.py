"""Build the false-alarm set's third fresh yardstick (FALSE_ALARMS.md, "STC-3 helpdesk turns"): the helpdesk
turns of the NTCIR-14 STC-3 Chinese training set (Weibo customer-service accounts), which no forbidden-phrase
model, list or split has used, cut by hash parity into a mining half `stc3_train` and a held-out half `test3`.

Run from the repository root:  QA_SHARED_DIR=... python -m datasets.labelled.stc3_false_alarms
(rewrites false_alarm_stc3_turns.tsv: one line per turn, source, reference, text_sha1, occurrences; no text;
prints the counts). The list is committed; `stc3_turns()` joins the text back in from ../shared and checks
every hash.

- Source `stc3_helpdesk`: every turn of `stc3_train_cn/train_data_cn.json` whose sender is `helpdesk`
  (6,900 turns), its text as `qa_datasets.satisfaction.stc3_train()` gives it to the engine: the turn's
  non-empty utterances joined with a newline (the engine's normalisation drops the newline; 232 turns have
  more than one utterance). Reference `<dialogue id>#<turn index>`, the index counting every turn of the
  dialogue (customer and helpdesk), from 0, as `chat_dev` references count rows.
- One turn per stripped text (first occurrence in file order; `occurrences` counts the helpdesk turns
  holding it); turns empty after stripping are left out (113 turns: helpdesk turns with no utterance).
- Left out: any text (stripped) that the earlier yardsticks or training sets hold, exactly as
  fresh_false_alarms.excluded_texts leaves them out of `test2` (train / test turns, train.dec lines and
  messages, chat_dev rows, USS JDDC turns, the labelled set, datasets/forbidden_train, the train.enc
  customer messages), and every `test2` turn.
- Split (`stc3_split`): `test3` if `int(text_sha1[:8], 16)` is odd, else `stc3_train`: the parity rule of
  the `train` / `test` splits (false_alarms.false_alarm_split), over every listed turn, hit or not.
  `stc3_train` may be mined and tuned on; `test3` is scored once per change.
"""

from __future__ import annotations

import json
from pathlib import Path

from .fresh_false_alarms import HERE, sha1

TURNS_FILE = HERE / "false_alarm_stc3_turns.tsv"
SOURCE = "stc3_helpdesk"
SPLITS = ("stc3_train", "test3")


def stc3_split(text_sha1: str) -> str:
    """test3 (held out) if the hash is odd, else stc3_train (may be mined): the false-alarm parity rule."""
    return "test3" if int(text_sha1[:8], 16) % 2 else "stc3_train"


def helpdesk_messages(shared: Path | None = None) -> list[tuple[str, str]]:
    """(reference `<dialogue id>#<turn index>`, text as the engine reads the turn), every helpdesk turn."""
    from ..satisfaction import stc3_train

    return [(f"{d['id']}#{i}", t["text"]) for d in stc3_train(shared) for i, t in enumerate(d["turns"])
            if t["role"] == "agent"]


def excluded_texts(shared: Path | None = None) -> set[str]:
    """Stripped texts no STC-3 turn of the set may equal (module docstring)."""
    from .fresh_false_alarms import _enc_dec, test2_turns
    from .fresh_false_alarms import excluded_texts as test2_excluded

    enc, dec = _enc_dec(shared)
    out = test2_excluded(enc, dec)
    out |= {t["text"].strip() for items in test2_turns(shared).values() for t in items}
    return out


def build(shared: Path | None = None) -> tuple[list[dict], dict]:
    messages = helpdesk_messages(shared)
    excluded = excluded_texts(shared)
    first: dict[str, dict] = {}
    report = {"helpdesk_turns": len(messages), "empty": 0, "excluded_turns": 0, "excluded_texts": set()}
    for ref, text in messages:
        key = text.strip()
        if not key:
            report["empty"] += 1
            continue
        if key in excluded:
            report["excluded_turns"] += 1
            report["excluded_texts"].add(key)
            continue
        if key in first:
            first[key]["occurrences"] += 1
        else:
            first[key] = {"source": SOURCE, "reference": ref, "text_sha1": sha1(text), "occurrences": 1}
    turns = list(first.values())
    report["excluded_texts"] = len(report["excluded_texts"])
    report["distinct_turns"] = len(turns)
    for split in SPLITS:
        part = [t for t in turns if stc3_split(t["text_sha1"]) == split]
        report[split] = {"turns": len(part), "rows": sum(t["occurrences"] for t in part)}
    return turns, report


def stc3_turns(split: str = "all", shared: Path | None = None) -> dict[str, list[dict]]:
    """{SOURCE: [{reference, text, text_sha1, occurrences}]} of the committed list, `split` stc3_train,
    test3 or all, each text joined in from ../shared and checked against its hash; the shape of
    false_alarms.distinct_turns."""
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split {split!r} not in {', '.join(SPLITS)}, all")
    texts = dict(helpdesk_messages(shared))
    out: dict[str, list[dict]] = {SOURCE: []}
    for line in TURNS_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        source, reference, text_sha1, occurrences = line.split("\t")
        text = texts.get(reference)
        if source != SOURCE or text is None or sha1(text) != text_sha1:
            raise ValueError(f"{TURNS_FILE.name}: {source} {reference}: missing or does not match text_sha1")
        if split in ("all", stc3_split(text_sha1)):
            out[SOURCE].append({"reference": reference, "text": text, "text_sha1": text_sha1, "occurrences": int(occurrences)})
    return out


def main() -> None:
    turns, report = build()
    with TURNS_FILE.open("w", encoding="utf-8") as fh:
        fh.write("# source\treference\ttext_sha1\toccurrences  (FALSE_ALARMS.md, splits stc3_train / test3 by hash parity; "
                 "built by stc3_false_alarms.py)\n")
        for t in turns:
            fh.write(f"{t['source']}\t{t['reference']}\t{t['text_sha1']}\t{t['occurrences']}\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
