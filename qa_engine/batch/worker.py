"""The batch task: one item transcribed if needed, scored and stored, or recorded as failed.

`run_items` is the one task function: the local process pool calls it and the Celery task wraps it.
Each worker process builds one `BatchWorker` (rules, scorecards and, for recordings, Whisper loaded
once) in its initializer (`init_worker`, Celery: `worker_process_init`).

Per chunk of items: check the ledger (already done with this content and these versions: skipped);
prepare and score outside any transaction; then one transaction claims the chunk's ledger rows,
stores the results through the same write path as the API (`repository.save_results`) and marks
the rows done. A crash before the commit leaves nothing of the chunk; after it, the rerun finds its
rows done. When the chunk's transaction fails, its items are stored one transaction each, so that
one bad item fails alone.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import partial

from sqlalchemy.exc import IntegrityError, OperationalError

from qa_engine.batch.sources import BatchItem, item_content_hash
from qa_engine.config import Settings
from qa_engine.schema import Interaction, Result

log = logging.getLogger(__name__)


@dataclass
class BatchOptions:
    database_url: str
    batch_id: str
    rescore: bool = False
    known_agents: bool = False  # an agent_id not in the agents table (or none) fails the item
    # Look in the ledger before scoring. The local executor planned the run a moment ago and turns
    # it off (two queries less per item); a Celery task may wait in the queue or come back after a
    # lost worker, so there it saves a transcription. Storing checks again either way.
    check_done: bool = True
    run_id: str | None = None  # Celery: the driver run that sent the task (celery_app.skip_reason)

    def to_task(self) -> dict:
        return asdict(self)


@dataclass
class ItemOutcome:
    key: str
    source: str
    status: str  # done | skipped | failed
    reason: str | None = None
    interaction_id: str | None = None
    flag: str | None = None
    score: float | None = None
    audio_seconds: float | None = None
    seconds: float = 0.0  # time spent on the item in the worker
    worker: str | None = None  # Celery: the worker that ran it (its node name)
    queue: str | None = None  # Celery: the queue its task came from

    def to_task(self) -> dict:
        return asdict(self)


def expected_versions(inspector, settings: Settings, audio: bool, asr_version: str | None = None) -> dict:
    """The versions a result of this item carries: the inspector's, plus the ASR model for recordings."""
    versions = inspector.versions
    if audio:
        from qa_engine.asr.backend import planned_version

        versions = {**versions, "models": {**versions.get("models", {}), "asr": asr_version or planned_version(settings)}}
    return versions


@dataclass
class _Ready:
    """An item checked and prepared, waiting to be scored with the others of its chunk."""

    prepared: Interaction
    digest: str
    versions: dict
    vdigest: str


@dataclass
class _Scored:
    """An item scored, waiting to be stored with the others of its chunk."""

    item: BatchItem
    prepared: Interaction
    result: Result
    digest: str
    versions: dict
    vdigest: str
    audio_s: float | None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text if len(text) < 500 else text[:497] + "..."


