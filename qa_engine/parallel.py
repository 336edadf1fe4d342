"""`qa-engine score --workers N`: a large file scored by N processes, results in input order.

Why processes: the engine's speed comes from batching (Inspector.inspect_many scores a chunk's turns
in large model batches); a second core is best used by a second engine in its own process, not by
threads in one (the rules are Python and hold the GIL). Each process loads one engine without
background threads and gets an equal share of the cores for onnxruntime and Whisper; the parent
reads the input, hands out chunks of records and writes the results back in order (Pool.imap).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

from qa_engine.config import Settings
from qa_engine.io import RecordError
from qa_engine.schema import Interaction

if TYPE_CHECKING:
    from qa_engine.engine import Inspector
    from qa_engine.pipeline import Preparer

CHUNK = 256  # records per task: one inspect_many chunk, large enough for full model batches

_engine: tuple[Inspector, Preparer, Path] | None = None  # of this worker process, set by its initializer


def _init(settings: Settings, workers: int, base_dir: str) -> None:
    from qa_engine.batch.worker import pool_threads
    from qa_engine.engine import Inspector
    from qa_engine.pipeline import Preparer

    global _engine
    threads = pool_threads(workers, settings)  # the cores split between the processes
    if threads is not None:
        settings = settings.model_copy(update={"asr_threads": threads, "onnx_threads": threads})
    _engine = (Inspector(settings, background_threads=False), Preparer(settings), Path(base_dir))


def _score_chunk(records: list[dict | str]) -> list[tuple[bool, str]]:
    """(True, result JSON) or (False, error message) per record, in order; a str record is a reader's
    error message, passed through."""
    from qa_engine.asr.audio import AudioError
    from qa_engine.asr.model import ModelError

    assert _engine is not None  # the pool's initializer ran
    inspector, preparer, base_dir = _engine
    items: list = []
    for record in records:
        if isinstance(record, str):  # passed through inspect_many as this item's outcome
            items.append(ValueError(record))
            continue
        try:
            items.append(preparer.prepare(Interaction.model_validate(record), base_dir))
        except (ValueError, AudioError, ModelError) as exc:
            items.append(exc)
    return [(False, str(r)) if isinstance(r, Exception) else (True, r.model_dump_json()) for r in inspector.inspect_many(items)]


def score_in_processes(
    items: Iterable[Interaction | RecordError], settings: Settings, workers: int, base_dir: Path
) -> Iterator[tuple[bool, str]]:
    """(True, result JSON) or (False, error message) per item, in input order, scored by `workers`
    processes (each with cpu_count // workers model threads unless QA_ONNX_THREADS / QA_ASR_THREADS
    are set: batch.worker.pool_threads)."""
    records = ((item.model_dump(mode="json") if isinstance(item, Interaction) else str(item)) for item in items)
    chunks = iter(lambda: list(islice(records, CHUNK)), [])
    # spawn: a forked child would inherit the parent's onnxruntime and jieba state half-initialised
    with get_context("spawn").Pool(workers, initializer=_init, initargs=(settings, workers, str(base_dir))) as pool:
        for results in pool.imap(_score_chunk, chunks):
            yield from results


__all__ = ["CHUNK", "score_in_processes"]
