"""The Celery executor's driver: send one task per chunk of items, collect the outcomes, never wait silently.

- Chats go in chunks of QA_BATCH_CHUNK (`worker.chunks`, as the local executors: scored and stored
  together, each item its own outcome), a recording alone. Handing back and "worker lost" are per
  task: every item of its chunk.

- Items are routed by kind (`routes`): recordings to the call queue (QA_BATCH_CALL_QUEUE: GPU
  workers), chats to the chat queue (QA_BATCH_CHAT_QUEUE: CPU workers), both QA_BATCH_QUEUE unless
  set; `--queue` sends everything to one queue.
- Before planning, `require_workers` asks (Celery remote control, a few seconds) which workers
  consume the queues. None on any: stop at once with one line naming the queue and how to start a
  worker, or, with --wait-for-workers, wait and say so every heartbeat. After planning, the same for
  each queue the plan sends items to (a night of chats needs no GPU worker).
- While it runs, `CeleryDriver` polls the results (one MGET per interval; each result key is deleted
  once read) and every heartbeat (QA_BATCH_HEARTBEAT_S) asks the workers on the queue which of the
  outstanding tasks they hold. A task that no live worker holds, and that was started by a worker
  (gone, or restarted since) or cannot be waiting in the queue (the queue is empty), at two checks
  in a row, was lost with its worker: it is sent again as a new task, up to QA_BATCH_MAX_TRIES
  tries, then fails with "worker lost". The old task id is marked superseded, so when Redis
  redelivers it after the visibility timeout the worker skips it at once.
- The run's Redis mark (celery_app.RUN_KEY) lives while the driver does (renewed every heartbeat,
  expiring after 3); when the run ends, is stopped (SIGTERM, Ctrl-C) or its driver is killed, its
  tasks still queued are skipped by the workers without scoring, and a rerun queues them again.
- No worker on the queue for QA_BATCH_NO_WORKER_S in the middle of a run: it stops (partial report,
  exit 2), unless --wait-for-workers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator, Iterator
from typing import TextIO

from qa_engine.batch.plan import ExecutorUnavailable, Plan
from qa_engine.batch.report import Progress
from qa_engine.batch.sources import BatchItem
from qa_engine.batch.worker import BatchOptions, ItemOutcome, chunks
from qa_engine.config import Settings

INSPECT_TIMEOUT_S = 1.0  # a worker's main process answers remote control within milliseconds
FIRST_ASK_S = 3.0  # "a few seconds" to find the workers at the start
POLL_S = 0.25
CHUNK = 500  # task ids per MGET


def _start_hint(queue: str) -> str:
    return f"start one on a scoring machine: qa-engine worker -Q {queue}"


def routes(
    settings: Settings, queue: str | None = None, call_queue: str | None = None, chat_queue: str | None = None
) -> dict[bool, str]:
    """Queue per kind of item, keyed by `BatchItem.is_audio`: `queue` (--queue) takes every item;
    else recordings go to the call queue, chats and unreadable records to the chat queue (settings
    QA_BATCH_CALL_QUEUE / QA_BATCH_CHAT_QUEUE, or this run's --call-queue / --chat-queue), each
    QA_BATCH_QUEUE when unset."""
    if queue:
        return {True: queue, False: queue}
    return {
        True: call_queue or settings.batch_call_queue or settings.batch_queue,
        False: chat_queue or settings.batch_chat_queue or settings.batch_queue,
    }


def workers_by_queue(app, queues, timeout: float = INSPECT_TIMEOUT_S) -> dict[str, set[str]]:
    """For each of `queues`, the node names of the workers that consume it and answered within `timeout`."""
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    out: dict[str, set[str]] = {q: set() for q in queues}
    for node, consumed in replies.items():
        for q in consumed or ():
            if q.get("name") in out:
                out[q["name"]].add(node)
    return out


def live_workers(app, queue: str, timeout: float = INSPECT_TIMEOUT_S) -> set[str]:
    """Node names of the workers that consume `queue` and answered within `timeout`."""
    return workers_by_queue(app, [queue], timeout)[queue]


def _names(queues) -> str:
    return " or ".join(f"'{q}'" for q in queues)


def require_workers(queues, settings: Settings, *, wait: bool, stream: TextIO, each: bool = False) -> dict[str, set[str]]:
    """The workers on each of `queues` (a name or several). When no queue has a worker (`each`: when
    some queue has none): ExecutorUnavailable at once naming the empty queues, or (wait) a line every
    heartbeat until that is no longer so."""
    from qa_engine.batch.celery_app import app

    queues = [queues] if isinstance(queues, str) else sorted(set(queues))
    started = time.monotonic()
    found = workers_by_queue(app, queues, FIRST_ASK_S)
    while True:
        empty = [q for q in queues if not found[q]]
        if not empty or (not each and len(empty) < len(queues)):
            return found
        if not wait:
            raise ExecutorUnavailable(
                f"no Celery worker consumes queue {_names(empty)} (asked for {FIRST_ASK_S:g} s); "
                f"{_start_hint(empty[0])}, or run with --wait-for-workers"
            )
        print(
            f"qa-engine: batch: waiting for a worker on queue {_names(empty)} ({time.monotonic() - started:.0f} s so far); "
            f"{_start_hint(empty[0])}",
            file=stream,
            flush=True,
        )
        time.sleep(max(0.0, settings.batch_heartbeat_s - INSPECT_TIMEOUT_S))
        found = workers_by_queue(app, queues)


class CeleryDriver:
    def __init__(
        self,
        plan: Plan,
        options: BatchOptions,
        route: dict[bool, str] | str,
        settings: Settings,
        progress: Progress,
        *,
        inspector,
        report,
        wait_for_workers: bool = False,
    ) -> None:
        from qa_engine.batch.celery_app import app

        self.app = app
        self.plan = plan
        self.settings = settings
        self.route = {True: route, False: route} if isinstance(route, str) else dict(route)
        # The queues this run sends items to (its workers are those consuming them).
        self.queues = sorted({self.route[i.is_audio] for i in plan.todo}) or sorted(set(self.route.values()))
        self.progress = progress
        self.wait = wait_for_workers
        self.report = report  # counts handed-back items; carries the run id
        self.inspector = inspector  # the planning one: versions of an item failed as "worker lost"
        self.run_id = uuid.uuid4().hex
        options.run_id = report.run_id = self.run_id
        self.options = options
        self.opts = options.to_task()
        self.client = app.backend.client
        self.ttl = max(3 * settings.batch_heartbeat_s, 3.0)
        self.items: dict[str, list[BatchItem]] = {}  # outstanding task id -> its chunk of items
        self.task_queue: dict[str, str] = {}  # outstanding task id -> its queue
        self.tries: dict[str, int] = {}  # first item key of a chunk -> tries so far
        self.started_by: dict[str, str] = {}  # task id -> worker node that started it
        self.suspect: dict[str, int] = {}  # task id -> checks in a row that found it held by nobody
        self.done_by: dict[str, int] = {}  # worker node -> outcomes
        self.live: set[str] = set()
        self.no_worker_since: float | None = None
        self.snapshot = ""
        progress.detail = lambda: self.snapshot

    # --- Redis: the run's mark, tasks, results ---------------------------------------------------------

    def _mark(self) -> None:
        from qa_engine.batch.celery_app import RUN_KEY, SUPERSEDED_KEY

        ms = int(self.ttl * 1000)
        with self.client.pipeline() as pipe:
            pipe.set(RUN_KEY.format(self.run_id), self.options.batch_id, px=ms)
            pipe.pexpire(SUPERSEDED_KEY.format(self.run_id), ms)
            pipe.execute()

    def _end(self) -> None:
        from qa_engine.batch.celery_app import RUN_KEY, SUPERSEDED_KEY

        keys = [RUN_KEY.format(self.run_id), SUPERSEDED_KEY.format(self.run_id)]
        keys += [self.app.backend.get_key_for_task(t) for t in self.items]
        try:
            for i in range(0, len(keys), CHUNK):
                self.client.delete(*keys[i : i + CHUNK])
        except Exception:  # noqa: BLE001 - the keys expire anyway
            pass

    def _send(self, chunk: list[BatchItem]) -> None:
        from qa_engine.batch.celery_app import score_item

        task_id = uuid.uuid4().hex
        queue = self.route[chunk[0].is_audio]  # a chunk is chats (and unreadable records) or one recording
        self.items[task_id] = chunk
        self.task_queue[task_id] = queue
        self.tries[chunk[0].key] = self.tries.get(chunk[0].key, 0) + 1
        self.report.queues[queue] = self.report.queues.get(queue, 0) + len(chunk)
        score_item.apply_async(([i.to_task() for i in chunk], self.opts), queue=queue, task_id=task_id)

    def _poll(self) -> list[tuple[str, dict]]:
        """(task id, meta) of the outstanding tasks that have a state; finished ones are deleted."""
        backend = self.app.backend
        ids = list(self.items)
        found, finished = [], []
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            for task_id, raw in zip(chunk, self.client.mget([backend.get_key_for_task(t) for t in chunk]), strict=True):
                if raw is None:
                    continue
                meta = backend.decode_result(raw)
                found.append((task_id, meta))
                if meta.get("status") in ("SUCCESS", "FAILURE", "REVOKED"):
                    finished.append(backend.get_key_for_task(task_id))
        if finished:
            self.client.delete(*finished)
        return found

    # --- the run ------------------------------------------------------------------------------------

    def run(self) -> Generator[ItemOutcome, None, None]:
        last_check = time.monotonic()
        try:
            self._mark()
            for n, chunk in enumerate(chunks(self.plan.todo, self.settings.batch_chunk), 1):
                self._send(chunk)
                if n % 100 == 0 and time.monotonic() - last_check >= self.settings.batch_heartbeat_s:
                    last_check = time.monotonic()
                    self._mark()  # sending 100,000 items takes longer than the mark lives
            self.live = set().union(*workers_by_queue(self.app, self.queues).values())
            self._snapshot()
            while self.items:
                for task_id, meta in self._poll():
                    outcomes = self._outcomes(task_id, meta)
                    if outcomes:
                        self._snapshot()  # the progress lines written for these outcomes show it
                        yield from outcomes
                now = time.monotonic()
                if now - last_check >= self.settings.batch_heartbeat_s:
                    last_check = now
                    self._mark()
                    yield from self._check()
                    self._mark()
                self._snapshot()
                if self.items:
                    time.sleep(POLL_S)
        finally:
            self._end()

    def _outcomes(self, task_id: str, meta: dict) -> list[ItemOutcome]:
        """The outcomes of a finished task, one per item of its chunk; none while it runs."""
        chunk = self.items[task_id]
        status, value = meta.get("status"), meta.get("result")
        if status == "STARTED":
            if isinstance(value, dict) and value.get("hostname"):
                self.started_by[task_id] = value["hostname"]
            return []
        if status not in ("SUCCESS", "FAILURE", "REVOKED"):
            return []
        self._forget(task_id)
        results: list[dict] = value if isinstance(value, list) else []
        done = status == "SUCCESS" and len(results) == len(chunk)
        if done and all(v.get("status") == "cancelled" for v in results):
            # Our mark expired under a stalled driver, or a stale copy: not the items' fault; again.
            self.tries[chunk[0].key] -= 1
            self._send(chunk)
            return []
        if done:
            outcomes = [ItemOutcome(**v) for v in results]
        else:
            outcomes = [ItemOutcome(i.key, i.source, "failed", f"task {status}: {value!r}", i.interaction_id) for i in chunk]
        for outcome in outcomes:
            if outcome.worker:
                self.done_by[outcome.worker] = self.done_by.get(outcome.worker, 0) + 1
        return outcomes

    def _forget(self, task_id: str) -> None:
        self.items.pop(task_id, None)
        self.task_queue.pop(task_id, None)
        self.started_by.pop(task_id, None)
        self.suspect.pop(task_id, None)

    def _check(self) -> Iterator[ItemOutcome]:
        """Every heartbeat: who is alive on the queue, who holds what; hand back what was lost."""
        now = time.monotonic()
        by_queue = workers_by_queue(self.app, self.queues)
        self.live = set().union(*by_queue.values())
        outstanding: dict[str, int] = {}
        for queue in self.task_queue.values():
            outstanding[queue] = outstanding.get(queue, 0) + 1
        orphans = [q for q in sorted(outstanding) if not by_queue.get(q)]
        if orphans:
            self.no_worker_since = self.no_worker_since or now
            waited = now - self.no_worker_since
            for queue in orphans:
                self.progress.write(
                    f"qa-engine: batch: no worker consumes queue '{queue}' ({waited:.0f} s); {outstanding[queue]} items "
                    f"outstanding{' there' if len(self.queues) > 1 else ''}; {_start_hint(queue)}"
                )
            if not self.wait and waited >= self.settings.batch_no_worker_s:
                raise ExecutorUnavailable(
                    f"no Celery worker has consumed queue {_names(orphans)} for {waited:.0f} s (QA_BATCH_NO_WORKER_S); "
                    f"{sum(outstanding[q] for q in orphans)} items not done; {_start_hint(orphans[0])}, then run the "
                    "same command again (or use --wait-for-workers)"
                )
        else:
            self.no_worker_since = None
        queued: dict[str, int] = {}
        with self.app.connection_for_read() as conn:  # (a declare, not passive: kombu's Redis needs no binding then)
            for queue in outstanding:
                queued[queue] = conn.default_channel.queue_declare(queue=queue, durable=True, auto_delete=False).message_count
        # Only a task some worker started, or any when none can be waiting in its queue, may be lost.
        candidates = [t for t in self.items if t in self.started_by or queued.get(self.task_queue[t]) == 0]
        for task_id in set(self.suspect) - set(candidates):
            del self.suspect[task_id]
        if not candidates:
            return
        held: set[str] = set()
        if self.live:
            replies = (
                self.app.control.inspect(
                    destination=sorted(self.live), timeout=INSPECT_TIMEOUT_S, limit=len(self.live)
                ).query_task(*candidates)
                or {}
            )
            for tasks in replies.values():
                held.update(tasks or {})
            if set(replies) != self.live:
                return  # a worker did not answer in time: cannot tell what it holds; next time
        lost = []
        for task_id in candidates:
            if task_id in held:
                self.suspect.pop(task_id, None)
                continue
            self.suspect[task_id] = self.suspect.get(task_id, 0) + 1
            if self.suspect[task_id] >= 2:
                lost.append(task_id)
        for task_id in lost:
            yield from self._hand_back(task_id)

    def _hand_back(self, task_id: str) -> Iterator[ItemOutcome]:
        from qa_engine.batch.celery_app import SUPERSEDED_KEY

        chunk = self.items[task_id]
        worker = self.started_by.get(task_id, "a worker")
        tries = self.tries.get(chunk[0].key, 1)
        self.client.sadd(SUPERSEDED_KEY.format(self.run_id), task_id)
        self._forget(task_id)
        if tries >= self.settings.batch_max_tries:
            for item in chunk:
                yield self._fail_lost(item, worker, tries)
            return
        what = chunk[0].key if len(chunk) == 1 else f"{chunk[0].key} and {len(chunk) - 1} more items"
        self.progress.write(
            f"qa-engine: batch: {what}: {worker} no longer holds it (worker lost); handed back "
            f"(try {tries + 1} of {self.settings.batch_max_tries})"
        )
        self.report.handed_back += len(chunk)
        self._send(chunk)

    def _fail_lost(self, item: BatchItem, worker: str, tries: int) -> ItemOutcome:
        from qa_engine.batch.worker import expected_versions, record_failure
        from qa_engine.store.db import Database

        held_by = f"{worker} was holding it" if worker != "a worker" else "a worker took it from the queue and no longer holds it"
        reason = f"worker lost: {held_by} ({tries} tr{'y' if tries == 1 else 'ies'}, QA_BATCH_MAX_TRIES)"
        db = Database(self.options.database_url)
        try:
            versions = expected_versions(self.inspector, self.settings, item.is_audio)
            return record_failure(db, item, self.options, reason, item.interaction_id, versions)
        finally:
            db.dispose()

    def _snapshot(self) -> None:
        running: dict[str, int] = {}
        for node in self.started_by.values():
            running[node] = running.get(node, 0) + 1
        nodes = sorted(set(running) | set(self.done_by) | self.live)
        per = ", ".join(
            f"{n}{'' if n in self.live else ' (gone)'} {self.done_by.get(n, 0)} done {running.get(n, 0)} running" for n in nodes
        )
        per_queue = ""
        if len(self.queues) > 1:
            waiting: dict[str, int] = {}
            for task_id, queue in self.task_queue.items():
                if task_id not in self.started_by:
                    waiting[queue] = waiting.get(queue, 0) + 1
            per_queue = " (" + ", ".join(f"{q} {waiting.get(q, 0)}" for q in self.queues) + ")"
        self.snapshot = f"queued {len(self.items) - sum(running.values())}{per_queue} running {sum(running.values())}" + (
            f"; workers: {per}" if per else "; no worker"
        )
