"""`qa-engine eval asr`: transcription quality on the synthetic test calls with ground truth.

Per call and mode (stereo, mono): character error rate (punctuation and spaces ignored, Traditional
→ Simplified, Arabic digits written as Chinese digits, as in ../shared/audio/calls/README.md), role
accuracy (share of reference characters whose time falls in a hypothesis turn of the right role),
and the silences and interruptions the engine finds next to the ones in the ground truth.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from qa_engine import timing
from qa_engine.schema import Interaction
from qa_engine.text.normalize import to_simplified

_IGNORED = re.compile(r"[\s\W_]+", re.UNICODE)
_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")


def cer_text(text: str) -> str:
    return _IGNORED.sub("", to_simplified(text).translate(_DIGITS)).lower()


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = cer_text(reference), cer_text(hypothesis)
    return edit_distance(ref, hyp) / max(1, len(ref))


def role_accuracy(truth: Interaction, hyp: Interaction) -> float:
    """Share of reference speech time covered by a hypothesis turn with the same role."""
    total = right = 0.0
    for ref in truth.turns:
        ref_start, ref_end = timing.span(ref)
        total += ref_end - ref_start
        for h in hyp.turns:
            h_start, h_end = timing.span(h)
            overlap = min(ref_end, h_end) - max(ref_start, h_start)
            if overlap > 0 and h.role == ref.role:
                right += overlap
    return right / total if total else 0.0


def _gaps(item: Interaction, min_seconds: float) -> list[tuple[float, float]]:
    return [(round(g.start, 2), round(g.end, 2)) for g in timing.gaps(item.turns) if g.seconds > min_seconds]


def _overlaps(item: Interaction, min_seconds: float) -> list[tuple[float, float]]:
    return [(round(o.start, 2), round(o.end, 2)) for o in timing.overlaps(item.turns) if o.seconds > min_seconds]


def evaluate_calls(calls_dir: Path, transcriber, inspector=None) -> list[dict[str, Any]]:
    rows = []
    for truth_path in sorted(calls_dir.glob("*.json")):
        truth = Interaction.model_validate(json.loads(truth_path.read_text(encoding="utf-8")))
        for mode in ("stereo", "mono"):
            audio = calls_dir / f"{truth_path.stem}.{mode}.wav"
            if not audio.is_file():
                continue
            hyp = transcriber.transcribe(audio, interaction_id=truth.interaction_id, agent_id=truth.agent_id)
            row: dict[str, Any] = {
                "call": truth_path.stem,
                "mode": mode,
                "ref_chars": len(cer_text("".join(t.text for t in truth.turns))),
                "cer": round(cer("".join(t.text for t in truth.turns), "".join(t.text for t in hyp.turns)), 3),
                "role_accuracy": round(role_accuracy(truth, hyp), 3),
                "turns": f"{len(hyp.turns)}/{len(truth.turns)}",
                "silence_truth": _gaps(truth, 5.0),
                "silence_found": _gaps(hyp, 5.0),
                "overlap_truth": _overlaps(truth, 0.3),
                "overlap_found": _overlaps(hyp, 0.3),
            }
            if mode == "stereo":
                for role in ("agent", "customer"):
                    row[f"cer_{role}"] = round(
                        cer(
                            "".join(t.text for t in truth.turns if t.role == role),
                            "".join(t.text for t in hyp.turns if t.role == role),
                        ),
                        3,
                    )
            if inspector is not None:
                result = inspector.inspect(hyp)
                row["forbidden_found"] = sorted({h.text for h in result.hits if h.dimension == "forbidden_words"})
                row["flag"] = result.flag
            rows.append(row)
    return rows


def format_asr_report(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'call':<11} {'mode':<7} {'CER':>6} {'agent':>6} {'cust':>6} {'roles':>6} {'turns':>6}  silence>5s truth/found  overlap>0.3s truth/found"
    ]
    for r in rows:
        lines.append(
            f"{r['call']:<11} {r['mode']:<7} {r['cer']:>6.3f} {r.get('cer_agent', float('nan')):>6.3f} {r.get('cer_customer', float('nan')):>6.3f} "
            f"{r['role_accuracy']:>6.3f} {r['turns']:>6}  {r['silence_truth']} / {r['silence_found']}  {r['overlap_truth']} / {r['overlap_found']}"
        )
    return "\n".join(lines)
