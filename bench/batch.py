"""Batch throughput: items per minute with 1 and 2 local workers and with 1 and 2 Celery worker
processes, on the chat set and the audio set, and the per-item overhead of the batch machinery
against the same work in a plain loop.

Chat set: the 800 real JD chat sessions (`../shared/datasets/jddc_chat_sample`), `--chat-repeat`
times with distinct ids. Audio set: the three test calls, mono and stereo (6 files, 204 s),
`--audio-copies` times. Every batch run gets a fresh SQLite database.

Baselines in the same process: the plain loop does what a batch item does (prepare: transcribe if
audio, redact; inspect; store with `save_result` and commit) with no source reading, hashing, ledger,
executor or progress; the batch with 1 worker runs the items in this process, so the difference is
the machinery. Start-up (migrations, rules, planning, pool processes loading models) is in the
batch wall time and reported apart.

Celery rows (skipped with --skip-celery or when Redis is not reachable): a real `qa-engine worker -c N`
subprocess (N = 1, 2; `--no-asr` for chats, as a CPU chat worker runs) on a queue of its own on the
local Redis (QA_CELERY_BROKER_URL), started and its processes' models loaded before the timing, as
long-running workers are; the batch driver runs in this process (planning, sending, collecting) and
its wall time is timed. The ratios compare them with the local executor's rows of the same round.

Run: .venv/bin/python bench/batch.py [--repeat 1] [--chat-limit N] [--audio-copies 1] [--skip-audio] [--skip-celery]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa_datasets.jddc import load_sessions  # noqa: E402
from qa_engine.batch.runner import BatchConfig, run_batch, use_wal  # noqa: E402
from qa_engine.config import get_settings  # noqa: E402
from qa_engine.engine import Inspector  # noqa: E402
from qa_engine.pipeline import Preparer  # noqa: E402
from qa_engine.schema import Interaction  # noqa: E402
from qa_engine.store import migrate  # noqa: E402
from qa_engine.store.db import Database  # noqa: E402
from qa_engine.store.repository import content_hash, save_result  # noqa: E402

CALLS = get_settings().shared_dir / "audio" / "calls"
REPO = Path(__file__).resolve().parents[1]


def chat_set(root: Path, repeat: int, limit: int | None) -> tuple[Path, list[Interaction]]:
    sessions = load_sessions()[:limit]
    items = []
    for r in range(repeat):
        for s in sessions:
            items.append(Interaction.model_validate({**s, "interaction_id": f"{s['interaction_id']}-{r}"}))
    path = root / "chats.jsonl"
    path.write_text("".join(i.model_dump_json(exclude_none=True) + "\n" for i in items), "utf-8")
    return path, items


def audio_set(root: Path, copies: int, limit: int | None = None) -> tuple[Path, list[Interaction]]:
    folder = root / "calls"
    folder.mkdir()
    items: list[Interaction] = []
    for c in range(copies):
        for name in ("call_good", "call_bad", "call_mixed"):
            for mode in ("mono", "stereo"):
                if limit is not None and len(items) >= limit:
                    return folder, items
                target = folder / f"{name}-{mode}-{c}.wav"
                shutil.copy(CALLS / f"{name}.{mode}.wav", target)
                items.append(Interaction(interaction_id=target.stem, channel="call", audio_path=str(target)))
    return folder, items


def plain_loop(items: list[Interaction], inspector: Inspector, preparer: Preparer, url: str) -> float:
    migrate.upgrade(url)
    use_wal(url)  # the same database setup as the batch
    db = Database(url)
    t0 = time.perf_counter()
    for item in items:
        prepared = preparer.prepare(item)
        result = inspector.inspect(prepared)
        with db.session() as session:
            save_result(session, prepared, result, content_hash=content_hash(item))
    seconds = time.perf_counter() - t0
    db.dispose()
    return seconds


LOADS: dict[str, list[float]] = {}  # run name -> 1-minute load averages seen during it (sampled every 2 s)


class LoadWatch:
    """Samples the 1-minute load average every 2 s while a run is timed."""

    def __init__(self, name: str) -> None:
        import threading

        self.samples = LOADS.setdefault(name, [])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.samples.append(os.getloadavg()[0])
        while not self._stop.wait(2.0):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])


def loads(*names: str) -> str:
    out = []
    for name in names:
        v = LOADS.get(name) or []
        if v:
            out.append(f"{name.split('-', 1)[1]} {min(v):.1f}-{max(v):.1f}")
    return ", ".join(out)


class Clock:
    """Outcome times: the steady rate is (n - 1) items over the time from the first outcome to the
    last, without start-up, planning and the first item (what a long night's run sees)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, _outcome) -> None:
        self.times.append(time.perf_counter())

    def steady_ipm(self) -> float | None:
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return None
        return 60 * (len(self.times) - 1) / (self.times[-1] - self.times[0])


def batch_run(source: Path, url: str, workers: int) -> dict:
    migrate.upgrade(url)  # outside the timing, as for the plain loop
    clock = Clock()
    t0 = time.perf_counter()
    report = run_batch(BatchConfig(source=source, database_url=url, workers=workers, migrate=False),
                       get_settings(), progress_stream=io.StringIO(), tty=False, on_outcome=clock)
    wall = time.perf_counter() - t0
    assert report.failed == 0 and report.processed == report.items, report.failures[:3]
    return {"wall": wall, "items": report.processed, "item_seconds": report.item_seconds,
            "audio_seconds": report.audio_seconds, "steady_ipm": clock.steady_ipm()}


class CeleryWorker:
    """`qa-engine worker -Q queue -c processes` as a subprocess (its own process group), ready when
    each of its processes has loaded the models."""

    def __init__(self, tmp: Path, processes: int, asr: bool) -> None:
        self.queue = f"qa-bench-{uuid.uuid4().hex[:8]}"
        self.log = tmp / f"{self.queue}.log"
        t0 = time.perf_counter()
        with self.log.open("w") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "qa_engine", "worker", "-Q", self.queue, "-c", str(processes),
                 "-n", f"{self.queue}@%h", *(() if asr else ("--no-asr",))],
                cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
        deadline = time.monotonic() + 300
        while not (" ready." in self.text() and self.text().count("qa-engine worker process") >= processes):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Celery worker did not start:\n" + self.text()[-3000:])
            time.sleep(0.2)
        self.startup = time.perf_counter() - t0

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        try:  # leave nothing of the bench queue in Redis
            from qa_engine.batch.celery_app import app

            app.backend.client.delete(self.queue, f"_kombu.binding.{self.queue}")
        except Exception:  # noqa: BLE001
            pass