class BatchWorker:
    """What one worker process keeps loaded: inspector, preparer (Whisper), database engines."""

    def __init__(self, settings: Settings, *, load_asr: bool = False, inspector=None, background_threads: bool = True) -> None:
        """`background_threads` (the engine's): off in pool and Celery processes, which already
        fill the cores."""
        from qa_engine.engine import Inspector
        from qa_engine.pipeline import Preparer

        self.settings = settings
        self.inspector = inspector or Inspector(self.settings, background_threads=background_threads)
        self.preparer = Preparer(self.settings)
        if load_asr:
            self.preparer.transcriber  # noqa: B018 - load Whisper now, once, not on the first recording
        self._databases: dict = {}

    def database(self, url: str):
        if url not in self._databases:
            from qa_engine.store.db import Database

            self._databases[url] = Database(url)
        return self._databases[url]

    def close(self) -> None:
        for db in self._databases.values():
            db.dispose()
        self._databases.clear()

    def versions(self, audio: bool) -> dict:
        asr = self.preparer._transcriber.version if audio and self.preparer._transcriber is not None else None
        return expected_versions(self.inspector, self.settings, audio, asr)

    def run(self, item: BatchItem, options: BatchOptions) -> ItemOutcome:
        return self.run_many([item], options)[0]

    def run_many(self, items: list[BatchItem], options: BatchOptions) -> list[ItemOutcome]:
        """One outcome per item, in order. The items are checked and prepared one by one, scored
        together through Inspector.inspect_many (the models run once per chunk in large batches, not
        once per item), then stored together in one transaction (`_store`): the batch's chat path
        at a fraction of the CPU per item (docs/benchmarks.md). An unexpected error fails its item,
        not the others."""
        outcomes: list[ItemOutcome | None] = [None] * len(items)
        seconds = [0.0] * len(items)
        ready: list[tuple[int, _Ready]] = []
        for n, item in enumerate(items):
            started = time.perf_counter()
            step = self._guarded(item, options, partial(self._prepare, item, options))
            seconds[n] = time.perf_counter() - started
            if isinstance(step, ItemOutcome):
                outcomes[n] = step
            else:
                ready.append((n, step))
        started = time.perf_counter()
        results = self._score([r.prepared for _, r in ready])
        share = (time.perf_counter() - started) / max(1, len(ready))  # the chunk's scoring, split evenly
        scored: list[tuple[int, _Scored]] = []
        for (n, r), result in zip(ready, results, strict=True):
            started = time.perf_counter()
            step = self._guarded(items[n], options, partial(self._finish, items[n], options, r, result))
            seconds[n] += share + time.perf_counter() - started
            if isinstance(step, ItemOutcome):
                outcomes[n] = step
            else:
                scored.append((n, step))
        if scored:
            started = time.perf_counter()
            stored = self._store([s for _, s in scored], options)
            share = (time.perf_counter() - started) / len(scored)
            for (n, _), outcome in zip(scored, stored, strict=True):
                outcomes[n] = outcome
                seconds[n] += share
        done = [o for o in outcomes if o is not None]
        assert len(done) == len(items)  # every item prepared, scored and stored, or failed on the way
        for outcome, spent in zip(done, seconds, strict=True):
            outcome.seconds = spent
        return done

    def _guarded(self, item: BatchItem, options: BatchOptions, step):
        try:
            return step()
        except Exception as exc:  # noqa: BLE001 - an unexpected error fails this item, not the batch
            log.exception("batch item %s", item.key)
            return self._fail(item, options, f"internal error: {exc.__class__.__name__}: {_one_line(exc)}", None, {})

    def _score(self, prepared: list[Interaction]) -> list:
        """Results (or each item's ValueError) of inspect_many; if the chunk itself fails, item by
        item, so that the error stays with the item that caused it."""
        try:
            return list(self.inspector.inspect_many(prepared))
        except Exception:  # noqa: BLE001 - isolated below
            out: list = []
            for item in prepared:
                try:
                    out.append(self.inspector.inspect(item))
                except Exception as exc:  # noqa: BLE001 - this item's outcome (ValueError: no turns)
                    out.append(exc)
            return out

    def _prepare(self, item: BatchItem, options: BatchOptions) -> ItemOutcome | _Ready:
        """Checks (record, content hash, ledger, known agent) and preparation (transcription,
        redaction): an outcome when the item ends here, else what scoring and storing need."""
        from qa_engine.asr.audio import AudioError
        from qa_engine.asr.model import ModelError
        from qa_engine.io import parse_record
        from qa_engine.store import ledger

        if item.error is not None:
            return self._fail(item, options, item.error, None, self.versions(False))
        try:
            interaction = parse_record(item.record, self.settings)
        except ValueError as exc:
            return self._fail(item, options, _one_line(exc), None, self.versions(False))
        iid = interaction.interaction_id
        versions = self.versions(item.is_audio)
        try:
            digest = item_content_hash(item, interaction)
        except OSError as exc:
            return self._fail(item, options, f"cannot read {exc.filename or ''}: {exc.strerror or exc}".strip(), iid, versions)
        vdigest = ledger.versions_hash(versions)
        db = self.database(options.database_url)
        with db.sessionmaker() as session:
            if options.check_done and ledger.is_done(
                session, item.key, digest, vdigest, interaction_id=iid, rescore=options.rescore, batch_id=options.batch_id
            ):
                return ItemOutcome(item.key, item.source, "skipped", "already scored", iid)
            if options.known_agents:
                reason = self._unknown_agent(session, interaction)
                if reason:
                    return self._fail(item, options, reason, iid, versions, digest)
        try:
            roles = (item.channel_roles[0], item.channel_roles[1]) if item.channel_roles else None  # left, right
            prepared = self.preparer.prepare(interaction, channel_roles=roles)
        except (ValueError, AudioError, ModelError) as exc:  # AudioError is a ValueError
            return self._fail(item, options, _one_line(exc), iid, versions, digest)
        if item.is_audio:
            versions = self.versions(True)  # the loaded model's own version string
            vdigest = ledger.versions_hash(versions)
        return _Ready(prepared, digest, versions, vdigest)

    def _finish(self, item: BatchItem, options: BatchOptions, ready: _Ready, result) -> ItemOutcome | _Scored:
        if isinstance(result, Exception):  # ValueError: no turns to inspect; else the engine's own failure
            reason = (
                _one_line(result)
                if isinstance(result, ValueError)
                else f"internal error: {result.__class__.__name__}: {_one_line(result)}"
            )
            return self._fail(item, options, reason, ready.prepared.interaction_id, ready.versions, ready.digest)
        result.versions = ready.versions
        prepared = ready.prepared
        audio_s = (prepared.metadata.get("asr") or {}).get("duration_s") if item.is_audio else None
        return _Scored(item, prepared, result, ready.digest, ready.versions, ready.vdigest, audio_s)

    @staticmethod
    def _unknown_agent(session, interaction: Interaction) -> str | None:
        from qa_engine.store.models import Agent

        if not interaction.agent_id:
            return "no agent_id (--known-agents requires one)"
        if session.get(Agent, interaction.agent_id) is None:
            return f"unknown agent {interaction.agent_id!r} (not in the agents table)"
        return None

    def _store(self, scored: list[_Scored], options: BatchOptions) -> list[ItemOutcome]:
        """Store the scored items in one transaction (ledger claims, results, ledger outcomes, one
        commit). When that fails (an owner conflict, a row another worker wrote meanwhile, a bad
        value), nothing of it stays and the items are stored one transaction each, so that the error
        fails only its own item."""
        if len(scored) > 1:
            try:
                return _transaction(self.database(options.database_url), partial(self._write, scored, options), tries=1)
            except Exception as exc:  # noqa: BLE001 - each item again, alone, below
                log.info(
                    "batch: a chunk of %d items could not be stored together (%s); storing them one by one",
                    len(scored),
                    _one_line(exc),
                )
        return [self._guarded(s.item, options, partial(self._store_one, s, options)) for s in scored]

    def _store_one(self, s: _Scored, options: BatchOptions) -> ItemOutcome:
        from qa_engine.store import repository

        iid = s.prepared.interaction_id
        try:
            return _transaction(self.database(options.database_url), partial(self._write, [s], options))[0]
        except repository.OwnerConflict as exc:  # stored for another agent or team: this item fails
            return self._fail(s.item, options, str(exc), iid, s.versions, s.digest)
        except (IntegrityError, OperationalError) as exc:
            return self._fail(s.item, options, f"could not store: {_one_line(exc)}", iid, s.versions, s.digest)

    def _write(self, scored: list[_Scored], options: BatchOptions, session) -> list[ItemOutcome]:
        """In `session`: claim the items' ledger rows, store the results of those not done meanwhile
        by another worker (through the API's write path, `repository.save_results`), mark them done."""
        from qa_engine.store import ledger, repository

        claims = ledger.claim(
            session,
            [ledger.Entry(s.item.key, s.digest, s.vdigest, s.versions, s.item.source) for s in scored],
            batch_id=options.batch_id,
        )
        outcomes = [
            ItemOutcome(s.item.key, s.item.source, "skipped", "already scored", s.prepared.interaction_id)
            if c.before == "done" and (not options.rescore or c.batch_id == options.batch_id)  # stored by another worker
            else None
            for s, c in zip(scored, claims, strict=True)
        ]
        todo = [(s, c) for s, c, o in zip(scored, claims, outcomes, strict=True) if o is None]
        if not todo:
            session.rollback()
            return outcomes  # type: ignore[return-value]
        ledger.release(session, [c for c, o in zip(claims, outcomes, strict=True) if o is not None])
        stored = repository.save_results(
            session, [(s.prepared, s.result, s.digest) for s, _ in todo], report_tz=self.settings.report_timezone
        )
        ledger.finish(
            session,
            [
                ledger.done(c, interaction_id=s.prepared.interaction_id, result=res, batch_id=options.batch_id,
                            source=s.item.source, audio_seconds=s.audio_s)
                for (s, c), res in zip(todo, stored, strict=True)
            ],
        )  # fmt: skip
        done = iter(todo)
        for n, outcome in enumerate(outcomes):
            if outcome is None:
                s, _ = next(done)
                outcomes[n] = ItemOutcome(
                    s.item.key, s.item.source, "done", None, s.prepared.interaction_id, s.result.flag, s.result.score, s.audio_s
                )
        return outcomes  # type: ignore[return-value]

    def _fail(self, item, options, reason: str, iid: str | None, versions: dict, digest: str | None = None) -> ItemOutcome:
        return record_failure(self.database(options.database_url), item, options, reason, iid, versions, digest)


