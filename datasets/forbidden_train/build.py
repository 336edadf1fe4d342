"""Build forbidden_train.jsonl from the hand-written sentence files in src/ (see README.md).

Run from the repository root:  python -m datasets.forbidden_train.build
Deterministic (seeded). Items that duplicate or nearly duplicate a turn of the labelled evaluation
set (datasets/labelled, dev and test) are dropped here, compared by character bigrams, and only
their count is printed, so no evaluation text is shown or copied.
"""

from __future__ import annotations

import json
import random
import re
import sys
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
OUT = HERE / "forbidden_train.jsonl"
SEED = 20261123
CATEGORIES = ("deflect", "impatience", "blame", "mock_insult", "improper_promise")
NEAR_DUPLICATE = 0.7  # char-bigram Jaccard at or above this counts as the same sentence

# Context fragments for combined turns: a violation sentence wrapped in ordinary service talk, so the
# model sees violations inside longer turns (the labelled set and real chats have such turns).
OPENERS = ["您好，", "亲，", "好的，", "嗯，", "我看了一下，", "收到，", "先生您好，", "女士，", "这边查到了，", "行，"]
CLOSERS = ["", "。", "，还有别的事吗？", "。请问还有其他问题吗？", "，就这样。", "，您看着办。", "！", "，好吧。"]
MIDDLES = ["您的订单已经发货了", "退款申请我看到了", "您的账单我查了一下", "宽带工单已经生成了",
           "保单信息核实过了", "快递显示在派送中", "您的贷款资料收到了", "外卖订单我这边看到了",
           "航班信息已经查到", "您说的情况我了解了"]
_PUNCT_END = re.compile(r"[。！？!?~…]$")


def read_lines(path: Path) -> list[tuple[str, str]]:
    """(text, section) per non-comment line; `# category: X` switches the category, `# --- Y` the section."""
    out, section, category = [], "", None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("# category:"):
            category = line.split(":", 1)[1].split()[0]
            continue
        if line.startswith("# ---"):
            section = line[5:].strip()
            continue
        if line.startswith("#"):
            continue
        out.append((line, category or "", section))
    return out


def _bigrams(text: str) -> set[str]:
    t = "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isalnum())
    return {t[i:i + 2] for i in range(len(t) - 1)} or {t}


def near_duplicate(text: str, others: list[set[str]]) -> bool:
    a = _bigrams(text)
    return any(len(a & b) / len(a | b) >= NEAR_DUPLICATE for b in others)


def written_items() -> list[dict]:
    items = []
    for path in sorted(SRC.glob("*.txt")):
        positive = path.name.startswith("pos_")
        file_category = path.stem.split("_", 1)[1] if positive else ""
        for n, (text, category, section) in enumerate(read_lines(path)):
            category = (category or file_category) if positive else ""
            if positive and category not in CATEGORIES:
                raise ValueError(f"{path.name}: line {n}: category {category!r} unknown")
            items.append({"id": f"{path.stem}:{n}", "text": text, "label": int(positive),
                          "category": category, "section": section, "source": "written"})
    return items


def combined_items(items: list[dict], rng: random.Random, n_pos: int = 150, n_neg: int = 150) -> list[dict]:
    """Two-part turns: a context fragment plus a written sentence (the label is the sentence's)."""
    out = []
    for label, n in ((1, n_pos), (0, n_neg)):
        pool = [x for x in items if x["label"] == label and len(x["text"]) <= 30]
        for k, base in enumerate(rng.sample(pool, min(n, len(pool)))):
            core = base["text"]
            if rng.random() < 0.5:
                text = rng.choice(OPENERS) + rng.choice(MIDDLES) + "，" + core
            else:
                text = rng.choice(OPENERS) + core
            if not _PUNCT_END.search(text):
                text += rng.choice(CLOSERS)
            out.append({"id": f"combined:{label}:{k}", "text": text, "label": label,
                        "category": base["category"], "section": base["section"], "source": "combined",
                        "from": base["id"]})
    return out


def build(labelled_texts: list[str] | None = None) -> tuple[list[dict], int]:
    rng = random.Random(SEED)
    items = written_items()
    items += combined_items(items, rng)
    dropped = 0
    if labelled_texts:
        others = [_bigrams(t) for t in labelled_texts]
        kept = []
        for x in items:
            if near_duplicate(x["text"], others):
                dropped += 1
            else:
                kept.append(x)
        items = kept
    # internal split for monitoring the fit only (the threshold is chosen on the labelled dev split)
    for x in items:
        x["split"] = "val" if rng.random() < 0.1 else "train"
    return items, dropped


def main() -> None:
    from qa_datasets.labelled_set import load_labelled

    items, dropped = build([r["text"] for r in load_labelled()])
    with OUT.open("w", encoding="utf-8") as fh:
        for x in items:
            fh.write(json.dumps(x, ensure_ascii=False) + "\n")
    pos = sum(x["label"] for x in items)
    by_cat = {c: sum(1 for x in items if x["category"] == c) for c in CATEGORIES}
    print(f"{OUT.name}: {len(items)} items, {pos} positive, {len(items) - pos} negative; "
          f"written {sum(x['source'] == 'written' for x in items)}, combined {sum(x['source'] == 'combined' for x in items)}; "
          f"{dropped} dropped as near-duplicates of labelled turns; per category {by_cat}", file=sys.stderr)


if __name__ == "__main__":
    main()
