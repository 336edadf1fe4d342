"""Audio upload: the recording is stored, then transcribed, scored and saved in the background."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, Response, UploadFile, status
from pydantic import ValidationError
from sqlalchemy import select

from api import views
from api.deps import ConfigDep, Ingestor, SessionDep
from api.openapi import errors
from api.schemas import JobOut
from api.security import Principal
from qa_engine.schema import Interaction, IsoDateTime, check_limits
from qa_engine.store import repository as repo
from qa_engine.store.models import IngestJob, ResultRow
from qa_engine.text.redact import redact_value

router = APIRouter(prefix="/v1", tags=["interactions"])

CHUNK = 1 << 20
SUFFIXES = {".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus", ".amr", ".wma", ".webm", ".mp4"}


def job_out(session, job: IngestJob) -> JobOut:
    res = session.get(ResultRow, job.result_id) if job.result_id else None
    return views.job_out(job, res.score if res else None, res.flag if res else None)


def _save(upload: UploadFile, directory: Path, job_id: str, max_bytes: int) -> tuple[Path, str, int]:
    """Stream the upload to disk while hashing it; refuse it past `max_bytes`."""
    suffix = Path(upload.filename or "").suffix.lower()
    path = directory / f"{job_id}{suffix if suffix in SUFFIXES else '.audio'}"
    digest = hashlib.sha256()
    size = 0
    directory.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("wb") as out:
            while chunk := upload.file.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise HTTPException(413, f"audio file larger than {max_bytes // (1024 * 1024)} MB")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise HTTPException(422, "the audio file is empty")
    return path, digest.hexdigest(), size


@router.post(
    "/interactions/audio",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    responses={
        200: {"description": "the same recording and fields were already stored or are being processed", "model": JobOut},
        **errors({409: "the interaction is stored for another agent or team", 413: "file too large (QA_MAX_UPLOAD_MB)"}),
    },
    summary="Upload a call recording (processed in the background)",
)
def upload_audio(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Ingestor,
    config: ConfigDep,
    file: Annotated[UploadFile, File(description="the recording: WAV, MP3, M4A, ...; stereo = agent left, customer right")],
    interaction_id: Annotated[str, Form(min_length=1, max_length=200, examples=["call-20261122-0007"])],
    agent_id: Annotated[str | None, Form(max_length=100, examples=["A1024"])] = None,
    team_id: Annotated[str | None, Form(max_length=100, examples=["T-after-sales"])] = None,
    started_at: Annotated[IsoDateTime | None, Form(examples=["2026-11-22T10:15:00+08:00"])] = None,
    metadata: Annotated[
        str | None, Form(description="JSON object stored with the interaction", examples=['{"queue": "vip"}'])
    ] = None,
) -> JobOut:
    """Returns a job (202); poll `GET /v1/jobs/{job_id}`. Idempotent on `interaction_id`: the same
    recording with the same fields again returns the existing job (200) instead of a new one; a
    different recording for the same id is processed and becomes the current result. The agent and
    team of a stored interaction are fixed: another `agent_id` or `team_id` is refused (409)."""
    try:
        meta = json.loads(metadata) if metadata else {}
        if not isinstance(meta, dict):
            raise ValueError("metadata must be a JSON object")
        fields = {"agent_id": agent_id, "team_id": team_id, "started_at": started_at, "metadata": meta}
        interaction = Interaction.model_validate(
            {**fields, "interaction_id": interaction_id, "channel": "call", "audio_path": "x"}
        )
        check_limits(interaction, request.app.state.settings)
    except (ValueError, ValidationError) as exc:
        raise HTTPException(422, f"invalid fields: {exc}") from exc
    repo.check_stored_owner(session, interaction)  # 409 before the file is kept; storing checks again
    fields = {k: v for k, v in fields.items() if v not in (None, {})}
    fields_json = json.loads(json.dumps(fields, default=lambda v: v.isoformat(), sort_keys=True))
    if config.redact_pii and "metadata" in fields_json:  # the job's payload is stored redacted (kept until it ends)
        fields_json["metadata"] = redact_value(fields_json["metadata"])
    job_id = uuid.uuid4().hex
    path, file_hash, _ = _save(file, Path(config.upload_dir), job_id, config.max_upload_bytes)
    content_hash = repo.recording_hash(interaction, file_hash)  # of the fields as received
    same = session.scalars(
        select(IngestJob)
        .where(IngestJob.interaction_id == interaction_id, IngestJob.content_hash == content_hash)
        .where(IngestJob.status.in_(("queued", "running", "done")))
        .order_by(IngestJob.created_at.desc())
    ).first()
    current = repo.current_result(session, interaction_id)
    if same is not None and (same.status != "done" or (current is not None and current.content_hash == content_hash)):
        path.unlink(missing_ok=True)
        response.status_code = status.HTTP_200_OK
        return job_out(session, same)
    job = IngestJob(
        id=job_id,
        interaction_id=interaction_id,
        status="queued",
        content_hash=content_hash,
        audio_file=str(path.resolve()),
        fields=fields_json,
        created_by=principal.username,
    )
    session.add(job)
    repo.audit(session, principal.username, "interaction.upload_audio", "interaction", interaction_id, job_id=job_id)
    session.commit()
    request.app.state.jobs.submit(job_id)
    return job_out(session, job)


def _visible(principal: Principal, job: IngestJob) -> bool:
    return principal.role == "admin" or job.created_by == principal.username


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    responses=errors({404: "no job with this id that the caller may see"}),
    summary="Status of an audio upload job",
)
def get_job(job_id: str, session: SessionDep, principal: Ingestor) -> JobOut:
    """queued → running → done (with the result's id, score and flag) or failed (with the reason).
    Ingest users see the jobs they created; admins see all."""
    job = session.get(IngestJob, job_id)
    if job is None or not _visible(principal, job):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r}")
    return job_out(session, job)
