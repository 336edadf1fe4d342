"""Background work of the API, with its state in `ingest_jobs` (a restarted server picks up what was
queued or running):

- `AudioJobs`: uploaded audio; one worker thread transcribes and scores, one job at a time (Whisper
  uses the cores it is given; two at once would only slow both down).
- `InteractionQueue`: interactions queued by `POST /v1/interactions?wait=false` and
  `POST /v1/interactions/bulk`; one thread per server process claims the oldest queued jobs in
  batches, scores them and stores the batch in one transaction. A job that cannot be scored or
  stored fails alone, with its reason; the others of its batch are stored.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from api.metrics import Metrics
from api.scoring import Scorer
from qa_engine.schema import Interaction, Result
from qa_engine.store import queue
from qa_engine.store import repository as repo
from qa_engine.store.db import Database
from qa_engine.store.models import IngestJob

log = logging.getLogger(__name__)


class AudioJobs:
    def __init__(self, db: Database, scorer: Scorer, metrics: Metrics, report_tz: str) -> None:
        self.db = db
        self.scorer = scorer
        self.metrics = metrics
        self.report_tz = report_tz
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audio-job")

    def submit(self, job_id: str) -> Future:
        return self._executor.submit(self.run, job_id)

    def resume(self) -> int:
        """Queue again the jobs a previous process left queued or running (a running one's claim is
        dropped: a worker still on it finds its claim gone and stores nothing)."""
        with self.db.session() as session:
            queue.requeue(session, kind="audio")
            ids = list(
                session.scalars(
                    select(IngestJob.id)
                    .where(IngestJob.kind == "audio", IngestJob.status == "queued")
                    .order_by(IngestJob.created_at)
                )
            )
        for job_id in ids:
            self.submit(job_id)
        return len(ids)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def run(self, job_id: str) -> None:
        # Claimed, not just read: with `--workers N` every process resumes the same queued jobs, and
        # only the one whose claim holds transcribes and stores.
        with self.db.session() as session:
            token = queue.claim_job(session, job_id)
            if token is None:
                return
            job = session.get_one(IngestJob, job_id)  # claimed above
            item = Interaction.model_validate(
                {**job.fields, "interaction_id": job.interaction_id, "channel": "call", "audio_path": job.audio_file}
            )
            content_hash, actor = job.content_hash, job.created_by
        started = time.perf_counter()
        try:
            prepared, result = self.scorer.score_upload(item)
            self.metrics.inspect_seconds.observe(time.perf_counter() - started)
            with self.db.session() as session:
                if not queue.take(session, job_id, token, status="done"):
                    log.info("audio job %s was taken over by another worker; not stored here", job_id)
                    return
                existing = repo.current_result(session, item.interaction_id)
                res = repo.save_result(session, prepared, result, content_hash=content_hash, report_tz=self.report_tz)
                repo.audit(
                    session, actor, "interaction.ingest_audio", "interaction", item.interaction_id,
                    result_id=res.id, job_id=job_id, content_hash=content_hash,
                    replaced=existing.id if existing is not None else None,
                )  # fmt: skip
                session.get_one(IngestJob, job_id).result_id = res.id
            self.metrics.ingested.labels("changed" if existing is not None else "new").inc()
            self.metrics.flags.labels(result.flag).inc()
        except Exception as exc:  # noqa: BLE001 - a bad recording fails its job, not the worker
            log.warning("audio job %s failed: %s", job_id, exc)
            with self.db.session() as session:
                queue.take(session, job_id, token, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])


class InteractionQueue:
    """Scores queued interactions in the background: one thread, batches of `batch_size` jobs.

    Every server process runs one (uvicorn `--workers N`: N scorers); claims keep them from taking
    the same job (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on SQLite).
    """

    def __init__(
        self,
        db: Database,
        scorer: Scorer,
        metrics: Metrics,
        report_tz: str,
        *,
        batch_size: int = 32,
        poll_seconds: float = 2.0,
        stale_after: timedelta = timedelta(minutes=30),
    ) -> None:
        self.db = db
        self.scorer = scorer
        self.metrics = metrics
        self.report_tz = report_tz
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.stale_after = stale_after
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def resume(self) -> int:
        """Take over the jobs a stopped process left running, start the scorer; returns how many
        jobs are waiting."""
        with self.db.session() as session:
            queue.requeue(session)
            waiting = queue.pending_count(session)
        self.start()
        self.notify()
        return waiting

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="interaction-queue", daemon=True)
            self._thread.start()

    def notify(self) -> None:
        """New jobs were committed: look now rather than at the next poll."""
        self._wake.set()

    def shutdown(self, timeout: float = 60) -> None:
        """Stop after the batch in hand (its jobs are stored or, if cut off, requeued on restart)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        last_sweep = 0.0
        while not self._stop.is_set():
            try:
                done = self.run_once()
                if not done and time.monotonic() - last_sweep > 60:
                    with self.db.session() as session:
                        if n := queue.requeue(session, older_than=self.stale_after):
                            log.warning("requeued %d queued interactions left running by a stopped scorer", n)
                    last_sweep = time.monotonic()
            except Exception:  # noqa: BLE001 - the database may be away for a while; try again later
                log.exception("queued scoring: a round failed; retrying")
                done = 0
            if not done:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def run_once(self) -> int:
        """Claim, score and store one batch; returns how many jobs it took (0: the queue is empty)."""
        with self.db.session() as session:
            token, jobs = queue.claim(session, self.batch_size)
        if not jobs:
            return 0
        started = time.perf_counter()
        outcomes = self.scorer.score_many([job.fields for job in jobs])  # a bad interaction fails its job, not the batch
        # the batch is scored as a whole: each job is counted with the batch's time divided evenly
        per_item = (time.perf_counter() - started) / len(jobs)
        scored: list[tuple[queue.Claimed, Interaction | None, Result | None, str | None]] = []
        for job, (prepared, result, exc) in zip(jobs, outcomes, strict=True):
            if exc is None:
                self.metrics.inspect_seconds.observe(per_item)
                scored.append((job, prepared, result, None))
            else:
                log.warning("queued interaction %s (job %s) failed: %s", job.interaction_id, job.job_id, exc)
                scored.append((job, None, None, f"{type(exc).__name__}: {exc}"))
        try:
            with self.db.session() as session:
                stored = [self._store(session, token, *entry) for entry in scored]
        except Exception:  # noqa: BLE001 - one job's row could not be stored: store them one by one
            log.warning("storing a batch of %d queued interactions failed; storing one by one", len(scored), exc_info=True)
            stored = [self._store_alone(token, entry) for entry in scored]
        for outcome in stored:
            if outcome.status == "stored":
                self.metrics.ingested.labels("changed" if outcome.replaced is not None else "new").inc()
                self.metrics.flags.labels(outcome.flag).inc()
            elif outcome.status == "unchanged":
                self.metrics.ingested.labels("unchanged").inc()
        return len(jobs)

    def _store(self, session, token, job, prepared, result, error) -> queue.Outcome:
        if error is not None:
            return queue.mark_failed(session, token, job.job_id, error)
        return queue.store_scored(session, token, job, prepared, result, report_tz=self.report_tz)

    def _store_alone(self, token: str, entry) -> queue.Outcome:
        job = entry[0]
        error: Exception
        for attempt in range(3):
            try:
                with self.db.session() as session:
                    return self._store(session, token, *entry)
            except (IntegrityError, OperationalError) as exc:  # stored concurrently, or locked: again
                error = exc
                time.sleep(0.1 * (attempt + 1))
            except Exception as exc:  # noqa: BLE001 - e.g. a value the database cannot hold
                error = exc
                break
        log.warning("queued interaction %s (job %s) not stored: %s", job.interaction_id, job.job_id, error)
        with self.db.session() as session:
            return queue.mark_failed(session, token, job.job_id, f"{type(error).__name__}: {error}")