def celery_available() -> str | None:
    """None when Redis answers, else why not."""
    try:
        from qa_engine.batch.celery_app import check_connection

        check_connection()
    except Exception as exc:  # noqa: BLE001
        return str(exc)
    return None


def celery_run(source: Path, url: str, processes: int, asr: bool, tmp: Path, name: str) -> dict:
    migrate.upgrade(url)
    worker = CeleryWorker(tmp, processes, asr)
    clock = Clock()
    try:
        with LoadWatch(name):
            t0 = time.perf_counter()
            report = run_batch(BatchConfig(source=source, database_url=url, executor="celery", queue=worker.queue,
                                           migrate=False), get_settings(), progress_stream=io.StringIO(), tty=False, on_outcome=clock)
            wall = time.perf_counter() - t0
    finally:
        worker.stop()
    assert report.failed == 0 and report.processed == report.items, report.failures[:3]
    return {"wall": wall, "items": report.processed, "item_seconds": report.item_seconds,
            "audio_seconds": report.audio_seconds, "worker_startup": worker.startup, "steady_ipm": clock.steady_ipm(),
            "worker_stats": report.worker_stats}


def measure(name: str, source: Path, items: list[Interaction], inspector, preparer, tmp: Path, repeat: int,
            celery: bool = False) -> dict:
    """Best of `repeat` rounds; each round runs plain, 1 worker, 2 workers (and the Celery runs)
    back to back, so a change in machine load hits them alike."""
    n = len(items)
    plain, one, two, c1, c2 = float("inf"), None, None, None, None
    audio = name == "audio"
    for r in range(repeat):
        # A fresh inspector per round, as each batch run has: operators cache per instance (the
        # turn classifier keeps predictions by text), and a warm cache would flatter the loop.
        fresh = Inspector(inspector.settings)
        with LoadWatch(f"{name}-plain"):
            plain = min(plain, plain_loop(items, fresh, preparer, f"sqlite:///{tmp / f'{name}-plain-{r}.db'}"))
        with LoadWatch(f"{name}-w1"):
            w1 = batch_run(source, f"sqlite:///{tmp / f'{name}-w1-{r}.db'}", 1)
        with LoadWatch(f"{name}-w2"):
            w2 = batch_run(source, f"sqlite:///{tmp / f'{name}-w2-{r}.db'}", 2)
        one = w1 if one is None or w1["wall"] < one["wall"] else one
        two = w2 if two is None or w2["wall"] < two["wall"] else two
        if celery:
            k1 = celery_run(source, f"sqlite:///{tmp / f'{name}-c1-{r}.db'}", 1, audio, tmp, f"{name}-c1")
            k2 = celery_run(source, f"sqlite:///{tmp / f'{name}-c2-{r}.db'}", 2, audio, tmp, f"{name}-c2")
            c1 = k1 if c1 is None or k1["wall"] < c1["wall"] else c1
            c2 = k2 if c2 is None or k2["wall"] < c2["wall"] else c2
    ipm = {k: 60 * n / v for k, v in (("plain", plain), ("w1", one["wall"]), ("w2", two["wall"]))}
    if celery:
        ipm.update(c1=60 * n / c1["wall"], c2=60 * n / c2["wall"])
    row = {
        "set": name, "items": n, "plain_s": plain, "w1_wall_s": one["wall"], "w2_wall_s": two["wall"],
        "w1_items_s": one["item_seconds"], "ipm": ipm, "ratio_w2_w1": ipm["w2"] / ipm["w1"],
        "overhead_ms_item": 1000 * (one["item_seconds"] - plain) / n,
        "overhead_ms_wall": 1000 * (one["wall"] - plain) / n,
        "startup_w1_s": one["wall"] - one["item_seconds"],
        "audio_s": one["audio_seconds"],
        "steady_ipm": {"w1": one["steady_ipm"], "w2": two["steady_ipm"]},
    }
    print(
        f"[{name}] {n} items"
        + (f", {one['audio_seconds']:.0f} s of audio" if one["audio_seconds"] else "")
        + f"\n  plain loop (prepare, inspect, save, commit): {plain:.2f} s -> {ipm['plain']:,.1f} items/min"
        f"\n  batch, 1 worker : {one['wall']:.2f} s wall -> {ipm['w1']:,.1f} items/min"
        f" (items {one['item_seconds']:.2f} s, start-up and planning {row['startup_w1_s']:.2f} s)"
        f"\n  batch, 2 workers: {two['wall']:.2f} s wall -> {ipm['w2']:,.1f} items/min"
        f"\n  2 workers / 1 worker: {row['ratio_w2_w1']:.2f}x"
        f"\n  batch machinery per item: {row['overhead_ms_item']:+.2f} ms in the worker (ledger check, hash, claim),"
        f" {row['overhead_ms_wall']:+.2f} ms counting start-up; plain loop {1000 * plain / n:.2f} ms/item",
        flush=True,
    )
    if one["audio_seconds"]:
        print(f"  real-time factor: plain {plain / one['audio_seconds']:.3f}, 1 worker {one['wall'] / one['audio_seconds']:.3f},"
              f" 2 workers {two['wall'] / one['audio_seconds']:.3f}")
    steady = row["steady_ipm"]
    if celery:
        steady.update(c1=c1["steady_ipm"], c2=c2["steady_ipm"])
    print("  steady rate (first to last outcome, no start-up): "
          + ", ".join(f"{k} {v:,.1f}" for k, v in steady.items() if v) + " items/min", flush=True)
    if celery:
        row.update(
            c1_wall_s=c1["wall"], c2_wall_s=c2["wall"], c1_items_s=c1["item_seconds"], c2_items_s=c2["item_seconds"],
            c1_worker_startup_s=c1["worker_startup"], c2_worker_startup_s=c2["worker_startup"],
            ratio_c1_w1=ipm["c1"] / ipm["w1"], ratio_c2_w2=ipm["c2"] / ipm["w2"], ratio_c2_c1=ipm["c2"] / ipm["c1"],
            ipm_per_process_c1=ipm["c1"], ipm_per_process_c2=ipm["c2"] / 2,
            c2_worker_stats=c2["worker_stats"],
        )

        print(
            f"  celery, 1 worker process : {c1['wall']:.2f} s wall -> {ipm['c1']:,.1f} items/min"
            f" (items {c1['item_seconds']:.2f} s; worker start-up {c1['worker_startup']:.1f} s, not timed)"
            f"\n  celery, 2 worker processes: {c2['wall']:.2f} s wall -> {ipm['c2']:,.1f} items/min"
            f" ({ipm['c2'] / 2:,.1f} per process; items {c2['item_seconds']:.2f} s; worker start-up {c2['worker_startup']:.1f} s)"
            f"\n  celery / local: 1 process {row['ratio_c1_w1']:.2f}x, 2 processes {row['ratio_c2_w2']:.2f}x;"
            f" celery 2 / 1 processes: {row['ratio_c2_c1']:.2f}x; celery 1 process / plain loop {ipm['c1'] / ipm['plain']:.2f}x",
            flush=True,
        )
        if one["audio_seconds"]:
            a = one["audio_seconds"]
            print(f"  real-time factor: celery 1 process {c1['wall'] / a:.3f}, 2 processes {c2['wall'] / a:.3f};"
                  f" audio per item {a / n:.1f} s", flush=True)
    runs = [f"{name}-{k}" for k in ("plain", "w1", "w2", "c1", "c2")]
    row["load"] = {k.split("-", 1)[1]: [min(LOADS[k]), max(LOADS[k])] for k in runs if LOADS.get(k)}
    print(f"  1-minute load average during the runs (min-max, all rounds): {loads(*runs)}", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chat-repeat", type=int, default=1, help="copies of the chat set (distinct ids)")
    ap.add_argument("--chat-limit", type=int, default=None, help="first N sessions only")
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the best is reported")
    ap.add_argument("--audio-copies", type=int, default=1)
    ap.add_argument("--audio-limit", type=int, default=None, help="first N recordings only (call_good mono, stereo, call_bad ...)")
    ap.add_argument("--skip-audio", action="store_true")
    ap.add_argument("--skip-celery", action="store_true", help="local executor only (no Redis needed)")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()

    settings = get_settings()
    inspector = Inspector(settings)
    preparer = Preparer(settings)
    print(f"load average at the start: {os.getloadavg()[0]:.2f} (1 minute), {os.cpu_count()} cores", flush=True)
    celery = not args.skip_celery
    if celery and (why := celery_available()):
        print(f"Celery rows skipped: {why}", flush=True)
        celery = False
    rows = []
    with tempfile.TemporaryDirectory(prefix="qa-bench-batch-") as tmp_name:
        tmp = Path(tmp_name)
        source, items = chat_set(tmp, args.chat_repeat, args.chat_limit)
        preparer.prepare(items[0]), inspector.inspect(items[0])  # warm jieba and OpenCC, as in bench/score_text.py
        rows.append(measure("chat", source, items, inspector, preparer, tmp, args.repeat, celery))
        if not args.skip_audio:
            preparer.transcriber  # noqa: B018 - the plain loop's model load is not timed; the batch's is
            source, items = audio_set(tmp, args.audio_copies, args.audio_limit)
            rows.append(measure("audio", source, items, inspector, preparer, tmp, args.repeat, celery))
    print(f"load average after the run: {os.getloadavg()[0]:.2f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
