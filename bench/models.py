"""Emotion models: sentences/s in onnxruntime against torch eager, same weights, same sentences, same run;
and peak memory (RSS) of a scoring process per emotion scorer.

Sentences: the turns of the 800 real JD chat sessions (../shared/datasets/jddc_chat_sample). Both
paths do the same work per batch (the served classifier's length-sorted batches, 128 for the LSTM and
64 for e5, the model's own preprocessing, softmax and combine of the heads); only the forward pass
differs. onnxruntime runs as served (OnnxEmotionClassifier: for the LSTM, 1 onnxruntime thread per
batch and `--threads` batches at once; for e5, `--threads` intra-op threads), torch eager with
torch.set_num_threads(--threads). Every turn is computed (no cache, no dedupe). The torch model is rebuilt from model.onnx's
initializers (training.train_lstm.load_torch_from_onnx; its outputs are checked against onnxruntime); the e5
transformer's torch model is the fp32 checkpoint its quantised graph was exported from (build/emotion_e5_hf),
on the first E5_TURNS turns.
Memory: a child process per scorer builds the engine (Inspector) with that scorer and scores the 800
sessions; its peak RSS is reported, the lexicon scorer being the baseline.
One function per model (bench_lstm, ...); each returns a row for the table.
Run: .venv/bin/python bench/models.py [--threads 2] [--repeat 3] [--limit 5000] [--models lstm,e5]
     [--scorers lexicon,lstm,transformer]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa_datasets.jddc import load_sessions  # noqa: E402
from qa_engine.config import Settings  # noqa: E402
from qa_engine.ml.emotion_onnx import OnnxEmotionClassifier, combine, softmax  # noqa: E402



def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds of this process). CPU time is what the run cost on a
    machine shared with other jobs, where wall time also counts waiting for a core."""
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def jd_turns(limit: int | None = None) -> list[str]:
    from qa_engine.text.normalize import normalize

    turns = [normalize(t["text"]).text for s in load_sessions() for t in s["turns"]]
    return turns[:limit] if limit else turns


def torch_predict(model, clf: OnnxEmotionClassifier, texts: Sequence[str]) -> list:
    """OnnxEmotionClassifier.predict with the forward pass in torch eager instead of onnxruntime
    (the same batches and preprocessing: clf._batches, clf.encode_batch)."""
    import torch

    p5 = np.zeros((len(texts), len(clf.labels)), dtype=np.float32)
    p3 = np.zeros((len(texts), len(clf.polarities)), dtype=np.float32)
    with torch.inference_mode():
        for idx, items in clf._batches(texts, clf.batch_size):
            feed = clf.encode_batch(items)
            emo, pol = model(*(torch.from_numpy(feed[k]) for k in clf.config["inputs"]))
            p5[idx], p3[idx] = softmax(emo.numpy()), softmax(pol.numpy())
    return combine(p5, p3, clf.labels, clf.polarities, clf.polarity_of, clf.mix)


def ort_vs_torch(name: str, clf: OnnxEmotionClassifier, model, texts: list[str], threads: int, repeat: int) -> dict:
    """Sentences/s of the served graph and of the torch module on the same texts (best of `repeat`)."""
    ort_out, torch_out = clf.predict(texts[:512]), torch_predict(model, clf, texts[:512])  # warm-up + check
    agree = sum(a[:2] == b[:2] for a, b in zip(ort_out, torch_out)) / len(ort_out)
    max_diff = max(abs(a[2] - b[2]) for a, b in zip(ort_out, torch_out))
    ort_s, ort_cpu = best_of(repeat, lambda: clf.predict(texts))
    torch_s, torch_cpu = best_of(repeat, lambda: torch_predict(model, clf, texts))
    n = len(texts)
    return {"model": name, "threads": threads, "sentences": n, "batch": clf.batch_size, "parallel": clf.parallel,
            "ort_sentences_per_s": round(n / ort_s), "torch_sentences_per_s": round(n / torch_s),
            "ort_over_torch": round(torch_s / ort_s, 2),
            "ort_sentences_per_cpu_s": round(n / ort_cpu), "torch_sentences_per_cpu_s": round(n / torch_cpu),
            "ort_over_torch_cpu": round(torch_cpu / ort_cpu, 2),
            "label_agreement": agree, "max_confidence_diff": max_diff}


def bench_lstm(texts: list[str], settings: Settings, threads: int, repeat: int) -> dict:
    import torch

    from training.train_lstm import load_torch_from_onnx

    model_dir = settings.models_dir / "emotion_lstm"
    torch.set_num_threads(threads)
    clf = OnnxEmotionClassifier(model_dir, threads=threads)
    return ort_vs_torch("emotion_lstm", clf, load_torch_from_onnx(model_dir), texts, threads, repeat)


