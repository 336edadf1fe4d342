"""Background processing of uploaded audio: one worker thread transcribes and scores, one job at a time
(Whisper uses the cores it is given; two at once would only slow both down).

Job state lives in `ingest_jobs`, so a restarted server picks up what was queued or running.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import select

from api.metrics import Metrics
from api.scoring import Scorer
from qa_engine.schema import Interaction
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
        """Queue again the jobs a previous process left queued or running."""
        with self.db.session() as session:
            ids = list(
                session.scalars(
                    select(IngestJob.id).where(IngestJob.status.in_(("queued", "running"))).order_by(IngestJob.created_at)
                )
            )
        for job_id in ids:
            self.submit(job_id)
        return len(ids)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def run(self, job_id: str) -> None:
        with self.db.session() as session:
            job = session.get(IngestJob, job_id)
            if job is None or job.status == "done":
                return
            job.status = "running"
            job.error = None
            item = Interaction.model_validate(
                {**job.fields, "interaction_id": job.interaction_id, "channel": "call", "audio_path": job.audio_file}
            )
            content_hash, actor = job.content_hash, job.created_by
        started = time.perf_counter()
        try:
            prepared, result = self.scorer.score_upload(item)
            self.metrics.inspect_seconds.observe(time.perf_counter() - started)
            with self.db.session() as session:
                existing = repo.current_result(session, item.interaction_id)
                res = repo.save_result(session, prepared, result, content_hash=content_hash, report_tz=self.report_tz)
                repo.audit(
                    session, actor, "interaction.ingest_audio", "interaction", item.interaction_id,
                    result_id=res.id, job_id=job_id, content_hash=content_hash,
                    replaced=existing.id if existing is not None else None,
                )  # fmt: skip
                job = session.get(IngestJob, job_id)
                job.status, job.result_id = "done", res.id
            self.metrics.ingested.labels("changed" if existing is not None else "new").inc()
            self.metrics.flags.labels(result.flag).inc()
        except Exception as exc:  # noqa: BLE001 - a bad recording fails its job, not the worker
            log.warning("audio job %s failed: %s", job_id, exc)
            with self.db.session() as session:
                job = session.get(IngestJob, job_id)
                job.status = "failed"
                job.error = f"{type(exc).__name__}: {exc}"[:2000]
