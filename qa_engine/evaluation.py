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


def predict_turn(inspector, text: str) -> dict[str, set[str]]:
    """Dimension -> rule ids that fired on one agent turn scored on its own."""
    item = Interaction(interaction_id="eval", channel="chat", turns=[{"role": "agent", "text": text}])
    fired: dict[str, set[str]] = {}
    for hit in inspector.inspect(item).hits:
        if hit.turn == 0:
            fired.setdefault(hit.dimension, set()).add(hit.rule_id)
    return fired


def evaluate_rules(inspector, split: str = "test") -> dict[str, Any]:
    from qa_datasets.labelled_set import load_labelled, select

    rows = select(load_labelled(), split)
    if not rows:
        raise ValueError(f"no labelled turns in split {split!r}")
    counts = {label: {"tp": 0, "fp": 0, "fn": 0} for label in LABELS}
    whole = {label: {"tp": 0, "fp": 0, "fn": 0} for label in OUTSIDE_GUIDELINE}
    paraphrase = {"tp": 0, "fn": 0}
    errors = []
    for row in rows:
        fired = predict_turn(inspector, row["text"])
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
                errors.append({"id": row["id"], "label": label, "gold": gold, "rules": sorted(fired.get(dimension, ())), "text": row["text"]})
        if row["forbidden"] and row.get("paraphrase"):
            paraphrase["tp" if "forbidden_words" in fired else "fn"] += 1
    return {
        "split": split,
        "turns": len(rows),
        "sources": {s: sum(1 for r in rows if r["source"] == s) for s in sorted({r["source"] for r in rows})},
        "metrics": {label: prf_counts(**c) for label, c in counts.items()},
        "dimension_metrics": {label: {**prf_counts(**c), "outside_guideline": sorted(OUTSIDE_GUIDELINE[label])}
                              for label, c in whole.items()},
        "paraphrase_recall": round(paraphrase["tp"] / max(1, paraphrase["tp"] + paraphrase["fn"]), 4),
        "paraphrases": paraphrase["tp"] + paraphrase["fn"],
        "ruleset": inspector.ruleset.version,
        "errors": errors,
    }


def format_rule_report(report: dict[str, Any], show_errors: bool = False) -> str:
    lines = [
        f"split {report['split']}: {report['turns']} agent turns {report['sources']}, ruleset {report['ruleset']}",
        f"{'label':<12} {'precision':>9} {'recall':>7} {'f1':>6} {'tp':>4} {'fp':>4} {'fn':>4}",
    ]
    for label, m in report["metrics"].items():
        lines.append(f"{label:<12} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['tp']:>4} {m['fp']:>4} {m['fn']:>4}")
    for label, m in report.get("dimension_metrics", {}).items():
        lines.append(f"{label + '*':<12} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['tp']:>4} {m['fp']:>4} {m['fn']:>4}"
                     f"   * every rule of the dimension, with {', '.join(m['outside_guideline'])} (not counted by the labelling guideline)")
    lines.append(f"forbidden paraphrases: recall {report['paraphrase_recall']:.3f} on {report['paraphrases']} turns")
    if show_errors:
        for e in report["errors"]:
            kind = "missed" if e["gold"] else f"false {','.join(e['rules'])}"
            lines.append(f"  {e['id']:<40} {e['label']:<10} {kind:<30} {e['text'][:80]}")
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
    for s in sessions:
        item = Interaction(interaction_id=f"jddc-{s['session_id']}", channel="chat", turns=s["turns"])
        found = inspector.inspect(item).script.steps
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
                errors.append({"session": s["session_id"], "step": step, "gold": s["steps"][step],
                               "found_turn": found[step].turn if pred else None})
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
        f"{'step':<14} {'precision':>9} {'recall':>7} {'f1':>6} {'tp':>4} {'fp':>4} {'fn':>4}",
    ]
    for step, m in report["metrics"].items():
        lines.append(f"{step:<14} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['tp']:>4} {m['fp']:>4} {m['fn']:>4}")
    lines.append(f"sessions with every step right: {report['all_steps_right']:.3f}; "
                 f"with the required steps ({', '.join(report['required_steps'])}) right: {report['required_steps_right']:.3f}")
    if show_errors:
        for e in report["errors"]:
            kind = f"missed (rows {e['gold']})" if e["gold"] else f"false (row {e['found_turn']})"
            lines.append(f"  {e['session']:<40} {e['step']:<14} {kind}")
    return "\n".join(lines)
