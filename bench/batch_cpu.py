"""CPU seconds per item of the batch's chat path: items scored one at a time (QA_BATCH_CHUNK=1, how
every batch item was scored before chunks) against the default chunks, both in this process
(the inline executor, `--workers 1`), runs interleaved, each into a fresh SQLite database.

What a chat item costs: reading and hashing its record, the ledger, scoring, storing its result
(one transaction per chunk: chunk 1 is one per item). CPU is this process's (all its threads: the engine's background model thread
included), so a thread that only adds overhead shows up here.

Run: .venv/bin/python bench/batch_cpu.py [--repeat 3] [--limit N]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa_datasets.jddc import load_sessions  # noqa: E402
from qa_engine.batch.runner import BatchConfig, run_batch  # noqa: E402
from qa_engine.config import Settings  # noqa: E402
from qa_engine.schema import Interaction  # noqa: E402


def one_run(source: Path, tmp: Path, settings: Settings, label: str, n: int) -> tuple[float, float]:
    url = f"sqlite:///{tmp / f'{label}-{n}.db'}"
    c0, t0 = time.process_time(), time.perf_counter()
    report = run_batch(BatchConfig(source=source, database_url=url, workers=1, migrate=True), settings,
                       progress_stream=io.StringIO(), tty=False)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    assert report.failed == 0 and report.processed == report.items, report.failures[:3]
    return cpu, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    settings = Settings()
    sessions = load_sessions()[: args.limit]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source = tmp / "chats.jsonl"
        source.write_text("".join(Interaction.model_validate(s).model_dump_json(exclude_none=True) + "\n"
                                  for s in sessions), "utf-8")
        variants = {"one at a time (chunk 1)": settings.model_copy(update={"batch_chunk": 1}),
                    f"chunks of {settings.batch_chunk} (default)": settings}
        one_run(source, tmp, settings, "warm", 0)  # migrations, jieba, models loaded once before timing
        runs: dict[str, list[tuple[float, float]]] = {label: [] for label in variants}
        for n in range(args.repeat):  # interleaved: the machine's load drifts between runs
            for label, s in variants.items():
                runs[label].append(one_run(source, tmp, s, label.split()[0], n))
    items = len(sessions)
    print(f"{items} JD chat sessions through `qa-engine batch --workers 1` (inline), {args.repeat} interleaved runs each, "
          f"load average {os.getloadavg()[0]:.2f}")
    figures = {}
    for label, measured in runs.items():
        cpus, walls = [c for c, _ in measured], [w for _, w in measured]
        figures[label] = (min(cpus), statistics.median(cpus), min(walls))
        print(f"  {label}: {1000 * min(cpus) / items:.2f} CPU-ms per item best, {1000 * statistics.median(cpus) / items:.2f} "
              f"median; {items / min(walls):,.0f} items/s wall best")
    (b_best, b_med, b_wall), (n_best, n_med, n_wall) = figures.values()
    print(f"chunks use {b_best / n_best:.2f}x fewer CPU-seconds per item (best; median {b_med / n_med:.2f}x); "
          f"wall {b_wall / n_wall:.2f}x faster")


if __name__ == "__main__":
    main()
