"""The Celery executor: the batch task on a Redis broker, and what `qa-engine worker` runs.

The task is `worker.run_items` on a chunk of items, the same function the local process pool calls. Each worker
process loads the models once, in `worker_process_init`, with the local pool's thread rule (the
cores split between the `-c` processes unless QA_ASR_THREADS / QA_ONNX_THREADS are set). Tasks are
acknowledged after they ran (`acks_late`) and given back when a worker process dies; a worker
machine that dies holds its tasks until the visibility timeout (QA_BATCH_VISIBILITY_TIMEOUT_S), but
the driver hands them back much sooner (`celery_driver`). The ledger makes a redelivered item a
no-op when it had been stored already.

Each task carries its run (`options["run_id"]`). The driver keeps the run's Redis mark alive while
it collects outcomes; a task whose run is over (its driver ended, was stopped or killed) or that the
driver handed back to the queue as another task is skipped at once, before any scoring.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown
from celery.utils.log import get_logger

from qa_engine.batch import worker as batch_worker
from qa_engine.batch.plan import ExecutorUnavailable
from qa_engine.config import Settings, get_settings

TASK_NAME = "qa_engine.batch.score_item"
PRELOAD_ASR = True  # `qa-engine worker --no-asr` turns it off before the pool starts
PROCESSES = 1  # `qa-engine worker -c N` sets it: each process gets cores / N threads
RUN_KEY = "qa-engine:batch-run:{}"  # exists while the run's driver is alive
SUPERSEDED_KEY = "qa-engine:batch-run:{}:superseded"  # task ids the driver sent again as new tasks

log = get_logger(__name__)


def reconnect_retries(seconds: float) -> int:
    """Reconnection attempts that fit in `seconds` with kombu's back-off (2, 4, 6 ... 30 s apart)."""
    retries, spent = 0, 0.0
    while True:
        step = min(2.0 + 2.0 * retries, 30.0)
        if spent + step > seconds:
            return max(1, retries)
        spent += step
        retries += 1


def make_app(settings: Settings) -> Celery:
    app = Celery("qa_engine", broker=settings.celery_broker_url, backend=settings.celery_result_backend)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.batch_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,  # the driver sees which worker holds an item
        worker_prefetch_multiplier=1,  # an item can take minutes: do not hoard them
        result_expires=settings.batch_result_expiry_s,
        broker_transport_options={"visibility_timeout": settings.batch_visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=reconnect_retries(settings.worker_broker_wait_s),
        worker_hijack_root_logger=False,
    )
    return app


# This module is the Celery worker's entry (`qa-engine worker`, `celery -A qa_engine.batch.celery_app`):
# the settings are read here once, for the app and every worker process it starts.
settings = get_settings()
app = make_app(settings)


def check_connection() -> None:
    """Fail fast, in one line, when Redis cannot be reached (Celery itself retries for a minute)."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=5)
        app.backend.client.ping()
    except Exception as exc:  # noqa: BLE001 - kombu, redis and socket errors alike
        raise ExecutorUnavailable(
            f"cannot reach the Celery broker / result backend ({app.conf.broker_url}): {exc.__class__.__name__}: {exc}"
        ) from None


def skip_reason(run_id: str | None, task_id: str | None) -> str | None:
    """Why a task of run `run_id` must not run now (None: run it). One Redis round trip."""
    if not run_id:
        return None
    try:
        with app.backend.client.pipeline() as pipe:
            pipe.exists(RUN_KEY.format(run_id))
            pipe.sismember(SUPERSEDED_KEY.format(run_id), task_id or "")
            alive, superseded = pipe.execute()
    except Exception as exc:  # noqa: BLE001 - cannot tell: score it (the ledger prevents a double store)
        log.warning("cannot check run %s of task %s: %s", run_id, task_id, exc)
        return None
    if not alive:
        return "its batch run is over (driver ended, stopped or killed); a rerun queues the item again"
    if superseded:
        return "handed back by the driver after its worker was lost; it runs as another task"
    return None


@app.task(name=TASK_NAME, bind=True)
def score_item(self, items: list[dict], options: dict) -> list[dict]:
    """A chunk of items (the driver groups chats as the local executors do; a recording alone): one
    outcome each, a failed item among the others."""
    reason = skip_reason(options.get("run_id"), self.request.id)
    if reason is not None:
        out = [{"key": i.get("key"), "source": i.get("source"), "status": "cancelled", "reason": reason} for i in items]
    else:
        out = batch_worker.run_items(items, options)
    queue = (self.request.delivery_info or {}).get("routing_key")  # where it came from (routing)
    for outcome in out:
        outcome["worker"], outcome["queue"] = self.request.hostname, queue
    return out


@worker_process_init.connect
def _load_models(**_kwargs) -> None:
    threads = batch_worker.pool_threads(PROCESSES, settings)
    batch_worker.init_worker(settings, load_asr=PRELOAD_ASR, threads=threads)
    assert batch_worker._worker is not None  # init_worker sets it
    used = batch_worker._worker.settings
    log.info(
        "qa-engine worker process %d: %d ONNX / %d ASR threads (%s)",
        os.getpid(),
        used.onnx_threads,
        used.asr_threads,
        f"{os.cpu_count()} cores / {PROCESSES} processes" if threads else "configured",
    )


@worker_process_shutdown.connect
def _close(**_kwargs) -> None:
    if batch_worker._worker is not None:
        batch_worker._worker.close()