E5_TURNS = 1000  # the transformer is far slower than the LSTM: the first 1,000 turns keep the run to minutes


def bench_e5(texts: list[str], settings: Settings, threads: int, repeat: int) -> dict:
    """Fine-tuned e5: the served (quantised) graph against torch eager on the fp32 checkpoint it was
    exported from (build/emotion_e5_hf, written by training.train_e5_emotion; not committed)."""
    import torch

    from training.train_e5_emotion import load_model

    ckpt = Path(__file__).resolve().parents[1] / "build" / "emotion_e5_hf"
    if not (ckpt / "emotion_e5.pt").is_file():
        return {"model": "emotion_e5", "error": f"{ckpt} missing; rebuild: .venv/bin/python -m "
                                                "training.train_e5_emotion --out models/emotion_e5"}
    torch.set_num_threads(threads)
    clf = OnnxEmotionClassifier(settings.models_dir / "emotion_e5", threads=threads)
    model = load_model(ckpt, heads=ckpt / "emotion_e5.pt").eval()
    return ort_vs_torch("emotion_e5", clf, model, texts[:E5_TURNS], threads, repeat)


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). ru_maxrss is not used: on Linux a child started by fork +
    exec keeps the parent's high-water mark (the benchmark process, with torch loaded)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(scorer: str) -> None:
    """Runs in a child process: score the 800 sessions with `scorer`, print peak RSS (MB) as JSON."""
    from qa_engine.engine import Inspector
    from qa_engine.schema import Interaction

    items = [Interaction.model_validate(s) for s in load_sessions()]
    inspector = Inspector(Settings(emotion_scorer=scorer))
    t0 = time.perf_counter()
    for result in inspector.inspect_many(items):  # as `qa-engine score` streams them
        result.model_dump_json()
    seconds = time.perf_counter() - t0
    print(json.dumps({"scorer": scorer, "peak_rss_mb": round(peak_rss_mb()), "sessions_per_s": round(len(items) / seconds)}))


def scoring_memory(scorers: Sequence[str], threads: int) -> list[dict]:
    rows = []
    for scorer in scorers:
        proc = subprocess.run([sys.executable, __file__, "--rss-child", scorer], capture_output=True, text=True,
                              env={**os.environ, "QA_ONNX_THREADS": str(threads)})
        if proc.returncode != 0:
            rows.append({"scorer": scorer, "error": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]})
        else:
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="first N turns only")
    ap.add_argument("--models", default="lstm,e5", help="comma-separated: lstm, e5")
    ap.add_argument("--scorers", default="lexicon,lstm,transformer",
                    help="scoring processes whose peak RSS is measured (comma-separated; empty: none)")
    ap.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    settings = Settings()
    texts = jd_turns(args.limit)
    print(f"{len(texts)} turns, mean {np.mean([len(t) for t in texts]):.1f} characters, {args.threads} threads, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start")
    benches = {"lstm": bench_lstm, "e5": bench_e5}
    for bench in (benches[m] for m in args.models.split(",") if m):
        row = bench(texts, settings, args.threads, args.repeat)
        if "error" in row:
            print(f"{row['model']}: skipped: {row['error']}")
            continue
        print(f"{row['model']}: onnxruntime {row['ort_sentences_per_s']:,} sentences/s, torch eager "
              f"{row['torch_sentences_per_s']:,} sentences/s -> onnxruntime / torch {row['ort_over_torch']:.2f}x "
              f"on {row['sentences']:,} turns, batch {row['batch']}, parallel={row['parallel']} (same labels on {row['label_agreement']:.1%} of 512 checked, max |Δconfidence| {row['max_confidence_diff']:.1e})")
        print(f"{row['model']}: per CPU-second of this process: onnxruntime {row['ort_sentences_per_cpu_s']:,}, torch eager "
              f"{row['torch_sentences_per_cpu_s']:,} -> {row['ort_over_torch_cpu']:.2f}x")
    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other jobs slow the wall-clock figures)")
    print(f"peak RSS of this benchmark process (torch loaded): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    for row in scoring_memory([x for x in args.scorers.split(",") if x], args.threads):
        if "error" in row:
            print(f"scoring process, emotion_scorer={row['scorer']}: failed: {row['error']}")
        else:
            print(f"scoring process, emotion_scorer={row['scorer']}: peak RSS {row['peak_rss_mb']} MB, "
                  f"{row['sessions_per_s']} sessions/s (800 JD sessions, full scoring)")


if __name__ == "__main__":
    main()
