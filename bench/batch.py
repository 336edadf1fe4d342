"""Batch throughput: items per minute with 1 and 2 local workers, on the chat set and the audio set,
and the per-item overhead of the batch machinery against the same work in a plain loop.

Chat set: the 800 real JD chat sessions (`../shared/datasets/jddc_chat_sample`), `--chat-repeat`
times with distinct ids. Audio set: the three test calls, mono and stereo (6 files, 204 s),
`--audio-copies` times. Every batch run gets a fresh SQLite database.

Baselines in the same process: the plain loop does what a batch item does (prepare: transcribe if
audio, redact; inspect; store with `save_result` and commit) with no source reading, hashing, ledger,
executor or progress; the batch with 1 worker runs the items in this process, so the difference is
the machinery. Start-up (migrations, rules, planning, pool processes loading models) is in the
batch wall time and reported apart.

Run: .venv/bin/python bench/batch.py [--repeat 1] [--chat-limit N] [--audio-copies 1] [--skip-audio]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
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


def chat_set(root: Path, repeat: int, limit: int | None) -> tuple[Path, list[Interaction]]:
    sessions = load_sessions()[:limit]
    items = []
    for r in range(repeat):
        for s in sessions:
            items.append(Interaction.model_validate({**s, "interaction_id": f"{s['interaction_id']}-{r}"}))
    path = root / "chats.jsonl"
    path.write_text("".join(i.model_dump_json(exclude_none=True) + "\n" for i in items), "utf-8")
    return path, items


def audio_set(root: Path, copies: int) -> tuple[Path, list[Interaction]]:
    folder = root / "calls"
    folder.mkdir()
    items = []
    for c in range(copies):
        for name in ("call_good", "call_bad", "call_mixed"):
            for mode in ("mono", "stereo"):
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


def batch_run(source: Path, url: str, workers: int) -> dict:
    migrate.upgrade(url)  # outside the timing, as for the plain loop
    t0 = time.perf_counter()
    report = run_batch(BatchConfig(source=source, database_url=url, workers=workers, migrate=False),
                       progress_stream=io.StringIO(), tty=False)
    wall = time.perf_counter() - t0
    assert report.failed == 0 and report.processed == report.items, report.failures[:3]
    return {"wall": wall, "items": report.processed, "item_seconds": report.item_seconds,
            "audio_seconds": report.audio_seconds}


def measure(name: str, source: Path, items: list[Interaction], inspector, preparer, tmp: Path, repeat: int) -> dict:
    """Best of `repeat` rounds; each round runs plain, 1 worker, 2 workers back to back, so a
    change in machine load hits all three alike."""
    n = len(items)
    plain, one, two = float("inf"), None, None
    for r in range(repeat):
        # A fresh inspector per round, as each batch run has: operators cache per instance (the
        # turn classifier keeps predictions by text), and a warm cache would flatter the loop.
        fresh = Inspector(inspector.settings)
        plain = min(plain, plain_loop(items, fresh, preparer, f"sqlite:///{tmp / f'{name}-plain-{r}.db'}"))
        w1 = batch_run(source, f"sqlite:///{tmp / f'{name}-w1-{r}.db'}", 1)
        w2 = batch_run(source, f"sqlite:///{tmp / f'{name}-w2-{r}.db'}", 2)
        one = w1 if one is None or w1["wall"] < one["wall"] else one
        two = w2 if two is None or w2["wall"] < two["wall"] else two
    ipm = {k: 60 * n / v for k, v in (("plain", plain), ("w1", one["wall"]), ("w2", two["wall"]))}
    row = {
        "set": name, "items": n, "plain_s": plain, "w1_wall_s": one["wall"], "w2_wall_s": two["wall"],
        "w1_items_s": one["item_seconds"], "ipm": ipm, "ratio_w2_w1": ipm["w2"] / ipm["w1"],
        "overhead_ms_item": 1000 * (one["item_seconds"] - plain) / n,
        "overhead_ms_wall": 1000 * (one["wall"] - plain) / n,
        "startup_w1_s": one["wall"] - one["item_seconds"],
        "audio_s": one["audio_seconds"],
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
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chat-repeat", type=int, default=1, help="copies of the chat set (distinct ids)")
    ap.add_argument("--chat-limit", type=int, default=None, help="first N sessions only")
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the best is reported")
    ap.add_argument("--audio-copies", type=int, default=1)
    ap.add_argument("--skip-audio", action="store_true")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()

    settings = get_settings()
    inspector = Inspector(settings)
    preparer = Preparer(settings)
    rows = []
    with tempfile.TemporaryDirectory(prefix="qa-bench-batch-") as tmp_name:
        tmp = Path(tmp_name)
        source, items = chat_set(tmp, args.chat_repeat, args.chat_limit)
        preparer.prepare(items[0]), inspector.inspect(items[0])  # warm jieba and OpenCC, as in bench/score_text.py
        rows.append(measure("chat", source, items, inspector, preparer, tmp, args.repeat))
        if not args.skip_audio:
            preparer.transcriber  # noqa: B018 - the plain loop's model load is not timed; the batch's is
            source, items = audio_set(tmp, args.audio_copies)
            rows.append(measure("audio", source, items, inspector, preparer, tmp, args.repeat))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
