"""Queued interactions: accept many at once, claim a batch for scoring, store the scored batch.

The interactions are stored, PII already redacted, as `ingest_jobs` rows of kind `interaction`
(status `queued`) in the accepting request's one transaction; a scorer claims the oldest queued jobs
(`running`, with its claim token), scores them outside any transaction, then stores the results and
marks the jobs `done` or `failed`. A job whose claim was taken over meanwhile (a restarted process
requeued it) is left to the new claimant, so a result is stored once.

A finished job (done or failed) keeps no payload: `fields` is emptied in the transaction that
finishes it. Nothing reads it again: a failed interaction sent again is a new job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.engine import Result as DbResult
from sqlalchemy.orm import Session

from qa_engine.schema import Interaction, Result
from qa_engine.store import repository as repo
from qa_engine.store.models import IngestJob, InteractionRow, ResultRow
from qa_engine.store.types import utcnow
from qa_engine.text.redact import redact_interaction

KIND = "interaction"
PENDING = ("queued", "running")


@dataclass
class Accepted:
    """One item of an accepting request: its job (new, or the existing one of a duplicate)."""

    index: int
    job: IngestJob
    duplicate: bool


def new_id() -> str:
    return uuid.uuid4().hex


def accept(
    session: Session, items: list[Interaction], *, actor: str, batch_id: str | None = None, redact: bool = True
) -> list[Accepted]:
    """Queue `items` (flushes, does not commit). The same content as a queued or running job, or as
    the stored current result, is a duplicate: the existing job is returned and nothing is queued
    (a current result stored without a job gets a job that is already done, pointing at it).

    An item naming another agent or team than its stored interaction raises `OwnerConflict` (with
    the item's index) and nothing is queued; one that slips through (its interaction stored after
    this) fails its job when stored (`store_scored`).

    `redact` (QA_REDACT_PII): the payload is stored redacted, so the personal data sent is never
    written in clear; scoring redacts it again, which changes nothing. The content hash is the
    received content's, as for an interaction scored on arrival."""
    hashes = [repo.content_hash(item) for item in items]
    payloads = [(redact_interaction(item) if redact else item).model_dump(mode="json", exclude_none=True) for item in items]
    ids = sorted({item.interaction_id for item in items})
    known: dict[tuple[str, str], IngestJob] = {}
    done: dict[tuple[str, str], IngestJob] = {}
    current: dict[str, tuple[int, str]] = {}
    owners: dict[str, tuple[str | None, str | None]] = {}
    for chunk in _chunks(ids, 500):
        for row in session.scalars(
            select(IngestJob)
            .where(IngestJob.kind == KIND, IngestJob.interaction_id.in_(chunk), IngestJob.status != "failed")
            .order_by(IngestJob.created_at)
        ):
            (known if row.status in PENDING else done)[(row.interaction_id, row.content_hash)] = row
        for iid, rid, digest, agent_id, team_id in session.execute(
            select(
                ResultRow.interaction_id, ResultRow.id, ResultRow.content_hash, InteractionRow.agent_id,
                InteractionRow.team_id,
            )
            .join(InteractionRow, InteractionRow.id == ResultRow.interaction_id)
            .where(ResultRow.interaction_id.in_(chunk), ResultRow.is_current.is_(True))
        ):  # fmt: skip
            current[iid] = (rid, digest)
            owners[iid] = (agent_id, team_id)
    for index, item in enumerate(items):
        if item.interaction_id in owners:
            repo.check_owner(item, *owners[item.interaction_id], index=index)
    now = utcnow()

    def at(index: int) -> datetime:  # the scorer takes jobs oldest first: keep the order sent
        return now + timedelta(microseconds=index)

    out: list[Accepted] = []
    fresh: list[IngestJob] = []
    for index, (item, payload, digest) in enumerate(zip(items, payloads, hashes, strict=True)):
        key = (item.interaction_id, digest)
        job = known.get(key)
        if job is not None:
            out.append(Accepted(index, job, True))
            continue
        stored = current.get(item.interaction_id)
        if stored is not None and stored[1] == digest:
            job = done.get(key)
            if job is None or job.result_id != stored[0]:
                job = _job(item, digest, payload, actor, batch_id, at(index), status="done", result_id=stored[0])
                fresh.append(job)
                done[key] = job
            out.append(Accepted(index, job, True))
            continue
        job = _job(item, digest, payload, actor, batch_id, at(index))
        fresh.append(job)
        known[key] = job
        out.append(Accepted(index, job, False))
    if fresh:
        session.add_all(fresh)
        session.flush()
    return out


def _job(item, digest, payload, actor, batch_id, now, *, status="queued", result_id=None) -> IngestJob:
    return IngestJob(
        id=new_id(),
        kind=KIND,
        interaction_id=item.interaction_id,
        status=status,
        content_hash=digest,
        fields=payload if status == "queued" else {},  # a finished job keeps no payload
        batch_id=batch_id,
        created_by=actor,
        created_at=now,
        updated_at=now,
        result_id=result_id,
    )


def _chunks(values: list, size: int):
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass
class Claimed:
    job_id: str
    interaction_id: str
    content_hash: str
    fields: dict
    created_by: str
    created_at: datetime