class GroupAcceptor:
    """Queues single interactions (`POST /v1/interactions?wait=false`) with group commit: requests
    arriving while a transaction is being written wait for the next one, which takes all of them.
    One commit per group instead of one per request (a commit is the dearest part of a request that
    only stores, and SQLite has one writer at a time)."""

    def __init__(self, db: Database, *, redact: bool = True) -> None:
        self.db = db
        self.redact = redact  # store the queued payloads redacted (QA_REDACT_PII)
        self._lock = threading.Lock()
        self._pending: list[tuple[Interaction, str, Future]] = []
        self._writing = False

    def accept(self, item: Interaction, actor: str) -> queue.Accepted:
        """Queue `item` (committed when this returns); raises what storing it raised."""
        future: Future = Future()
        with self._lock:
            self._pending.append((item, actor, future))
            lead = not self._writing
            self._writing = self._writing or lead
        if lead:  # write groups until nothing is waiting; the others only wait for their future
            while True:
                with self._lock:
                    group, self._pending = self._pending, []
                    if not group:
                        self._writing = False
                        break
                self._write(group)
        return future.result()

    def _write(self, group: list[tuple[Interaction, str, Future]]) -> None:
        try:
            with self.db.session() as session:
                results = self._store(session, [(item, actor) for item, actor, _ in group])
        except Exception:  # noqa: BLE001 - one bad item must not fail the others: one by one
            for item, actor, future in group:
                try:
                    with self.db.session() as session:
                        future.set_result(self._store(session, [(item, actor)])[0])
                except Exception as exc:  # noqa: BLE001 - reported to its own request
                    future.set_exception(exc)
            return
        for (_, _, future), accepted in zip(group, results, strict=True):
            future.set_result(accepted)

    def _store(self, session, items: list[tuple[Interaction, str]]) -> list[queue.Accepted]:
        by_actor: dict[str, list[int]] = {}
        for i, (_, actor) in enumerate(items):
            by_actor.setdefault(actor, []).append(i)
        out: list[queue.Accepted | None] = [None] * len(items)
        for actor, positions in by_actor.items():
            accepted = queue.accept(session, [items[i][0] for i in positions], actor=actor, redact=self.redact)
            for i, a in zip(positions, accepted, strict=True):
                out[i] = a
                if not a.duplicate:
                    repo.audit(session, actor, "interaction.queue", "interaction", a.job.interaction_id, job_id=a.job.id)
        return out  # type: ignore[return-value]
