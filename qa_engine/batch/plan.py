"""What a batch run hands its executor (the local pool, or Celery's driver: Plan) and what an
executor raises when it cannot run it (ExecutorUnavailable); the runner and the executors import
these, not each other."""

from __future__ import annotations

from dataclasses import dataclass

from qa_engine.batch.sources import BatchItem
from qa_engine.batch.worker import ItemOutcome


class ExecutorUnavailable(RuntimeError):
    """The executor cannot run (Celery: Redis unreachable, no worker on the queue). Raised in the
    middle of a run, it carries the partial report as `report`."""


@dataclass
class Plan:
    todo: list[BatchItem]
    skipped: list[ItemOutcome]
    total: int
    has_audio: bool


__all__ = ["ExecutorUnavailable", "Plan"]
