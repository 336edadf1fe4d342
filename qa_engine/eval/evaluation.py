"""Accuracy of the rule engine on the hand-labelled agent turns (datasets/labelled)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qa_engine.schema import Interaction

LABELS = {"forbidden": "forbidden_words", "politeness": "politeness"}
# Rules of a labelled dimension that the labelling guideline (datasets/labelled/GUIDELINE.md) does not
# count: the e-commerce courtesy of issue 14 point 6 (address forms 亲 / 亲爱的, a bare 稍等 / 您稍等),
# which the guideline lists as "not politeness by itself". The label is scored without them; the whole
# dimension is reported beside it (`dimension_metrics`).
OUTSIDE_GUIDELINE = {"politeness": frozenset({"politeness.address", "politeness.wait"})}


def prf_counts(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def prf(gold: Sequence[bool], pred: Sequence[bool]) -> dict[str, float]:
    """Precision, recall and F1 of binary predictions against gold labels (the trainers' metric)."""
    pairs = [(bool(g), bool(p)) for g, p in zip(gold, pred, strict=True)]
    return prf_counts(
        tp=sum(g and p for g, p in pairs), fp=sum(p and not g for g, p in pairs), fn=sum(g and not p for g, p in pairs)
    )


def predict_turns(inspector, texts: Sequence[str]) -> list[dict[str, set[str]]]:
    """Per agent turn scored on its own (a one-turn chat): dimension -> rule ids that fired. All of
    them through inspect_many, so the models score them in large batches."""
    items = (
        Interaction(interaction_id=f"eval-{n}", channel="chat", turns=[{"role": "agent", "text": text}])
        for n, text in enumerate(texts)
    )
    out = []
    for result in inspector.inspect_many(items):
        if isinstance(result, Exception):
            raise result
        fired: dict[str, set[str]] = {}
        for hit in result.hits:
            if hit.turn == 0:
                fired.setdefault(hit.dimension, set()).add(hit.rule_id)
        out.append(fired)
    return out


def predict_turn(inspector, text: str) -> dict[str, set[str]]:
    """predict_turns of one turn."""
    return predict_turns(inspector, [text])[0]


def evaluate_rules(inspector, split: str = "test") -> dict[str, Any]:
    from qa_datasets.labelled_set import load_labelled, select

    rows = select(load_labelled(), split)
    if not rows:
        raise ValueError(f"no labelled turns in split {split!r}")
    counts = {label: {"tp": 0, "fp": 0, "fn": 0} for label in LABELS}
    whole = {label: {"tp": 0, "fp": 0, "fn": 0} for label in OUTSIDE_GUIDELINE}
    paraphrase = {"tp": 0, "fn": 0}
    errors = []
    for row, fired in zip(rows, predict_turns(inspector, [r["text"] for r in rows]), strict=True):
        for label, dimension in LABELS.items():
            gold = bool(row[label])
            if label in whole and (gold or dimension in fired):
                whole[label]["fn" if dimension not in fired else "tp" if gold else "fp"] += 1
            pred = bool(fired.get(dimension, set()) - OUTSIDE_GUIDELINE.get(label, frozenset()))
            if gold and pred:
                counts[label]["tp"] += 1
            elif pred:
                counts[label]["fp"] += 1
            elif gold:
                counts[label]["fn"] += 1
            if gold != pred:
                errors.append(
                    {
                        "id": row["id"],
                        "label": label,
                        "gold": gold,
                        "rules": sorted(fired.get(dimension, ())),
                        "text": row["text"],
                    }
                )
        if row["forbidden"] and row.get("paraphrase"):
            paraphrase["tp" if "forbidden_words" in fired else "fn"] += 1
    return {
        "split": split,
        "turns": len(rows),
        "sources": {s: sum(1 for r in rows if r["source"] == s) for s in sorted({r["source"] for r in rows})},
        "metrics": {label: prf_counts(**c) for label, c in counts.items()},
        "dimension_metrics": {
            label: {**prf_counts(**c), "outside_guideline": sorted(OUTSIDE_GUIDELINE[label])} for label, c in whole.items()
        },
        "paraphrase_recall": round(paraphrase["tp"] / max(1, paraphrase["tp"] + paraphrase["fn"]), 4),
        "paraphrases": paraphrase["tp"] + paraphrase["fn"],
        "ruleset": inspector.ruleset.version,
        "errors": errors,
    }


def _prf_row(label: str, m: dict[str, Any] | None, width: int) -> str:
    """One line of a precision / recall table; `m` None: the header."""
    if m is None:
        return f"{label:<{width}} {'precision':>9} {'recall':>7} {'f1':>6} {'tp':>4} {'fp':>4} {'fn':>4}"
    return f"{label:<{width}} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['tp']:>4} {m['fp']:>4} {m['fn']:>4}"


def format_rule_report(report: dict[str, Any], show_errors: bool = False) -> str:
    lines = [
        f"split {report['split']}: {report['turns']} agent turns {report['sources']}, ruleset {report['ruleset']}",
        _prf_row("label", None, 12),
    ]
    for label, m in report["metrics"].items():
        lines.append(_prf_row(label, m, 12))
    for label, m in report.get("dimension_metrics", {}).items():
        lines.append(
            _prf_row(label + "*", m, 12)
            + f"   * every rule of the dimension, with {', '.join(m['outside_guideline'])} (not counted by the labelling guideline)"
        )
    lines.append(f"forbidden paraphrases: recall {report['paraphrase_recall']:.3f} on {report['paraphrases']} turns")
    if show_errors:
        for e in report["errors"]:
            kind = "missed" if e["gold"] else f"false {','.join(e['rules'])}"
            lines.append(f"  {e['id']:<40} {e['label']:<10} {kind:<30} {e['text'][:80]}")
    return "\n".join(lines)


# --- false alarms of the forbidden-phrase rules on real JD agent turns (datasets/labelled/FALSE_ALARMS.md)

FA_SOURCES = ("jddc_replies", "chat_dev")
# The fresh held-out split `test2` (FALSE_ALARMS.md): agent messages of the train.enc context windows and
# the reference answers of the JDDC dev set, none in the splits above nor trained on.
FA_TEST2_SOURCES = ("jddc_context", "jddc_dev_refs")
# The STC-3 helpdesk turns (Weibo customer-service accounts; FALSE_ALARMS.md), by hash parity: `stc3_train`
# may be mined and tuned on, `test3` is the held-out half.
FA_STC3_SOURCES = ("stc3_helpdesk",)
FA_STC3_SPLITS = ("stc3_train", "test3")
FA_SPLITS = ("train", "test", "all", "test2", *FA_STC3_SPLITS)
# The engine each part of the false-alarm set was scanned with and labelled for; its false-alarm figures
# are recomputed from the labelled rows it hit, its labelled-set figures were printed by `qa-engine eval
# rules`. train / test / all: commit 9604c93 (forbidden pack 2026.11.3, forbidden_ngram threshold 0.63;
# rows without `found_by`; every forbidden rule of that engine was severity major or critical). test2: the
# engine it was built for, pack 2026.12.2 (rows found by it; its model-only hits are 疑似 minor).
FA_BASELINE: dict[str, Any] = {
    "engine": "9604c93 (forbidden pack 2026.11.3, forbidden_ngram threshold 0.63)",
    "labelled": {
        "test": {"precision": 0.9275, "recall": 0.9143, "f1": 0.9209, "tp": 64, "fp": 5, "fn": 6},
        "tune": {"precision": 0.973, "recall": 1.0, "f1": 0.9863, "tp": 72, "fp": 2, "fn": 0},
    },
}
FA_TEST2_BASELINE: dict[str, Any] = {
    "engine": "forbidden pack 2026.12.2 (forbidden_ngram threshold 0.57)",
    "labelled": {
        "test": {"precision": 0.8816, "recall": 0.9571, "f1": 0.9178, "tp": 67, "fp": 9, "fn": 3},
        "tune": {"precision": 0.96, "recall": 1.0, "f1": 0.9796, "tp": 72, "fp": 3, "fn": 0},
    },
}
# stc3_train / test3: the engine they were built for, the third change (pack 2026.12.2, threshold 0.78;
# rows found by it); its labelled figures as `qa-engine eval rules` printed them.
FA_STC3_BASELINE: dict[str, Any] = {
    "engine": "forbidden pack 2026.12.2 (forbidden_ngram threshold 0.78)",
    "labelled": {
        "test": {"precision": 0.9559, "recall": 0.9286, "f1": 0.942, "tp": 65, "fp": 3, "fn": 5},
        "tune": {"precision": 0.9863, "recall": 1.0, "f1": 0.9931, "tp": 72, "fp": 1, "fn": 0},
    },
}


def _fa_counts(turns: list[tuple[str, dict]], hit: set, labels: dict, major: set) -> dict[str, Any]:
    """turns: (source, turn); hit: (source, text_sha1) the engine flagged; labels: (source, text_sha1) -> label;
    major: the flagged turns with a finding of severity major or critical (not only 疑似 minor ones).
    A turn labelled not_agent (a customer message taken for the agent's, test2) is left out."""
    turns = [(s, t) for s, t in turns if labels.get((s, t["text_sha1"])) != "not_agent"]
    n = len(turns)
    flagged = [(s, t["text_sha1"]) for s, t in turns if (s, t["text_sha1"]) in hit]
    false = sum(labels.get(k) == "false_alarm" for k in flagged)
    false_major = sum(labels.get(k) == "false_alarm" and k in major for k in flagged)
    new = sum(k not in labels for k in flagged)
    violations = [(s, t["text_sha1"]) for s, t in turns if labels.get((s, t["text_sha1"])) == "violation"]
    return {
        "turns": n,
        "rows": sum(t["occurrences"] for _, t in turns),
        "hit_turns": len(flagged),
        "known_false": false,
        "new": new,
        "violations_found": sum(k in hit for k in violations),
        "violations": len(violations),
        "per_1000": round(1000 * false / n, 2) if n else 0.0,
        "known_false_major": false_major,
        "per_1000_major": round(1000 * false_major / n, 2) if n else 0.0,
        "per_1000_if_new_false": round(1000 * (false + new) / n, 2) if n else 0.0,
    }


def evaluate_false_alarms(inspector, split: str = "all", labelled_split: str | None = None) -> dict[str, Any]:
    """Forbidden-phrase hits of `inspector` on every distinct real JD agent turn of the false-alarm set
    (each as a one-turn chat, as datasets/labelled/false_alarms.py scans them), split `train`, `test`,
    `all` (train + test), the fresh `test2` (its own sources) or a half of the STC-3 helpdesk turns,
    `stc3_train` (may be mined) and `test3` (held out): per source the turns, hit turns, hits
    labelled false (known_false), hits on turns never labelled (`new`: read and label them,
    FALSE_ALARMS.md), labelled violations found, false flags per 1,000 distinct turns; the same for the
    engine that part was labelled for (FA_BASELINE, FA_TEST2_BASELINE, FA_STC3_BASELINE) from the labelled
    rows; and the forbidden precision / recall on the labelled set's `labelled_split` (default: `tune` for
    the splits that may be mined, train and stc3_train; `test` otherwise; `none` skips it)."""
    from qa_datasets.labelled.false_alarms import distinct_turns, false_alarm_split, scan
    from qa_datasets.labelled.fresh_false_alarms import test2_turns
    from qa_datasets.labelled.stc3_false_alarms import stc3_turns
    from qa_datasets.labelled_empathy_jd import load_false_alarms

    if split not in FA_SPLITS:
        raise ValueError(f"split {split!r} not in {', '.join(FA_SPLITS)}")
    labelled_split = labelled_split or ("tune" if split in ("train", "stc3_train") else "test")
    rows = load_false_alarms()
    labels = {(r["source"], r["text_sha1"]): r["label"] for r in rows}
    sources: tuple[str, ...]
    if split in ("test2", *FA_STC3_SPLITS):
        if split == "test2":
            sources, base, turns = FA_TEST2_SOURCES, FA_TEST2_BASELINE, test2_turns()
        else:
            sources, base, turns = FA_STC3_SOURCES, FA_STC3_BASELINE, stc3_turns(split)
        baseline_hit = {
            (r["source"], r["text_sha1"]) for r in rows if r.get("found_by") == base["engine"] and r["source"] in sources
        }
        baseline_major = {
            (r["source"], r["text_sha1"])
            for r in rows
            if r.get("found_by") == base["engine"]
            and r["source"] in sources
            and any(".model_" not in rule for rule in r["rule_ids"])
        }
    else:
        sources, base = FA_SOURCES, FA_BASELINE
        turns = {
            s: [t for t in items if split in ("all", false_alarm_split(t["text_sha1"]))] for s, items in distinct_turns().items()
        }
        baseline_hit = baseline_major = {(r["source"], r["text_sha1"]) for r in rows if "found_by" not in r}
    scan(turns, inspector)
    hit = {(s, t["text_sha1"]) for s, items in turns.items() for t in items if t["hits"]}
    major = {
        (s, t["text_sha1"]) for s, items in turns.items() for t in items if any(h[4] in ("major", "critical") for h in t["hits"])
    }
    report: dict[str, Any] = {
        "split": split,
        "ruleset": inspector.ruleset.version,
        "sources": {},
        "baseline": {},
        "baseline_engine": base["engine"],
        "new_hits": [],
    }
    for source in (*sources, "all"):
        part = [(s, t) for s in sources if source in (s, "all") for t in turns[s]]
        report["sources"][source] = _fa_counts(part, hit, labels, major)
        report["baseline"][source] = _fa_counts(part, baseline_hit, labels, baseline_major)
    for s in sources:
        for t in turns[s]:
            if (s, t["text_sha1"]) in hit and (s, t["text_sha1"]) not in labels:
                report["new_hits"].append(
                    {
                        "source": s,
                        "reference": t["reference"],
                        "text_sha1": t["text_sha1"],
                        "split": split if split in ("test2", *FA_STC3_SPLITS) else false_alarm_split(t["text_sha1"]),
                        "occurrences": t["occurrences"],
                        "rule_ids": sorted({h[0] for h in t["hits"]}),
                        "spans": [[h[0], h[1], h[2]] for h in t["hits"]],
                        "text": t["text"],
                    }
                )
    if labelled_split != "none":
        rules = evaluate_rules(inspector, labelled_split)
        report["labelled"] = {
            "split": labelled_split,
            "forbidden": rules["metrics"]["forbidden"],
            "paraphrase_recall": rules["paraphrase_recall"],
            "baseline": base["labelled"].get(labelled_split),
        }
    return report


def format_false_alarm_report(report: dict[str, Any], show_new: bool = True) -> str:
    lines = [
        f"false alarms of the forbidden rules, split {report['split']}, ruleset {report['ruleset']} "
        f"(one-turn chats of every distinct real agent turn of the split; datasets/labelled/FALSE_ALARMS.md)",
        f"{'engine':<9} {'source':<13} {'turns':>6} {'hits':>5} {'false':>6} {'new':>4} {'viol.':>6} "
        f"{'false/1000':>10} {'(new as false)':>14} {'major+/1000':>11}",
    ]
    for name, key in (("baseline", "baseline"), ("current", "sources")):
        for source, c in report[key].items():
            lines.append(
                f"{name:<9} {source:<13} {c['turns']:>6} {c['hit_turns']:>5} {c['known_false']:>6} {c['new']:>4} "
                f"{c['violations_found']:>3}/{c['violations']:<2} {c['per_1000']:>10.2f} {c['per_1000_if_new_false']:>14.2f} "
                f"{c['per_1000_major']:>11.2f}"
            )
    lines.append(
        f"baseline = {report['baseline_engine']}, from the labelled hits; false = hits labelled false alarm, "
        f"new = hits on turns never labelled (read and label them), viol. = labelled violations found, "
        f"major+ = false flags with a finding of severity major or critical (not only 疑似 minor)"
    )
    if "labelled" in report:
        lab = report["labelled"]
        m, b = lab["forbidden"], lab["baseline"]
        lines.append(
            f"labelled set, split {lab['split']}: forbidden P {m['precision']:.3f} R {m['recall']:.3f} "
            f"(tp {m['tp']} / fp {m['fp']} / fn {m['fn']}), paraphrase recall {lab['paraphrase_recall']:.3f}"
            + (f"; baseline P {b['precision']:.3f} R {b['recall']:.3f} (tp {b['tp']} / fp {b['fp']} / fn {b['fn']})" if b else "")
        )
    if show_new and report["new_hits"]:
        lines.append(f"new hits to label ({len(report['new_hits'])}): source, reference, text_sha1, split, rules, spans, text")
        for h in report["new_hits"]:
            spans = ";".join(f"{r}:{a}-{e}" for r, a, e in h["spans"])
            lines.append(
                "\t".join([h["source"], h["reference"], h["text_sha1"], h["split"], ",".join(h["rule_ids"]), spans, h["text"]])
            )
    return "\n".join(lines)


def evaluate_script(inspector, split: str = "test") -> dict[str, Any]:
    """Script-step detection on whole JD sessions labelled by hand (datasets/labelled/SCRIPT_STEPS.md):
    per step, precision and recall of "the step is present" over sessions, and the share of sessions
    whose every step is right (and whose required steps, per the chat scorecard, are right)."""
    from qa_datasets.script_set import STEPS, load_script_sessions, select

    sessions = select(load_script_sessions(), split)
    if not sessions:
        raise ValueError(f"no labelled sessions in split {split!r}")
    required = list(inspector.scorecards["chat"].script.required)
    counts = {step: {"tp": 0, "fp": 0, "fn": 0} for step in STEPS}
    all_right = required_right = 0
    errors = []
    items = [Interaction(interaction_id=f"jddc-{s['session_id']}", channel="chat", turns=s["turns"]) for s in sessions]
    for s, result in zip(sessions, inspector.inspect_many(items), strict=True):
        if isinstance(result, Exception):
            raise result
        found = result.script.steps
        wrong = []
        for step in STEPS:
            gold, pred = s["present"][step], bool(found.get(step) and found[step].present)
            if gold and pred:
                counts[step]["tp"] += 1
            elif pred:
                counts[step]["fp"] += 1
            elif gold:
                counts[step]["fn"] += 1
            if gold != pred:
                wrong.append(step)
                errors.append(
                    {
                        "session": s["session_id"],
                        "step": step,
                        "gold": s["steps"][step],
                        "found_turn": found[step].turn if pred else None,
                    }
                )
        all_right += not wrong
        required_right += not set(wrong) & set(required)
    n = len(sessions)
    return {
        "split": split,
        "sessions": n,
        "metrics": {step: prf_counts(**c) for step, c in counts.items()},
        "all_steps_right": round(all_right / n, 4),
        "required_steps": required,
        "required_steps_right": round(required_right / n, 4),
        "ruleset": inspector.ruleset.version,
        "errors": errors,
    }


def format_script_report(report: dict[str, Any], show_errors: bool = False) -> str:
    lines = [
        f"split {report['split']}: {report['sessions']} JD sessions, ruleset {report['ruleset']}",
        _prf_row("step", None, 14),
    ]
    for step, m in report["metrics"].items():
        lines.append(_prf_row(step, m, 14))
    lines.append(
        f"sessions with every step right: {report['all_steps_right']:.3f}; "
        f"with the required steps ({', '.join(report['required_steps'])}) right: {report['required_steps_right']:.3f}"
    )
    if show_errors:
        for e in report["errors"]:
            kind = f"missed (rows {e['gold']})" if e["gold"] else f"false (row {e['found_turn']})"
            lines.append(f"  {e['session']:<40} {e['step']:<14} {kind}")
    return "\n".join(lines)


# --- empathy on real JD agent turns (datasets/labelled/EMPATHY_JD.md, issue 14 point 3)

EMPATHY_LEXICON_RULES = frozenset({"empathy.phrase", "empathy.apology_pattern", "empathy.soothing"})


# The engine before issue 14 point 3 (main at eb5b303: empathy pack 2026.11.2 without the forbidden
# veto, models/empathy_ngram trained on written formulas only, threshold 0.30), measured by
# `qa-engine eval empathy --before <a checkout of eb5b303>` (the lexicon row: its phrase rules alone).
def _m(p: float, r: float, f: float, tp: int, fp: int, fn: int, taboo: int, taboo_hits: int, both: int) -> dict[str, Any]:
    return {
        "precision": p,
        "recall": r,
        "f1": f,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "taboo_turns": taboo,
        "taboo_hits": taboo_hits,
        "forbidden_and_empathy": both,
    }


EMPATHY_BEFORE: dict[str, Any] = {
    "engine": "eb5b303 (empathy pack 2026.11.2, empathy_ngram threshold 0.30; recorded)",
    "dev": {
        "lexicon": _m(0.7037, 0.623, 0.6609, 38, 16, 23, 89, 7, 8),
        "engine": _m(0.5616, 0.6721, 0.6119, 41, 32, 20, 89, 18, 19),
    },
    "test": {
        "lexicon": _m(0.8261, 0.5846, 0.6847, 38, 8, 27, 97, 4, 5),
        "engine": _m(0.625, 0.6154, 0.6202, 40, 24, 25, 97, 13, 17),
    },
}


def is_taboo(row: dict) -> bool:
    """A row of the empathy set that is a 服务禁语 by GUIDELINE.md: the reused written forbidden turns and
    the written hard negatives that are rude, curt or an improper promise (their `note` says which)."""
    if "taboo" in row:  # labelled as such (the Weibo set, WEIBO.md)
        return bool(row["taboo"])
    note = row.get("note", "")
    return row["kind"] == "forbidden_written" or (
        row["kind"] == "written_hard_negative"
        and (note.startswith("rude or curt") or "taboo" in note or note == "improper promise")
    )


def empathy_predictions(inspector, texts: Sequence[str]) -> list[dict[str, bool]]:
    """Per agent turn scored on its own: any empathy hit (`engine`), a hit of the phrase rules
    (`lexicon`), any forbidden hit (`forbidden`)."""
    out = []
    for fired in predict_turns(inspector, texts):
        empathy = fired.get("empathy", set()) - {"empathy.missing_when_upset"}
        out.append(
            {
                "engine": bool(empathy),
                "lexicon": bool(empathy & EMPATHY_LEXICON_RULES),
                "forbidden": bool(fired.get("forbidden_words")),
            }
        )
    return out


def _empathy_rows(preds: list[dict], rows: list[dict], key: str) -> dict[str, Any]:
    gold = [r["empathy"] for r in rows]
    pred = [p[key] for p in preds]
    m = prf(gold, pred)
    taboo = [p for p, r in zip(pred, rows) if is_taboo(r)]
    m["taboo_turns"], m["taboo_hits"] = len(taboo), sum(taboo)
    m["forbidden_and_empathy"] = sum(p[key] and p["forbidden"] for p in preds)
    return m


EMPATHY_YARDSTICKS = ("jd", "weibo")


def evaluate_empathy(inspector, splits: Sequence[str] = ("dev", "test"), before=None, yardstick: str = "jd") -> dict[str, Any]:
    """Empathy precision / recall / F1 of `inspector` on an empathy set (each agent turn as a one-turn
    chat): `jd` the in-domain JD set (EMPATHY_JD.md), `weibo` the Weibo helpdesk set (WEIBO.md). The whole
    engine (any empathy hit) and its phrase rules alone (the lexicon baseline); empathy hits on the set's
    服务禁语 turns (is_taboo); turns where the engine raised a forbidden and an empathy hit. `before`: an
    engine to measure beside it (else, on the JD set, EMPATHY_BEFORE's recorded figures)."""
    if yardstick not in EMPATHY_YARDSTICKS:
        raise ValueError(f"unknown empathy yardstick {yardstick!r}; known: {', '.join(EMPATHY_YARDSTICKS)}")
    if yardstick == "weibo":
        from qa_datasets.weibo import load_empathy_weibo

        rows = load_empathy_weibo()
    else:
        from qa_datasets.labelled_empathy_jd import load_empathy_jd

        rows = load_empathy_jd()
    report: dict[str, Any] = {"ruleset": inspector.ruleset.version, "yardstick": yardstick, "splits": {}}
    engines = {"after": inspector, **({"before": before} if before is not None else {})}
    for split in splits:
        part = [r for r in rows if r["split"] == split]
        if not part:
            raise ValueError(f"no empathy turns in split {split!r}")
        entry: dict[str, Any] = {
            "turns": len(part),
            "empathy": sum(r["empathy"] for r in part),
            "taboo": sum(map(is_taboo, part)),
        }
        for name, engine in engines.items():
            preds = empathy_predictions(engine, [r["text"] for r in part])
            entry[name] = {"lexicon": _empathy_rows(preds, part, "lexicon"), "engine": _empathy_rows(preds, part, "engine")}
        if before is None and yardstick == "jd" and split in EMPATHY_BEFORE:
            entry["before"] = EMPATHY_BEFORE[split]
        report["splits"][split] = entry
    recorded = EMPATHY_BEFORE["engine"] if yardstick == "jd" else "none recorded"
    report["before_engine"] = recorded if before is None else f"live: {before.ruleset.version}"
    return report


def format_empathy_report(report: dict[str, Any]) -> str:
    lines = [
        f"empathy on real {'Weibo helpdesk (datasets/labelled/WEIBO.md)' if report.get('yardstick') == 'weibo' else 'JD (datasets/labelled/EMPATHY_JD.md)'} "
        f"agent turns, ruleset {report['ruleset']}; "
        f"before = {report['before_engine']}"
    ]
    head = (
        f"{'split':<5} {'approach':<34} {'precision':>9} {'recall':>7} {'f1':>6} {'tp':>4} {'fp':>4} {'fn':>4} "
        f"{'taboo hits':>10} {'forb.+emp.':>10}"
    )
    lines.append(head)
    for split, e in report["splits"].items():
        for name, label in (("before", "lexicon only"), ("before", "engine"), ("after", "lexicon only"), ("after", "engine")):
            m = e.get(name, {}).get("lexicon" if label == "lexicon only" else "engine")
            if m is None:
                continue
            lines.append(
                f"{split:<5} {f'{name}: {label}':<34} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} "
                f"{m['tp']:>4} {m['fp']:>4} {m['fn']:>4} {m['taboo_hits']:>4}/{m['taboo_turns']:<5} "
                f"{m['forbidden_and_empathy']:>10}"
            )
        lines.append(f"{split:<5} {e['turns']} turns, {e['empathy']} empathy, {e['taboo']} 服务禁语 turns")
    lines.append(
        "taboo hits = empathy hits on the set's 服务禁语 turns (written forbidden turns, rude / curt / improper-promise "
        "hard negatives); forb.+emp. = turns where the engine raised both a forbidden and an empathy hit"
    )
    return "\n".join(lines)