def _transaction(db, write, tries: int = 3):
    """`write(session)` in a transaction, then commit; again (up to `tries`) when it raises
    IntegrityError (a row it writes was written concurrently: the next try finds it) or
    OperationalError (SQLite busy past its timeout). The one retry loop of the ledger's writers."""
    for attempt in range(tries):
        with db.sessionmaker() as session:
            try:
                out = write(session)
                session.commit()
                return out
            except (IntegrityError, OperationalError):
                session.rollback()
                if attempt == tries - 1:
                    raise
    raise AssertionError("unreachable")


def record_failure(
    db, item: BatchItem, options: BatchOptions, reason: str, iid: str | None, versions: dict, digest: str | None = None
) -> ItemOutcome:
    """Record the failure in the ledger (its own transaction); a row already done is left as it is."""
    from qa_engine.store import ledger

    outcome = ItemOutcome(item.key, item.source, "failed", reason, iid)
    # info: `qa-engine batch` prints each failure itself; a Celery worker logs info and above by default
    log.info(
        "batch item failed: %s: %s",
        item.key,
        reason,
        extra={"item": item.key, "source": item.source, "reason": reason, "interaction_id": iid},
    )
    try:
        digest = digest or item_content_hash(BatchItem(key=item.key, source=item.source, error=reason))
        entry = ledger.Entry(item.key, digest, ledger.versions_hash(versions), versions, item.source)

        def write(session) -> None:
            (claim,) = ledger.claim(session, [entry], batch_id=options.batch_id)
            if claim.before == "done":
                session.rollback()  # done meanwhile: it stays done
            else:
                ledger.finish(
                    session,
                    [ledger.failed(claim, reason=reason, interaction_id=iid, batch_id=options.batch_id, source=item.source)],
                )

        _transaction(db, write)
    except Exception as exc:  # noqa: BLE001 - the outcome still reports the failure
        log.error("could not record failure of %s: %s", item.key, exc)
        outcome.reason = f"{reason} (not recorded: {_one_line(exc)})"
    return outcome


