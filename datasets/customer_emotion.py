"""Hand-labelled customer-emotion yardstick (labelled/CUSTOMER_EMOTION.md, issue 14).

labelled/customer_emotion_turns.jsonl holds only references to real JD customer turns (chat_dev,
jddc_replies contexts, uss valid) plus their SHA-1 and the labels: the JDDC text may not be
redistributed, so it is joined back in here from ../shared/datasets and checked against the hash.

Splits: `dev` (develop, tune, read errors) and `test` (scored once per change, never used to choose
anything). Run `python -m datasets.customer_emotion` to print the counts.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from .jddc import chat_dev_path, iter_rows, shared_dir

LABELLED = Path(__file__).resolve().parent / "labelled"
TURNS_FILE = LABELLED / "customer_emotion_turns.jsonl"
SOURCES = ("chat_dev", "jddc_replies", "uss_valid")
SPLITS = ("dev", "test")
POLARITIES = ("negative", "neutral", "positive")
POLARITY_OF = {"angry": "negative", "anxious": "negative", "sad": "negative", "neutral": "neutral",
               "happy": "positive"}


def replies_path(shared: Path | None = None) -> Path:
    return (shared or shared_dir()) / "datasets" / "jddc_replies" / "train.enc"


def uss_path(shared: Path | None = None) -> Path:
    return (shared or shared_dir()) / "datasets" / "uss_jddc_satisfaction" / "uss_jddc_valid_reconstructed.jsonl"


def _need(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"customer-emotion yardstick: {path} not found (set QA_SHARED_DIR to the folder "
                                "that holds datasets/)")
    return path


def read_refs() -> list[dict]:
    """The committed rows (references and labels, no text), in file order."""
    with TURNS_FILE.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def ref_id(row: dict) -> str:
    if row["source"] == "chat_dev":
        return f"chat_dev:{row['session_id']}#{row['utt_index']}"
    if row["source"] == "jddc_replies":
        return f"jddc_replies:{row['line']}#{row['seg_index']}"
    return f"uss_valid:{row['dialogue_idx']}#{row['turn_index']}"


class _Texts:
    """Looks the referenced texts up in ../shared, reading each source file once, only if needed."""

    def __init__(self, shared: Path | None) -> None:
        self.shared = shared
        self._chat: dict[tuple[str, int], str] | None = None
        self._replies: list[str] | None = None
        self._uss: dict[int, list[dict]] | None = None

    def chat(self) -> dict[tuple[str, int], str]:
        if self._chat is None:
            path = _need(chat_dev_path(self.shared))
            self._chat = {(s, i): t for s, i, _, t in iter_rows(path)}
        return self._chat

    def replies(self) -> list[str]:
        if self._replies is None:
            with _need(replies_path(self.shared)).open(encoding="utf-8") as fh:
                self._replies = [line.rstrip("\n") for line in fh]
        return self._replies

    def uss(self) -> dict[int, list[dict]]:
        if self._uss is None:
            with _need(uss_path(self.shared)).open(encoding="utf-8") as fh:
                dialogues = [json.loads(line) for line in fh if line.strip()]
            self._uss = {d["dialogue_idx"]: d["turns"] for d in dialogues}
        return self._uss

    def text(self, row: dict) -> str | None:
        src = row["source"]
        if src == "chat_dev":
            return self.chat().get((row["session_id"], row["utt_index"]))
        if src == "jddc_replies":
            lines = self.replies()
            if not 1 <= row["line"] <= len(lines):
                return None
            segs = lines[row["line"] - 1].split(",")
            return segs[row["seg_index"]] if row["seg_index"] < len(segs) else None
        turns = self.uss().get(row["dialogue_idx"])
        return turns[row["turn_index"]]["user"] if turns and row["turn_index"] < len(turns) else None

    def prev_agent(self, row: dict) -> str | None:
        if row["source"] == "chat_dev" and row.get("prev_agent_utt_index") is not None:
            return self.chat().get((row["session_id"], row["prev_agent_utt_index"]))
        if row["source"] == "uss_valid" and row.get("prev_agent_turn_index") is not None:
            return self.uss()[row["dialogue_idx"]][row["prev_agent_turn_index"]]["agent"]
        return None

    def prev_turn(self, row: dict) -> str | None:
        """The last non-blank turn before this one, whoever said it (chat_dev, uss) or the window segment
        before it (jddc_replies, speakers unknown): the context a context-reading model gets, the same
        whichever source, and what an engine has for any customer turn (the turn before it)."""
        src = row["source"]
        if src == "chat_dev":
            chat = self.chat()
            i = row["utt_index"] - 1
            while i >= 0 and not chat.get((row["session_id"], i), "").strip():
                i -= 1
            return chat[(row["session_id"], i)] if i >= 0 else None
        if src == "jddc_replies":
            before = [s for s in self.context(row) if s.strip()]
            return before[-1] if before else None
        turns = self.uss()[row["dialogue_idx"]]
        k = row["turn_index"]
        if k > 0 and turns[k - 1]["agent"].strip():  # a uss turn is the user's message, then the agent's reply
            return turns[k - 1]["agent"]
        if k > 0 and turns[k - 1]["user"].strip() and turns[k - 1]["user"] != "OVERALL":
            return turns[k - 1]["user"]
        return None

    def context(self, row: dict) -> list[str]:
        """jddc_replies: the segments before the turn in its window (speakers unknown)."""
        if row["source"] != "jddc_replies":
            return []
        return self.replies()[row["line"] - 1].split(",")[: row["seg_index"]]


def load_customer_emotion(shared_dir_: Path | None = None, include_excluded: bool = False) -> list[dict]:
    """The labelled customer turns with their text joined in, in file order. Each record:
    id, source, split, text, polarity, emotion (5-class label or None), label (= emotion, the key
    qa_engine.eval.emotion_eval reads), cue_group, note, prev_agent_text (chat_dev / uss; None when there is
    no earlier agent turn or for jddc_replies), context (jddc_replies: the preceding window segments,
    speakers unknown), prev_text (the turn just before, any speaker: _Texts.prev_turn) and the
    reference fields.

    Rows marked `exclude` (drawn, turned out not to be customer turns) are left out unless
    include_excluded. shared_dir_ defaults to $QA_SHARED_DIR, else the `shared` folder beside the
    repository. Raises FileNotFoundError if a source file is missing, ValueError if a referenced turn
    is absent, its text no longer matches text_sha1, or a label is malformed.
    """
    texts = _Texts(shared_dir_ or shared_dir())
    out: list[dict] = []
    seen: set[str] = set()
    for row in read_refs():
        rid = ref_id(row)
        if rid in seen:
            raise ValueError(f"customer-emotion yardstick: duplicate reference {rid}")
        seen.add(rid)
        if row["source"] not in SOURCES or row["split"] not in SPLITS:
            raise ValueError(f"customer-emotion yardstick {rid}: bad source or split")
        text = texts.text(row)
        if text is None:
            raise ValueError(f"customer-emotion yardstick {rid}: referenced turn not found in ../shared")
        if hashlib.sha1(text.encode("utf-8")).hexdigest() != row["text_sha1"]:
            raise ValueError(f"customer-emotion yardstick {rid}: text in ../shared does not match text_sha1")
        if row.get("exclude"):
            if include_excluded:
                out.append({**row, "id": rid, "text": text, "label": None})
            continue
        polarity, emotion = row["polarity"], row["emotion"]
        if polarity not in POLARITIES or (emotion is not None and POLARITY_OF.get(emotion) != polarity):
            raise ValueError(f"customer-emotion yardstick {rid}: bad labels {polarity!r} / {emotion!r}")
        out.append({**row, "id": rid, "text": text, "label": emotion, "note": row.get("note"),
                    "prev_agent_text": texts.prev_agent(row), "context": texts.context(row),
                    "prev_text": texts.prev_turn(row)})
    return out


def select(items: list[dict], split: str) -> list[dict]:
    """Rows of one split ("dev", "test") or "all"."""
    return items if split == "all" else [r for r in items if r["split"] == split]


def customer_emotion_exclusions(shared_dir_: Path | None = None) -> dict[str, set]:
    """What a customer-emotion trainer must never train on: every chat_dev session and uss dialogue of
    this set, every jddc_replies line it draws from, and the stripped text of every drawn turn (the
    jddc_replies windows overlap and keep no session ids, so texts are the safe key there)."""
    rows = load_customer_emotion(shared_dir_, include_excluded=True)
    return {
        "chat_dev_sessions": {r["session_id"] for r in rows if r["source"] == "chat_dev"},
        "uss_dialogues": {r["dialogue_idx"] for r in rows if r["source"] == "uss_valid"},
        "jddc_replies_lines": {r["line"] for r in rows if r["source"] == "jddc_replies"},
        "texts": {r["text"].strip() for r in rows},
    }


def _counts(items: list[dict]) -> None:
    print(f"{len(items)} labelled turns")
    for split in (*SPLITS, "all"):
        part = select(items, split)
        pol = Counter(r["polarity"] for r in part)
        emo = Counter(r["emotion"] or "null" for r in part)
        src = Counter(r["source"] for r in part)
        print(f"{split:4} n={len(part):4} " + " ".join(f"{k}={pol[k]}" for k in POLARITIES)
              + f" neg%={100 * pol['negative'] / len(part):.1f} | "
              + " ".join(f"{k}={emo[k]}" for k in ("angry", "anxious", "sad", "neutral", "happy", "null"))
              + " | " + " ".join(f"{k}={src[k]}" for k in SOURCES))
    for source in SOURCES:
        part = [r for r in items if r["source"] == source]
        pol = Counter(r["polarity"] for r in part)
        print(f"{source:12} n={len(part):4} " + " ".join(f"{k}={pol[k]}" for k in POLARITIES)
              + f" neg%={100 * pol['negative'] / len(part):.1f}")


SECOND_FILE = LABELLED / "customer_emotion_second.jsonl"


def agreement(items: list[dict] | None = None) -> dict[str, dict]:
    """How far a second, blind annotator (customer_emotion_second.jsonl, CUSTOMER_EMOTION.md "Second
    annotator") agrees with the yardstick's labels, per split, over the turns both labelled: polarity
    accuracy, Cohen's kappa, and the second annotator's negative precision / recall / F1 taken against the
    yardstick, the figure a model's negative F1 is read beside."""
    items = load_customer_emotion() if items is None else items
    with SECOND_FILE.open(encoding="utf-8") as fh:
        second = {r["id"]: r for r in map(json.loads, fh) if not r.get("exclude")}
    out: dict[str, dict] = {}
    for split in (*SPLITS, "all"):
        pairs = [(r["polarity"], second[r["id"]]["polarity"]) for r in select(items, split) if r["id"] in second]
        n = len(pairs)
        observed = sum(a == b for a, b in pairs) / n
        first, other = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
        chance = sum(first[k] * other[k] for k in POLARITIES) / n / n
        tp = sum(a == b == "negative" for a, b in pairs)
        fp = sum(b == "negative" != a for a, b in pairs)
        fn = sum(a == "negative" != b for a, b in pairs)
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        out[split] = {"n": n, "polarity_accuracy": round(observed, 3), "kappa": round((observed - chance) / (1 - chance), 3),
                      "negative": {"precision": round(precision, 3), "recall": round(recall, 3),
                                   "f1": round(2 * precision * recall / (precision + recall), 3), "tp": tp, "fp": fp, "fn": fn}}
    return out


if __name__ == "__main__":
    import sys

    if "--agreement" in sys.argv:
        for split, a in agreement().items():
            neg = a["negative"]
            print(f"{split:4} n={a['n']:4} polarity agreement={a['polarity_accuracy']:.3f} kappa={a['kappa']:.3f} "
                  f"second annotator's negative P/R/F1={neg['precision']:.3f}/{neg['recall']:.3f}/{neg['f1']:.3f} "
                  f"(tp {neg['tp']}, fp {neg['fp']}, fn {neg['fn']})")
    else:
        _counts(load_customer_emotion())


# --------------------------------------------------------------------------------------------------
# Training side (issue 14): labelled JD customer turns that share nothing with the yardstick.

TRAIN_FILE = LABELLED / "customer_emotion_train.jsonl"
SEGMENTS_FILE = LABELLED / "customer_emotion_train_segments.jsonl"  # window segments, speakers unknown
TRAIN_SOURCE = "jd_customer_labelled"


def load_customer_train(shared_dir_: Path | None = None) -> list[dict]:
    """The training turns of labelled/customer_emotion_train.jsonl (CUSTOMER_EMOTION_TRAIN.md) with their
    text joined in and checked against text_sha1, as emotion records {text, label, polarity, source,
    id, prev_text (the turn before, as _Texts.prev_turn)}. Raises like load_customer_emotion."""
    texts = _Texts(shared_dir_ or shared_dir())
    yard = {ref_id(r) for r in read_refs()}
    out: list[dict] = []
    rows = []
    for path in (TRAIN_FILE, SEGMENTS_FILE):
        with path.open(encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    for row in rows:
        rid = ref_id(row)
        if rid in yard:
            raise ValueError(f"customer-emotion training turn {rid} is a yardstick turn")
        text = texts.text(row)
        if text is None or hashlib.sha1(text.encode("utf-8")).hexdigest() != row["text_sha1"]:
            raise ValueError(f"customer-emotion training turn {rid}: text missing or changed in ../shared")
        if row.get("exclude"):  # drawn, not a customer's turn (agent or system text), as in the yardstick
            continue
        polarity, emotion = row["polarity"], row["emotion"]
        if polarity not in POLARITIES or (emotion is not None and POLARITY_OF.get(emotion) != polarity):
            raise ValueError(f"customer-emotion training turn {rid}: bad labels {polarity!r} / {emotion!r}")
        out.append({"text": text, "label": emotion, "polarity": polarity, "source": TRAIN_SOURCE, "id": rid,
                    "prev_text": texts.prev_turn(row)})
    return out


def load_uss_weak(shared_dir_: Path | None = None, skip_keys: set[str] | None = None) -> list[dict]:
    """USS per-user-turn satisfaction as a weak polarity label (0 -> negative, 2 -> positive; 1 and
    unlabelled turns are not used), from the uss_valid dialogues that hold no yardstick turn. A text
    seen with both labels is dropped; texts whose key is in skip_keys (yardstick, hand-labelled training
    turns) are skipped. Records {text, label None, polarity, source "uss_weak"}."""
    from .emotion import text_key
    from .labelled.sample_customer import is_contentless

    yard_dialogues = {r["dialogue_idx"] for r in read_refs() if r["source"] == "uss_valid"}
    skip = skip_keys or set()
    seen: dict[str, set[str]] = {}
    texts: dict[str, str] = {}
    with _need(uss_path(shared_dir_ or shared_dir())).open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            d = json.loads(line)
            if d["dialogue_idx"] in yard_dialogues:
                continue
            for t in d["turns"]:
                if t["user"] == "OVERALL" or t["sat"] not in (0, 2) or is_contentless(t["user"]):
                    continue
                key = text_key(t["user"])
                if key in skip:
                    continue
                seen.setdefault(key, set()).add("negative" if t["sat"] == 0 else "positive")
                texts.setdefault(key, t["user"])
    return [{"text": texts[k], "label": None, "polarity": next(iter(p)), "source": "uss_weak"}
            for k, p in seen.items() if len(p) == 1]


PSEUDO_SOURCE = "jd_customer_pseudo"


def load_customer_pseudo(path: Path, shared_dir_: Path | None = None) -> list[dict]:
    """Pseudo-labelled training turns: a teacher's pseudo.jsonl (training.customer_teacher: references to
    unlabelled turns of the training pool + the teacher's head probabilities p5 (LABELS order) and p3
    (POLARITIES order) + its dev-chosen `threshold` and `mix` in the file's first line) joined with their
    text. Polarity = negative when mix * (negative 5-class mass) + (1 - mix) * p3[negative] >= threshold,
    else the likelier of neutral / positive; emotion = the teacher's most probable 5-class label of that
    polarity when it holds >= 0.6 of the polarity's 5-class mass, else None. Records {text, label,
    polarity, source "jd_customer_pseudo", id}. Raises like load_customer_train."""
    from .emotion import LABELS

    texts = _Texts(shared_dir_ or shared_dir())
    yard = {ref_id(r) for r in read_refs()}
    with Path(path).open(encoding="utf-8") as fh:
        head, *rows = [json.loads(line) for line in fh if line.strip()]
    threshold, mix = float(head["threshold"]), float(head["mix"])
    neg = [POLARITY_OF[lab] == "negative" for lab in LABELS]
    out: list[dict] = []
    for row in rows:
        rid = ref_id(row)
        if rid in yard:
            raise ValueError(f"pseudo-labelled turn {rid} is a yardstick turn")
        text = texts.text(row)
        if text is None or hashlib.sha1(text.encode("utf-8")).hexdigest() != row["text_sha1"]:
            raise ValueError(f"pseudo-labelled turn {rid}: text missing or changed in ../shared")
        p5, p3 = row["p5"], row["p3"]
        p_neg = mix * sum(p for p, n in zip(p5, neg) if n) + (1 - mix) * p3[0]
        polarity = "negative" if p_neg >= threshold else ("neutral" if p3[1] >= p3[2] else "positive")
        inside = [(p, lab) for p, lab in zip(p5, LABELS) if POLARITY_OF[lab] == polarity]
        mass = sum(p for p, _ in inside)
        top_p, top = max(inside)
        out.append({"text": text, "label": top if mass > 0 and top_p / mass >= 0.6 else None,
                    "polarity": polarity, "source": PSEUDO_SOURCE, "id": rid})
    return out
