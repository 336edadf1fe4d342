"""CER of each decoding option on the test calls (stereo and mono), to justify the defaults.
Run: .venv/bin/python bench/asr_options.py"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa_engine.asr.evaluate import evaluate_calls  # noqa: E402
from qa_engine.asr.transcribe import Transcriber  # noqa: E402
from qa_engine.config import Settings  # noqa: E402

VARIANTS = {
    "default (beam 5, VAD, no prompt)": {},
    "+ hot-word prompt": {"asr_hotword_prompt": True},
    "VAD off": {"asr_vad": False},
    "beam 1": {"asr_beam_size": 1},
}


def main() -> None:
    calls = Settings().shared_dir / "audio" / "calls"
    print(f"{'variant':<34} {'mode':<7} {'mean CER':>8}  per call")
    for name, overrides in VARIANTS.items():
        rows = evaluate_calls(calls, Transcriber(Settings(**overrides)))
        for mode in ("stereo", "mono"):
            mine = [r for r in rows if r["mode"] == mode]
            total_chars = sum(r["ref_chars"] for r in mine)
            weighted = sum(r["cer"] * r["ref_chars"] for r in mine) / total_chars
            print(f"{name:<34} {mode:<7} {weighted:>8.3f}  " + ", ".join(f"{r['call']} {r['cer']:.3f}" for r in mine))


if __name__ == "__main__":
    main()
