"""Reproduce the customer-emotion yardstick sample (customer_emotion_turns.jsonl, CUSTOMER_EMOTION.md).

Run from the repository root:

    python -m datasets.labelled.sample_customer            # print the drawn turns for reading
    python -m datasets.labelled.sample_customer --stats    # population / sample counts only
    python -m datasets.labelled.sample_customer --check    # the jsonl references == the draw

The printed text is for reading only and is never committed (JDDC data are research-only).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

from ..customer_emotion import ref_id
from ..emotion import jddc_held_out
from ..jddc import chat_dev_path, iter_rows, shared_dir

SEED = 20261205
TARGETS = {"chat_dev": 900, "jddc_replies": 400, "uss_valid": 330}
PER_GROUP = {"chat_dev": 2, "jddc_replies": 1, "uss_valid": 2}
CUE_WEIGHT = 2.0
SOURCES = ("chat_dev", "jddc_replies", "uss_valid")

# Words that make a whole session / dialogue / window more likely to hold a negative customer turn.
# Used ONLY to order groups for sampling (a cue group is about twice as likely to be reached); the turns
# inside a group are drawn uniformly, and no label was ever derived from these words.
CUES = ("差评", "投诉", "怎么回事", "怎么还", "还没", "太慢", "慢死", "垃圾", "无语", "坑", "骗",
        "气死", "生气", "失望", "算了", "到底", "几天了", "催", "着急", "急用", "赶紧", "快点",
        "搞什么", "凭什么", "呵呵", "郁闷", "不满意", "12315", "退钱", "什么破", "态度")

_PLACEHOLDER = re.compile(r"\[[^\[\]]*\]|#E-[a-z]+")
_URL = re.compile(r"https?://\S+|www\.\S+|item\.jd\.com\S*")
_SYSTEM = re.compile(r"顾客通过点击\S*?信息发送|咨询订单号|订单编号|订单号|订单金额|下单时间|商品ID|商品编号"
                     r"|(?:订单业务|返修退换货|配送|商品信息|发票类?|售后|物流|支付)咨询")  # + menu buttons
_FILLER = re.compile(r"[\s\W_\d]+")


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def text_key(text: str) -> str:
    """What counts as the same text: NFKC, lower case, whitespace removed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).lower())


def is_contentless(text: str) -> bool:
    """Empty, or only masks ([订单x], [ORDERID_…], nested [订单编号:[订单x]，…]), emoticon codes, URLs,
    system-card words (咨询订单号 / 订单金额 / 下单时间 / 商品ID …), digits and punctuation."""
    prev = None
    while prev != text:  # masks can nest
        prev, text = text, _PLACEHOLDER.sub("", text)
    text = _SYSTEM.sub("", _URL.sub("", text))
    return not _FILLER.sub("", text)


def has_cue(text: str) -> bool:
    return any(c in text for c in CUES)


# ---------------------------------------------------------------- sources -> groups of candidate turns
# A candidate: dict(ref fields..., text, context=[(speaker, text)] for reading, prev_agent ref).


def _chat_dev() -> dict[str, dict]:
    rows_by: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for session, index, role, text in iter_rows(chat_dev_path()):
        rows_by[session].append((index, role, text))
    groups: dict[str, dict] = {}
    for session, rows in rows_by.items():
        cands = []
        for pos, (index, role, text) in enumerate(rows):
            if role != "customer" or is_contentless(text):
                continue
            prev_agent = next((i for i, r, _ in reversed(rows[:pos]) if r == "agent"), None)
            cands.append({"source": "chat_dev", "session_id": session, "utt_index": index,
                          "prev_agent_utt_index": prev_agent,
                          "jddc_held_out": jddc_held_out(f"jddc-{session}"),
                          "text": text,
                          "context": [("A" if r == "agent" else "C", t) for _, r, t in rows[max(0, pos - 4):pos]]})
        customer_text = " ".join(t for _, r, t in rows if r == "customer")
        if cands:
            groups[session] = {"cue": has_cue(customer_text), "cands": cands}
    return groups