def claim(session: Session, limit: int) -> tuple[str, list[Claimed]]:
    """Mark up to `limit` of the oldest queued interaction jobs running under a new claim token;
    returns the token and the jobs, oldest first. Commit right after (it is one statement)."""
    token = new_id()
    oldest = (
        select(IngestJob.id)
        .where(IngestJob.kind == KIND, IngestJob.status == "queued")
        .order_by(IngestJob.created_at, IngestJob.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)  # concurrent scorers take different jobs
    stmt = (
        update(IngestJob)
        .where(IngestJob.id.in_(oldest.scalar_subquery()), IngestJob.status == "queued")
        .values(status="running", claimed_by=token, updated_at=utcnow(), error=None)
        .returning(
            IngestJob.id,
            IngestJob.interaction_id,
            IngestJob.content_hash,
            IngestJob.fields,
            IngestJob.created_by,
            IngestJob.created_at,
        )
        .execution_options(synchronize_session=False)
    )
    rows = [Claimed(*row) for row in session.execute(stmt)]
    rows.sort(key=lambda c: (c.created_at, c.job_id))
    return token, rows


def _rowcount(result: DbResult[Any]) -> int:
    """The rows an UPDATE matched (session.execute returns a CursorResult for DML)."""
    return cast(CursorResult[Any], result).rowcount


def claim_job(session: Session, job_id: str) -> str | None:
    """Claim one queued job (any kind) under a new token, or None when it is not queued (done, failed,
    or running under another worker's claim). Commit right after."""
    token = new_id()
    result = session.execute(
        update(IngestJob)
        .where(IngestJob.id == job_id, IngestJob.status == "queued")
        .values(status="running", claimed_by=token, updated_at=utcnow(), error=None)
        .execution_options(synchronize_session=False)
    )
    return token if _rowcount(result) else None


def requeue(session: Session, *, kind: str = KIND, older_than: timedelta | None = None) -> int:
    """Put running interaction jobs back in the queue: all of them (a process starting up takes over
    what a stopped one left) or those not touched for `older_than` (a scorer that died). Returns how
    many. A scorer still working on one finds its claim gone and does not store it."""
    stmt = update(IngestJob).where(IngestJob.kind == kind, IngestJob.status == "running")
    if older_than is not None:
        stmt = stmt.where(IngestJob.updated_at < utcnow() - older_than)
    result = session.execute(stmt.values(status="queued", claimed_by=None).execution_options(synchronize_session=False))
    return _rowcount(result) or 0


def pending_count(session: Session) -> int:
    from sqlalchemy import func

    return int(
        session.scalar(select(func.count()).select_from(IngestJob).where(IngestJob.kind == KIND, IngestJob.status.in_(PENDING)))
        or 0
    )


def take(session: Session, job_id: str, token: str, **values) -> bool:
    """Finish a job if this scorer still holds its claim (a row lock until commit on PostgreSQL; the
    write lock on SQLite), emptying its payload. False: the claim was taken over, leave it."""
    result = session.execute(
        update(IngestJob)
        .where(IngestJob.id == job_id, IngestJob.claimed_by == token, IngestJob.status == "running")
        .values(updated_at=utcnow(), fields={}, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(_rowcount(result))


@dataclass
class Outcome:
    """What storing one scored job did: `stored` a new current result, `unchanged` (same content as
    the current result), `failed`, or `lost` (the claim was taken over)."""

    job_id: str
    status: str
    result_id: int | None = None
    flag: str | None = None
    replaced: int | None = None


def store_scored(
    session: Session,
    token: str,
    job: Claimed,
    prepared: Interaction,
    result: Result,
    *,
    report_tz: str = repo.DEFAULT_TZ,
) -> Outcome:
    """Store one scored job's result and mark it done (flushes, does not commit). A job whose
    interaction is stored for another agent or team fails with the reason."""
    try:
        repo.check_stored_owner(session, prepared)
    except repo.OwnerConflict as exc:
        return mark_failed(session, token, job.job_id, str(exc))
    if not take(session, job.job_id, token, status="done"):
        return Outcome(job.job_id, "lost")
    existing = repo.current_result(session, job.interaction_id)
    if existing is not None and existing.content_hash == job.content_hash:
        _set_result(session, job.job_id, existing.id)
        return Outcome(job.job_id, "unchanged", existing.id, existing.flag)
    res = repo.save_result(session, prepared, result, content_hash=job.content_hash, report_tz=report_tz)
    replaced = existing.id if existing is not None else None
    repo.audit(
        session, job.created_by, "interaction.ingest_queued", "interaction", job.interaction_id,
        result_id=res.id, job_id=job.job_id, content_hash=job.content_hash, replaced=replaced,
    )  # fmt: skip
    _set_result(session, job.job_id, res.id)
    return Outcome(job.job_id, "stored", res.id, res.flag, replaced)


def _set_result(session: Session, job_id: str, result_id: int) -> None:
    session.execute(
        update(IngestJob).where(IngestJob.id == job_id).values(result_id=result_id).execution_options(synchronize_session=False)
    )


def mark_failed(session: Session, token: str, job_id: str, error: str) -> Outcome:
    if not take(session, job_id, token, status="failed", error=error[:2000]):
        return Outcome(job_id, "lost")
    return Outcome(job_id, "failed")
