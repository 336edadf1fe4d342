"""`qa-engine batch`: plan the items of a source, hand them to an executor, report.

Planning happens in the calling process: read SOURCE, keep the date window, hash every item,
drop duplicates, and skip what the ledger (or an interaction's current result) shows as scored
with the same content and versions. The executor runs the rest through `worker.run_items`, in chunks:
`local` in this process (1 worker) or a process pool, `celery` on `qa-engine worker`s.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from qa_engine.batch.plan import ExecutorUnavailable, Plan
from qa_engine.batch.report import BatchReport, Progress
from qa_engine.batch.sources import BatchItem, in_window, item_content_hash, read_source
from qa_engine.batch.worker import BatchOptions, BatchWorker, ItemOutcome, chunks, expected_versions, pool_threads
from qa_engine.config import Settings

EXECUTORS = ("local", "celery")


class Terminated(KeyboardInterrupt):
    """SIGTERM (systemd stopping the unit, a cron timeout): stop like Ctrl-C, with the partial report."""


@dataclass
class BatchConfig:
    source: Path
    database_url: str
    executor: str = "local"
    workers: int = 1
    since: date | None = None
    until: date | None = None
    dry_run: bool = False
    rescore: bool = False
    known_agents: bool = False
    batch_id: str | None = None  # give the id of an interrupted --rescore run to resume it
    queue: str | None = None  # Celery: every item to this queue (default: routed, see below)
    # Celery routing: recordings to call_queue, chats to chat_queue (default: QA_BATCH_CALL_QUEUE /
    # QA_BATCH_CHAT_QUEUE, each QA_BATCH_QUEUE when unset); ignored when `queue` is given.
    call_queue: str | None = None
    chat_queue: str | None = None
    migrate: bool = True
    wait_for_workers: bool = False  # Celery: no worker on the queue: wait (a line every heartbeat), not exit 2


def _schema_ready(url: str) -> bool:
    from sqlalchemy import inspect, make_url

    from qa_engine.store.db import make_engine

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).exists():  # a dry run must not create the file
            return False
    engine = make_engine(url)
    try:
        return inspect(engine).has_table("batch_items")
    finally:
        engine.dispose()


def use_wal(url: str) -> None:
    """SQLite: write-ahead log (kept by the file). A batch commits once per item; with the rollback
    journal each commit cost ~30 ms of fsyncs here, with WAL ~3 ms (bench/batch.py), and readers
    (the API, the planning query) no longer block the writers."""
    from sqlalchemy import make_url

    from qa_engine.store.db import make_engine

    if make_url(url).get_backend_name() != "sqlite":
        return
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    finally:
        engine.dispose()


def make_plan(config: BatchConfig, settings: Settings, inspector, batch_id: str) -> Plan:
    from qa_engine.store import ledger
    from qa_engine.store.db import Database

    items = [i for i in read_source(config.source, settings) if in_window(i, config.since, config.until)]
    skipped: list[ItemOutcome] = []
    kept: list[BatchItem] = []
    first: dict[str, BatchItem] = {}
    for item in items:
        if item.error is None:
            try:
                item.content_hash = item_content_hash(item)
            except OSError as exc:
                item = BatchItem(key=item.key, source=item.source, error=f"cannot read: {exc.strerror or exc}", day=item.day)
        if item.error is None and item.key in first:
            earlier = first[item.key]
            if earlier.content_hash == item.content_hash:
                skipped.append(
                    ItemOutcome(item.key, item.source, "skipped", f"duplicate of {earlier.source}", item.interaction_id)
                )
                continue
            item = BatchItem(
                key=f"{item.key}@{item.source}",
                source=item.source,
                day=item.day,
                error=f"interaction_id {item.key!r} appears twice in the source with different content (first: {earlier.source})",
            )
        if item.error is None:
            first[item.key] = item
        kept.append(item)

    has_audio = any(i.is_audio for i in kept)
    digests = {
        False: ledger.versions_hash(expected_versions(inspector, settings, False)),
        True: ledger.versions_hash(expected_versions(inspector, settings, True)) if has_audio else "",
    }
    done: set[tuple[str, str, str]] = set()
    current: dict[str, tuple[str, str]] = {}
    if _schema_ready(config.database_url):
        db = Database(config.database_url)
        try:
            with db.sessionmaker() as session:
                good = [i for i in kept if i.error is None]
                done = ledger.done_items(session, [i.key for i in good], batch_id=batch_id if config.rescore else None)
                if not config.rescore:
                    current = ledger.current_digests(session, [i.interaction_id for i in good if i.interaction_id])
        finally:
            db.dispose()
    todo: list[BatchItem] = []
    for item in kept:
        if item.error is None:
            vdigest, iid = digests[item.is_audio], item.interaction_id or ""  # a readable item has an id
            if (item.key, item.content_hash, vdigest) in done or current.get(iid) == (item.content_hash, vdigest):
                skipped.append(ItemOutcome(item.key, item.source, "skipped", "already scored", item.interaction_id))
                continue
        todo.append(item)
    return Plan(todo=todo, skipped=skipped, total=len(items), has_audio=any(i.is_audio for i in todo))


# --- executors --------------------------------------------------------------------------------------


def _run_inline(plan: Plan, options: BatchOptions, settings: Settings, inspector) -> Generator[ItemOutcome, None, None]:
    worker = BatchWorker(settings, load_asr=plan.has_audio, inspector=inspector)
    try:
        for chunk in chunks(plan.todo, settings.batch_chunk):
            yield from worker.run_many(chunk, options)
    finally:
        worker.close()


def _run_pool(plan: Plan, options: BatchOptions, settings: Settings, workers: int) -> Generator[ItemOutcome, None, None]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from qa_engine.batch.worker import init_worker, run_items

    opts = options.to_task()
    # spawn: children start clean instead of forking a parent that holds ONNX / CTranslate2 threads.
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(settings, plan.has_audio, pool_threads(workers, settings), True),  # this run's settings
    ) as pool:
        pending = {}
        queue = chunks(plan.todo, settings.batch_chunk)  # chats scored together, a recording alone
        try:
            # A bounded window of submitted chunks: the pool stays busy, memory stays flat.
            for chunk in queue:
                pending[pool.submit(run_items, [i.to_task() for i in chunk], opts)] = chunk
                if len(pending) >= workers * 2:
                    break
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    pending.pop(future)
                    try:
                        outcomes = future.result()
                    except BrokenProcessPool as exc:
                        # A pool process could not load the models, or died (OOM killer): a setup
                        # problem, not this item's. Stop; a rerun resumes where this one was.
                        raise ExecutorUnavailable(
                            f"a worker process failed to start or died ({exc}); see the error above"
                        ) from None
                    for outcome in outcomes:
                        yield ItemOutcome(**outcome)
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[pool.submit(run_items, [i.to_task() for i in nxt], opts)] = nxt
        except BaseException:
            # Stopped (SIGTERM, Ctrl-C) or broken: end the items in progress now rather than wait
            # for them; what was not committed is simply not done.
            processes = list((getattr(pool, "_processes", None) or {}).values())
            # Joined below: shutdown(wait=False) forgets it, and Python 3.11's exit hook then races it
            # closing its wake-up pipe ("OSError: [Errno 9] Bad file descriptor" after our last line).
            manager = getattr(pool, "_executor_manager_thread", None)
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
            if manager is not None:
                manager.join(timeout=30)
            raise


# --- the run ----------------------------------------------------------------------------------------


def run_batch(
    config: BatchConfig,
    settings: Settings,
    *,
    progress_stream=None,
    tty: bool | None = None,
    on_outcome: Callable[[ItemOutcome], None] | None = None,
) -> BatchReport:
    """Plan and run a batch; the report counts this run's items. Stopped early (KeyboardInterrupt,
    Terminated, ExecutorUnavailable in the middle of the run): the partial report is on the
    exception's `report` attribute."""
    from qa_engine.engine import Inspector

    if config.executor not in EXECUTORS:
        raise ValueError(f"unknown executor {config.executor!r}; choose {' or '.join(EXECUTORS)}")
    if config.workers < 1:
        raise ValueError("--workers must be at least 1")
    started = time.perf_counter()
    batch_id = config.batch_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    if config.migrate and not config.dry_run:
        from qa_engine.store import migrate

        migrate.upgrade(config.database_url)
    if not config.dry_run:
        use_wal(config.database_url)
    celery = config.executor == "celery" and not config.dry_run
    if celery:
        from qa_engine.batch.celery_app import check_connection
        from qa_engine.batch.celery_driver import require_workers, routes

        route = routes(settings, config.queue, config.call_queue, config.chat_queue)
        check_connection()
        # At once, before planning: a worker on at least one of the queues (else nothing runs at all);
        # after planning, on each queue the plan sends items to.
        found = require_workers(set(route.values()), settings, wait=config.wait_for_workers, stream=progress_stream or sys.stderr)
    inspector = Inspector(settings)
    plan = make_plan(config, settings, inspector, batch_id)
    if celery:
        needed = {route[i.is_audio] for i in plan.todo} - {q for q, nodes in found.items() if nodes}
        if needed:
            require_workers(needed, settings, wait=config.wait_for_workers, stream=progress_stream or sys.stderr, each=True)
    # Celery: the workers that took part, counted as their outcomes arrive (--workers is the local pool's).
    workers = 0 if config.executor == "celery" else config.workers
    report = BatchReport(batch_id=batch_id, executor=config.executor, workers=workers, items=plan.total, dry_run=config.dry_run)
    for outcome in plan.skipped:
        report.add(outcome, planned=True)
    if config.dry_run:
        for item in plan.todo:
            if item.error is not None:
                report.add(ItemOutcome(item.key, item.source, "failed", item.error))
            else:
                report.processed += 1
        report.wall_seconds = time.perf_counter() - started
        return report

    options = BatchOptions(
        config.database_url,
        batch_id,
        rescore=config.rescore,
        known_agents=config.known_agents,
        check_done=config.executor == "celery",
    )
    progress = Progress(len(plan.todo), stream=progress_stream, tty=tty, every_s=settings.batch_heartbeat_s)
    if plan.skipped:
        progress.write(f"qa-engine: batch {batch_id}: {len(plan.skipped)} of {plan.total} items already scored, skipped")
    if config.executor == "celery":
        from qa_engine.batch.celery_driver import CeleryDriver

        driver = CeleryDriver(
            plan, options, route, settings, progress, inspector=inspector, report=report, wait_for_workers=config.wait_for_workers
        )
        outcomes = driver.run()
    elif config.workers == 1:
        outcomes = _run_inline(plan, options, settings, inspector)
    else:
        outcomes = _run_pool(plan, options, settings, config.workers)
    seen = 0
    progress.start()
    try:
        for outcome in outcomes:
            report.add(outcome)
            progress.update(outcome)
            seen += 1
            if on_outcome is not None:
                on_outcome(outcome)
    except (KeyboardInterrupt, ExecutorUnavailable) as exc:
        report.wall_seconds = time.perf_counter() - started
        report.interrupted = (
            "SIGTERM" if isinstance(exc, Terminated) else "SIGINT" if isinstance(exc, KeyboardInterrupt) else str(exc)
        )
        report.not_done = len(plan.todo) - seen
        exc.report = report  # type: ignore[union-attr]  # read by the CLI to write what was done
        raise
    finally:
        outcomes.close()  # the executor's cleanup now (Celery: the run's mark and result keys)
        progress.close()
    report.wall_seconds = time.perf_counter() - started
    _audit(config.database_url, report)
    return report


def _audit(url: str, report: BatchReport) -> None:
    from qa_engine.store import repository
    from qa_engine.store.db import Database

    db = Database(url)
    try:
        with db.session() as session:
            repository.audit(
                session,
                "batch",
                "batch.run",
                "batch",
                report.batch_id,
                processed=report.processed,
                skipped=report.skipped,
                failed=report.failed,
                executor=report.executor,
                workers=report.workers,
                wall_seconds=round(report.wall_seconds, 3),
            )
    finally:
        db.dispose()
