"""The Celery executor: the batch task on a Redis broker, and what `qa-engine worker` runs.

The task is `worker.run_item`, the same function the local process pool calls. Each worker
process loads the models once, in `worker_process_init`. Tasks are acknowledged after they ran
(`acks_late`) and given back when a worker process dies, so a killed machine loses no item; the
ledger makes the redelivered item a no-op when it had been stored already.
"""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from qa_engine.batch import worker as batch_worker
from qa_engine.batch.runner import ExecutorUnavailable
from qa_engine.config import get_settings

TASK_NAME = "qa_engine.batch.score_item"
PRELOAD_ASR = True  # `qa-engine worker --no-asr` turns it off before the pool starts


def make_app() -> Celery:
    settings = get_settings()
    app = Celery("qa_engine", broker=settings.celery_broker_url, backend=settings.celery_result_backend)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.batch_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # an item can take minutes: do not hoard them
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


app = make_app()


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


@app.task(name=TASK_NAME)
def score_item(item: dict, options: dict) -> dict:
    return batch_worker.run_item(item, options)


@worker_process_init.connect
def _load_models(**_kwargs) -> None:
    batch_worker.init_worker(load_asr=PRELOAD_ASR)


@worker_process_shutdown.connect
def _close(**_kwargs) -> None:
    if batch_worker._worker is not None:
        batch_worker._worker.close()
