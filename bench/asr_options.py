"""CER and real-time factor of each decoding option on the test calls (stereo and mono).

Every variant is the default settings plus the overrides below. All transcribers are loaded first;
each round then runs every variant over the three calls in both modes (`qa-engine eval asr`'s
evaluation), variants taking turns so that machine load drifts over all of them alike. CER is the
character-weighted mean of the calls (the decoding is deterministic, so it is the same each round);
RTF = best round's transcription seconds / audio seconds, per mode. Role accuracy, the 7 s silence
of call_bad and the interruption of call_mixed are checked in every row.
Run: flock /tmp/qa-bench.lock .venv/bin/python bench/asr_options.py [--repeat 3] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa_engine.asr.audio import probe  # noqa: E402
from qa_engine.asr.evaluate import evaluate_calls  # noqa: E402
from qa_engine.asr.transcribe import WhisperTranscriber  # noqa: E402
from qa_engine.config import Settings  # noqa: E402

# Overrides of the current defaults (qa_engine/config.py). The names say what each one sets.
BEFORE = {"asr_beam_size": 5, "asr_stereo_pack": "none", "asr_batch_size": 0}  # the defaults before issue 4's speed work
VARIANTS = {
    "default": {},
    "previous default (beam 5, channels apart)": BEFORE,
    "+ hot-word prompt": {**BEFORE, "asr_hotword_prompt": True},
    "VAD off": {**BEFORE, "asr_vad": False},
    "beam 4": {**BEFORE, "asr_beam_size": 4},
    "beam 3": {**BEFORE, "asr_beam_size": 3},
    "beam 2": {**BEFORE, "asr_beam_size": 2},
    "beam 1 (greedy)": {**BEFORE, "asr_beam_size": 1},
    "beam 5, packed stereo (time order)": {**BEFORE, "asr_stereo_pack": "time"},
    "beam 5, packed stereo (channel order)": {**BEFORE, "asr_stereo_pack": "channel"},
    "beam 3, packed stereo (time order)": {**BEFORE, "asr_beam_size": 3, "asr_stereo_pack": "time"},
    "beam 2, packed stereo (time order)": {**BEFORE, "asr_beam_size": 2, "asr_stereo_pack": "time"},
    "beam 5, without_timestamps": {**BEFORE, "asr_without_timestamps": True},
    "beam 5, 2 workers x 1 thread (channels in parallel)": {**BEFORE, "asr_workers": 2, "asr_threads": 1},
    "beam 5, batched pipeline (batch 8)": {**BEFORE, "asr_batch_size": 8},
    "beam 4, batched pipeline (batch 8)": {**BEFORE, "asr_beam_size": 4, "asr_batch_size": 8},
    "beam 3, batched pipeline (batch 8)": {**BEFORE, "asr_beam_size": 3, "asr_batch_size": 8},
    "beam 5, packed (time), batched (batch 8)": {**BEFORE, "asr_stereo_pack": "time", "asr_batch_size": 8},
    "beam 5, batched (batch 8), both channels in one batch": {**BEFORE, "asr_stereo_pack": "channel", "asr_batch_size": 8},
    "beam 4, batched (batch 8), both channels in one batch": {**BEFORE, "asr_beam_size": 4, "asr_stereo_pack": "channel", "asr_batch_size": 8},
    "beam 3, batched (batch 8), both channels in one batch": {**BEFORE, "asr_beam_size": 3, "asr_stereo_pack": "channel", "asr_batch_size": 8},
}
# CTranslate2 picks its GEMM library once per process (oneDNN on this AMD CPU, MKL on Intel ones);
# the MKL row of docs/benchmarks.md ran in a process of its own:
#   CT2_USE_MKL=1 .venv/bin/python bench/asr_options.py --repeat 1 --only "previous default"


class Timed:
    """A transcriber that records how long each file took, by mode."""

    def __init__(self, transcriber: WhisperTranscriber) -> None:
        self.inner = transcriber
        self.seconds: dict[str, float] = {}

    def transcribe(self, path: Path, **kw):
        t0 = time.perf_counter()
        item = self.inner.transcribe(path, **kw)
        mode = path.name.rsplit(".", 2)[-2]
        self.seconds[mode] = self.seconds.get(mode, 0.0) + time.perf_counter() - t0
        return item


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="variant names (exact, else substrings) to run")
    ap.add_argument("--calls", type=Path, default=Settings().shared_dir / "audio" / "calls")
    args = ap.parse_args()
    exact = [o for o in args.only or [] if o in VARIANTS]
    variants = {k: v for k, v in VARIANTS.items() if not args.only or k in exact or any(o in k for o in args.only if o not in exact)}
    audio = {m: sum(probe(f).duration or 0 for f in args.calls.glob(f"*.{m}.wav")) for m in ("stereo", "mono")}
    timed = {name: Timed(WhisperTranscriber(Settings(**o))) for name, o in variants.items()}
    for t in timed.values():
        t.inner.transcribe(next(args.calls.glob("*.mono.wav")))  # warm-up
    best: dict[str, dict[str, float]] = {n: {} for n in variants}
    loads: dict[str, list[str]] = {n: [] for n in variants}
    rows = {}
    for r in range(args.repeat):
        for name, t in timed.items():
            t.seconds = {}
            rows[name] = evaluate_calls(args.calls, t)
            loads[name].append(load())
            for m, s in t.seconds.items():
                best[name][m] = min(best[name].get(m, float("inf")), s)
            print(f"  round {r + 1} {name}: " + ", ".join(f"{m} {s:.2f} s" for m, s in t.seconds.items()) + f" (load {loads[name][-1]})", flush=True)
    print(f"\naudio: stereo {audio['stereo']:.1f} s, mono {audio['mono']:.1f} s; RTF best of {args.repeat}")
    print(f"{'variant':<52} {'mode':<7} {'CER':>6} {'RTF':>6}  roles  silence/overlap found  per-call CER   load (1/5/15 min, each round)")
    for name in variants:
        for m in ("stereo", "mono"):
            mine = [r for r in rows[name] if r["mode"] == m]
            chars = sum(r["ref_chars"] for r in mine)
            cer = sum(r["cer"] * r["ref_chars"] for r in mine) / chars
            roles = sum(r["role_accuracy"] * r["ref_chars"] for r in mine) / chars
            found = "".join(("S" if r["silence_found"] else "-") + ("O" if r["overlap_found"] else "-") for r in mine)
            per = " ".join(f"{r['call'][5:]} {r['cer']:.3f}" for r in mine)
            rtf = best[name][m] / audio[m]
            print(f"{name:<52} {m:<7} {cer:>6.3f} {rtf:>6.3f}  {roles:.3f}  {found:<20}  {per}   {' '.join(loads[name])}")


if __name__ == "__main__":
    main()
