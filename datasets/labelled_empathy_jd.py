"""The two in-domain yardsticks of issue 14 (datasets/labelled/EMPATHY_JD.md, FALSE_ALARMS.md):

- empathy_jd_turns.jsonl: agent turns labelled empathy yes/no (real JD turns by reference, written
  hard negatives with their text, the written 服务禁语 turns by id);
- false_alarm_turns.jsonl: every forbidden-rule hit on the distinct real JD agent turns, labelled
  violation / false_alarm.

The JDDC text may not be redistributed, so the loaders join it back in from ../shared (train.dec,
chat_dev.txt) and check every text against its text_sha1.

Run as `python -m datasets.labelled_empathy_jd` to print the counts and the false-alarm rates.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from .jddc import chat_dev_path, iter_rows, shared_dir
from .labelled.sample_empathy_jd import iter_replies, replies_path

LABELLED = Path(__file__).resolve().parent / "labelled"
EMPATHY_FILE = "empathy_jd_turns.jsonl"
FALSE_ALARM_FILE = "false_alarm_turns.jsonl"
TEST2_SOURCES = ("jddc_context", "jddc_dev_refs")  # the fresh split test2 (labelled/fresh_false_alarms.py)
STC3_SOURCE = "stc3_helpdesk"  # the STC-3 helpdesk turns, splits stc3_train / test3 (labelled/stc3_false_alarms.py)
WRITTEN_FILES = ("written_turns.jsonl", "written_test_turns.jsonl")
CATEGORIES = ("apology_for_trouble", "acknowledge", "soothe")
KINDS = ("random", "enriched", "written_hard_negative", "forbidden_written")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _texts(sources: set[str], shared: Path | None) -> dict[str, dict[str, str]]:
    """{source: {reference: text}} for the sources the rows name."""
    out: dict[str, dict[str, str]] = {}
    if "jddc_replies" in sources:
        out["jddc_replies"] = {f"train.dec:{n}": t for n, t in iter_replies(replies_path(shared))}
    if "chat_dev" in sources:
        out["chat_dev"] = {f"{s}#{i}": t for s, i, role, t in iter_rows(chat_dev_path(shared)) if role == "agent"}
    if sources & {"jddc_context", "jddc_dev_refs"}:
        from .labelled.fresh_false_alarms import texts_by_reference

        out.update(texts_by_reference(shared))
    if STC3_SOURCE in sources:
        from .labelled.stc3_false_alarms import helpdesk_messages

        out[STC3_SOURCE] = dict(helpdesk_messages(shared))
    if "forbidden_written" in sources:
        out["forbidden_written"] = {r["id"]: r["text"] for name in WRITTEN_FILES
                                    for r in _read_jsonl(LABELLED / name) if r["forbidden"]}
    return out


def _join(rows: list[dict], name: str, shared: Path | None) -> list[dict]:
    texts = _texts({r["source"] for r in rows} - {"written"}, shared)
    out = []
    for row in rows:
        if row["source"] == "written":
            text = row["text"]
        else:
            text = texts[row["source"]].get(row["reference"])
            if text is None:
                raise ValueError(f"{name}: {row['source']} {row['reference']} not found")
        if _sha1(text) != row["text_sha1"]:
            raise ValueError(f"{name}: {row['source']} {row['reference']}: text does not match text_sha1")
        out.append({**row, "text": text})
    return out


def load_empathy_jd(shared: Path | None = None) -> list[dict]:
    """Every row of empathy_jd_turns.jsonl with `text` joined in (and checked against text_sha1).

    shared defaults to $QA_SHARED_DIR, else the `shared` folder beside the repository. Raises
    FileNotFoundError if a JDDC file is missing, ValueError if a reference is absent, a text does not
    match its hash, or a row is inconsistent (split, categories, kind).
    """
    from .labelled.sample_empathy_jd import split_of

    rows = _join(_read_jsonl(LABELLED / EMPATHY_FILE), EMPATHY_FILE, shared or shared_dir())
    for r in rows:
        where = f"{EMPATHY_FILE}: {r['reference']}"
        if r["split"] != split_of(r["text_sha1"]):
            raise ValueError(f"{where}: split does not follow the hash rule")
        if r["kind"] not in KINDS or not set(r["categories"]) <= set(CATEGORIES) or r["empathy"] != bool(r["categories"]):
            raise ValueError(f"{where}: bad kind, categories or empathy")
    keys = [(r["source"], r["reference"]) for r in rows]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{EMPATHY_FILE}: duplicate references")
    return rows


def load_false_alarms(shared: Path | None = None) -> list[dict]:
    """Every row of false_alarm_turns.jsonl with `text` joined in (and checked against text_sha1)."""
    from .labelled.false_alarms import false_alarm_split
    from .labelled.stc3_false_alarms import stc3_split

    rows = _join(_read_jsonl(LABELLED / FALSE_ALARM_FILE), FALSE_ALARM_FILE, shared or shared_dir())
    for r in rows:
        where = f"{FALSE_ALARM_FILE}: {r['reference']}"
        split = ("test2" if r["source"] in TEST2_SOURCES else stc3_split(r["text_sha1"]) if r["source"] == STC3_SOURCE
                 else false_alarm_split(r["text_sha1"]))
        if r["split"] != split:
            raise ValueError(f"{where}: split does not follow the hash rule (test2 for its own sources, "
                             "stc3_train / test3 for the STC-3 turns)")
        # not_agent: a train.enc message the speaker model took for the agent's that is the customer's
        labels = ("violation", "false_alarm", "not_agent") if r["source"] == "jddc_context" else ("violation", "false_alarm")
        if r["label"] not in labels or (r["label"] == "violation") != bool(r["violation_categories"]):
            raise ValueError(f"{where}: bad label or violation_categories")
        if any(not (0 <= a < b <= len(r["text"])) or rid not in r["rule_ids"] for rid, a, b in r["spans"]):
            raise ValueError(f"{where}: span outside the text or of an unlisted rule")
    return rows


def false_alarm_rates(rows: list[dict] | None = None) -> list[dict]:
    """Per source and split (and "all"): distinct turns and rows scanned, false flags of the engine the set
    was scanned with (rows without `found_by`; later engines: `qa-engine eval false-alarms`), per 1,000 of each."""
    from .labelled.false_alarms import distinct_turns, false_alarm_split

    rows = rows if rows is not None else load_false_alarms()
    scanned = distinct_turns()
    false = {(r["source"], r["text_sha1"]) for r in rows if r["label"] == "false_alarm" and "found_by" not in r}
    out = []
    for source in (*scanned, "all"):
        for split in ("train", "test", "all"):
            turns = [(s, t) for s in scanned if source in (s, "all") for t in scanned[s]
                     if split in ("all", false_alarm_split(t["text_sha1"]))]
            flagged = [(s, t) for s, t in turns if (s, t["text_sha1"]) in false]
            n_rows = sum(t["occurrences"] for _, t in turns)
            f_rows = sum(t["occurrences"] for _, t in flagged)
            out.append({"source": source, "split": split, "turns": len(turns), "rows": n_rows,
                        "false_flag_turns": len(flagged), "false_flag_rows": f_rows,
                        "per_1000_turns": 1000 * len(flagged) / len(turns), "per_1000_rows": 1000 * f_rows / n_rows})
    return out


def _counts() -> None:
    rows = load_empathy_jd()
    print(f"{EMPATHY_FILE}: {len(rows)} turns")
    for kind in KINDS:
        for split in ("dev", "test"):
            part = [r for r in rows if r["kind"] == kind and r["split"] == split]
            cats = Counter(c for r in part for c in r["categories"])
            sources = Counter(r["source"] for r in part)
            print(f"  {kind:21} {split:4} n={len(part):3} empathy={sum(r['empathy'] for r in part):3} "
                  + " ".join(f"{c}={cats[c]}" for c in CATEGORIES) + "  " + " ".join(f"{k}={v}" for k, v in sorted(sources.items())))
    fa = load_false_alarms()
    print(f"{FALSE_ALARM_FILE}: {len(fa)} hit turns, " + ", ".join(f"{k}={v}" for k, v in sorted(Counter(
        (r["source"], r["split"], r["label"]) for r in fa).items())))
    for r in false_alarm_rates(fa):
        print(f"  {r['source']:12} {r['split']:5} turns={r['turns']:5} rows={r['rows']:5} false flags={r['false_flag_turns']:2} "
              f"({r['false_flag_rows']} rows)  per 1,000 turns {r['per_1000_turns']:.1f}, per 1,000 rows {r['per_1000_rows']:.1f}")


if __name__ == "__main__":
    _counts()