def replies_path() -> Path:
    return shared_dir() / "datasets" / "jddc_replies" / "train.enc"


def uss_path() -> Path:
    return shared_dir() / "datasets" / "uss_jddc_satisfaction" / "uss_jddc_valid_reconstructed.jsonl"


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (set QA_SHARED_DIR)")
    with path.open(encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


def replies_groups(enc: list[str], dec: list[str]) -> list[int]:
    """Per jddc_replies line (0-based), the index of the first line of its group: a run of consecutive
    lines whose windows overlap (the file keeps no session ids)."""
    segs = [line.split(",") for line in enc]
    group_of: list[int] = []
    for i, s in enumerate(segs):
        if i and ((set(x for x in s if len(x) >= 6) & set(x for x in segs[i - 1] if len(x) >= 6))
                  or any(len(x) >= 6 and x in enc[i] for x in dec[i - 1].split(","))):
            group_of.append(group_of[-1])
        else:
            group_of.append(i)
    return group_of


def _jddc_replies() -> dict[str, dict]:
    enc = _read_lines(replies_path())
    dec = _read_lines(replies_path().with_suffix(".dec"))
    segs = [line.split(",") for line in enc]
    group_of = replies_groups(enc, dec)
    groups: dict[str, dict] = {}
    for i, s in enumerate(segs):
        gid = f"L{group_of[i] + 1}"
        g = groups.setdefault(gid, {"cue": False, "cands": []})
        g["cue"] = g["cue"] or has_cue(enc[i])
        nonempty = [j for j, x in enumerate(s) if x.strip()]
        if not nonempty:
            continue
        j = nonempty[-1]
        if is_contentless(s[j]):
            continue
        g["cands"].append({"source": "jddc_replies", "line": i + 1, "seg_index": j, "text": s[j],
                           "context": [("?", x) for x in s[max(0, j - 4):j] if x.strip()]})
    return {k: v for k, v in groups.items() if v["cands"]}


def _uss() -> dict[str, dict]:
    groups: dict[str, dict] = {}
    for line in _read_lines(uss_path()):
        if not line.strip():
            continue
        d = json.loads(line)
        turns = d["turns"]
        cands = []
        for k, t in enumerate(turns):
            if t["user"] == "OVERALL" or is_contentless(t["user"]):
                continue
            prev_agent = next((m for m in range(k - 1, -1, -1) if turns[m]["agent"].strip()), None)
            ctx: list[tuple[str, str]] = []
            for m in range(max(0, k - 2), k):
                ctx.append(("C", turns[m]["user"]))
                if turns[m]["agent"].strip():
                    ctx.append(("A", turns[m]["agent"]))
            cands.append({"source": "uss_valid", "dialogue_idx": d["dialogue_idx"], "turn_index": k,
                          "prev_agent_turn_index": prev_agent, "text": t["user"], "context": ctx})
        user_text = " ".join(t["user"] for t in turns if t["user"] != "OVERALL")
        if cands:
            groups[str(d["dialogue_idx"])] = {"cue": has_cue(user_text), "cands": cands}
    return groups


LOADERS = {"chat_dev": _chat_dev, "jddc_replies": _jddc_replies, "uss_valid": _uss}


def _weighted_order(groups: dict[str, dict], rng: random.Random) -> list[str]:
    """Weighted random order without replacement (Efraimidis–Spirakis: key u^(1/w), largest first)."""
    keys = {}
    for gid in sorted(groups):
        w = CUE_WEIGHT if groups[gid]["cue"] else 1.0
        keys[gid] = rng.random() ** (1.0 / w)
    return sorted(groups, key=lambda g: -keys[g])


def sample(stats: dict | None = None) -> list[dict]:
    """The drawn turns, in draw order per source (chat_dev, jddc_replies, uss_valid), each with its
    reference fields, group, cue_group, split, text_sha1, and (for reading) text and context."""
    seen: set[str] = set()
    out: list[dict] = []
    for source in SOURCES:
        groups = LOADERS[source]()
        rng = random.Random(f"{SEED}:{source}")
        picked: list[dict] = []
        drawn_groups: list[str] = []
        for gid in _weighted_order(groups, rng):
            fresh = [c for c in groups[gid]["cands"] if text_key(c["text"]) not in seen]
            # the same text twice inside one group counts once
            uniq: dict[str, dict] = {}
            for c in fresh:
                uniq.setdefault(text_key(c["text"]), c)
            fresh = list(uniq.values())
            take = rng.sample(fresh, min(PER_GROUP[source], len(fresh)))
            if not take:
                continue
            drawn_groups.append(gid)
            for c in sorted(take, key=lambda c: c.get("utt_index", c.get("turn_index", c.get("line", 0)))):
                seen.add(text_key(c["text"]))
                picked.append({**c, "group": gid, "cue_group": groups[gid]["cue"], "text_sha1": sha1(c["text"])})
            if len(picked) >= TARGETS[source]:
                break
        # split: per stratum (cue_group), groups by sha1(seed:source:group), alternating dev / test
        split_of: dict[str, str] = {}
        for cue in (True, False):
            strat = sorted((g for g in drawn_groups if groups[g]["cue"] == cue),
                           key=lambda g: hashlib.sha1(f"{SEED}:{source}:{g}".encode()).hexdigest())
            for n, g in enumerate(strat):
                split_of[g] = "dev" if n % 2 == 0 else "test"
        for row in picked:
            row["split"] = split_of[row["group"]]
        out.extend(picked)
        if stats is not None:
            n_cue = sum(g["cue"] for g in groups.values())
            stats[source] = {"groups": len(groups), "cue_groups": n_cue,
                             "cue_share_population": round(n_cue / len(groups), 3),
                             "candidate_turns": sum(len(g["cands"]) for g in groups.values()),
                             "drawn_turns": len(picked), "drawn_groups": len(drawn_groups),
                             "cue_share_sample_turns": round(sum(r["cue_group"] for r in picked) / len(picked), 3),
                             "splits": dict(Counter(r["split"] for r in picked))}
    return out


REF_FIELDS = {"chat_dev": ("session_id", "utt_index", "prev_agent_utt_index", "jddc_held_out"),
              "jddc_replies": ("line", "seg_index"),
              "uss_valid": ("dialogue_idx", "turn_index", "prev_agent_turn_index")}


def reference(row: dict) -> dict:
    """The committed part of a drawn row (no text)."""
    return {"source": row["source"], **{k: row[k] for k in REF_FIELDS[row["source"]]},
            "text_sha1": row["text_sha1"], "cue_group": row["cue_group"], "split": row["split"]}


def _print(rows: list[dict]) -> Iterator[str]:
    for n, r in enumerate(rows):
        yield f"### {n} {ref_id(r)} {r['split']}"
        for who, t in r["context"]:
            yield f"    {who}: {t[:160]}"
        yield f"  >> {r['text']}"


def main(argv: list[str]) -> int:
    stats: dict = {}
    rows = sample(stats)
    if "--stats" in argv:
        print(json.dumps(stats, ensure_ascii=False, indent=1))
        return 0
    if "--check" in argv:
        path = Path(__file__).resolve().parent / "customer_emotion_turns.jsonl"
        committed = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        keys = ("source", *sorted({k for f in REF_FIELDS.values() for k in f}), "text_sha1", "cue_group", "split")
        want = [{k: r.get(k) for k in keys} for r in map(reference, rows)]
        got = [{k: r.get(k) for k in keys} for r in committed]
        print("identical" if want == got else f"DIFFERENT: draw {len(want)} rows, file {len(got)} rows")
        return 0 if want == got else 1
    for line in _print(rows):
        print(line)
    print(json.dumps(stats, ensure_ascii=False), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
