"""Real-time factor of transcription on 2 CPU threads: int8 against float32, same process.

RTF = processing seconds / audio seconds (lower is faster). Stereo calls are transcribed channel by
channel, so their RTF covers both parties. The transformers Whisper pipeline is not compared: the
embedded model exists only as a CTranslate2 conversion (model.bin), which transformers cannot load,
and no Hugging Face-format Whisper weights are installable offline (see docs/benchmarks.md).
Run: .venv/bin/python bench/asr.py [--threads 2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa_engine.asr.audio import probe  # noqa: E402
from qa_engine.asr.transcribe import WhisperTranscriber  # noqa: E402
from qa_engine.config import Settings  # noqa: E402


def measure(compute_type: str, threads: int, files: list[Path], repeat: int) -> tuple[float, float]:
    settings = Settings(asr_compute_type=compute_type, asr_threads=threads)
    transcriber = WhisperTranscriber(settings)
    transcriber.transcribe(files[0])  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for f in files:
            transcriber.transcribe(f)
        best = min(best, time.perf_counter() - t0)
    audio = sum(probe(f).duration or 0 for f in files)
    return best, audio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--calls", type=Path, default=Settings().shared_dir / "audio" / "calls")
    args = ap.parse_args()
    for mode in ("stereo", "mono"):
        files = sorted(args.calls.glob(f"*.{mode}.wav"))
        results = {ct: measure(ct, args.threads, files, args.repeat) for ct in ("int8", "float32")}
        audio = results["int8"][1]
        line = [f"{mode}: {len(files)} files, {audio:.1f} s audio, {args.threads} threads"]
        for ct, (secs, _) in results.items():
            line.append(f"{ct} {secs:.2f} s, RTF {secs / audio:.3f}")
        line.append(f"int8 speed-up over float32: {results['float32'][0] / results['int8'][0]:.2f}x")
        print(" | ".join(line))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