# --- the process-wide worker and the task function -------------------------------------------------

_worker: BatchWorker | None = None


def init_worker(settings: Settings, load_asr: bool = False, threads: int | None = None, die_with_parent: bool = False) -> None:
    """Process initializer: load the models once for every item this process will handle, with the
    settings of the process that started it (the batch run's, or the Celery worker's)."""
    global _worker
    if die_with_parent:
        _die_with_parent()
    if threads is not None:
        settings = settings.model_copy(update={"asr_threads": threads, "onnx_threads": threads})
    # one of several processes sharing the cores: parallelism comes from them, not from threads
    _worker = BatchWorker(settings, load_asr=load_asr, background_threads=False)


def pool_threads(processes: int, settings: Settings) -> int | None:
    """ASR and ONNX threads for each of `processes` worker processes on this machine: the cores split
    between them, unless QA_ASR_THREADS / QA_ONNX_THREADS are set (None: keep the settings). The one
    rule for the local pool (`--workers N`) and Celery workers (`qa-engine worker -c N`)."""
    if {"asr_threads", "onnx_threads"} & settings.model_fields_set:
        return None
    return max(1, (os.cpu_count() or 1) // processes)


def set_worker(worker: BatchWorker | None) -> None:
    global _worker
    _worker = worker


def run_items(items: list[dict], options: dict) -> list[dict]:
    """The task of a chunk of items (the local pool's and Celery's: chats in chunks, scored and stored
    together; a recording alone): JSON in and out."""
    if _worker is None:  # the pool's initializer and Celery's worker_process_init load it first
        raise RuntimeError("no batch worker in this process: init_worker(settings) has not run")
    outcomes = _worker.run_many([BatchItem.from_task(i) for i in items], BatchOptions(**options))
    return [o.to_task() for o in outcomes]


def chunks(items: list[BatchItem], size: int) -> Iterator[list[BatchItem]]:
    """Chat items in chunks of up to `size`, in order; a recording alone (its transcription is the
    item's cost, and progress then moves per call)."""
    chunk: list[BatchItem] = []
    for item in items:
        if item.is_audio:
            if chunk:
                yield chunk
                chunk = []
            yield [item]
            continue
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _die_with_parent() -> None:
    """Linux: a pool process is killed when the batch process dies (even by kill -9), instead of
    scoring on as an orphan."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


__all__ = [
    "BatchOptions",
    "BatchWorker",
    "ItemOutcome",
    "expected_versions",
    "init_worker",
    "pool_threads",
    "record_failure",
    "chunks",
    "run_items",
]
