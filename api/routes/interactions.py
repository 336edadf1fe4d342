"""Ingest interactions (scored on arrival, or queued for the background scorer; idempotent) and read
them back."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api import views
from api.deps import (
    NO_INTERACTION,
    ConfigDep,
    Ingestor,
    MetricsDep,
    Reader,
    ScorerDep,
    SessionDep,
    visible_interaction,
)
from api.openapi import errors
from api.schemas import (
    MAX_ID,
    BulkIn,
    BulkJobOut,
    BulkOut,
    BulkStatusOut,
    IngestOut,
    InteractionItem,
    InteractionOut,
    JobOut,
    Page,
)
from api.security import Principal
from qa_engine.schema import Flag, Interaction, IsoDate, LimitExceeded, check_limits
from qa_engine.store import queue
from qa_engine.store import repository as repo
from qa_engine.store.models import IngestJob, ResultRow

router = APIRouter(prefix="/v1", tags=["interactions"])

CHAT_EXAMPLE = {
    "interaction_id": "chat-20261122-0042",
    "channel": "chat",
    "agent_id": "A1024",
    "team_id": "T-after-sales",
    "started_at": "2026-11-22T10:15:00+08:00",
    "turns": [
        {"role": "customer", "text": "我的快递三天了还没到，你们怎么回事", "start": 0},
        {"role": "agent", "text": "您好，非常抱歉让您久等了，我马上帮您查询", "start": 20},
        {"role": "customer", "text": "好的，谢谢", "start": 65},
        {
            "role": "agent",
            "text": "已为您催促快递员今天送达，请问还有其他可以帮您的吗？祝您生活愉快，再见",
            "start": 90,
        },
    ],
    "metadata": {"source": "crm"},
}


def _within_limits(request: Request, items: list[tuple[tuple, Interaction]]) -> None:
    """The input limits (QA_MAX_*) of (place in the body, interaction) pairs, answered as request
    validation is: 422 with each error at its place."""
    errors = []
    for loc, item in items:
        try:
            check_limits(item, request.app.state.settings)
        except LimitExceeded as exc:
            errors.append({"type": "limit_exceeded", "loc": (*loc, *exc.loc), "msg": str(exc), "input": None})
    if errors:
        raise RequestValidationError(errors)


@router.post(
    "/interactions",
    status_code=status.HTTP_201_CREATED,
    response_model=None,
    responses={
        201: {"description": "scored and stored (`wait=true`): the result", "model": IngestOut},
        200: {
            "description": "`wait=true`: the same content as already stored, the stored result (IngestOut); "
            "`wait=false`: the same content as already queued or stored, the existing job (JobOut)",
            "model": IngestOut | JobOut,
        },
        202: {
            "description": "queued (`wait=false`): the job; poll its `status_url` (also in `Location`)",
            "model": JobOut,
        },
        **errors(
            {
                409: "the interaction_id is stored for another agent or team (or changed concurrently: retry)",
                413: "request body larger than QA_MAX_BODY_MB",
            }
        ),
    },
    summary="Score and store an interaction, or queue it",
)
def ingest(
    body: Annotated[Interaction, Body(openapi_examples={"chat": {"summary": "a chat", "value": CHAT_EXAMPLE}})],
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Ingestor,
    scorer: ScorerDep,
    config: ConfigDep,
    metrics: MetricsDep,
    wait: Annotated[
        bool,
        Query(
            description="true: score now and answer with the result (201); false: store the interaction "
            "(PII redacted) and answer at once with a job (202) that the background scorer finishes"
        ),
    ] = True,
) -> IngestOut | JobOut:
    """Idempotent on `interaction_id`: the same content again returns the stored result (200); new
    or changed content is prepared (transcribed if audio only, PII redacted), scored and stored as
    the current result (201). Earlier results are kept.

    An interaction's agent and team are fixed once stored: the same `interaction_id` with another
    `agent_id` or `team_id` is refused (409); omitting them keeps the stored ones.

    With `wait=false` the interaction is stored (PII redacted) and queued (202 with a job: poll
    `GET /v1/jobs/{job_id}`); the same content already queued, running or stored returns the
    existing job (200). For many interactions at once use `POST /v1/interactions/bulk`."""
    _within_limits(request, [(("body",), body)])
    if not wait:
        return _queue_one(body, request, response, session, principal)
    digest = repo.content_hash(body)
    existing = repo.current_result(session, body.interaction_id)
    if existing is not None and existing.content_hash == digest:
        metrics.ingested.labels("unchanged").inc()
        response.status_code = status.HTTP_200_OK
        return IngestOut(interaction_id=body.interaction_id, created=False, result=views.result_out(existing))
    repo.check_stored_owner(session, body)  # 409 before scoring; save_result checks again
    scorer.load()
    started = time.perf_counter()
    try:
        prepared, result = scorer.score(body)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    metrics.inspect_seconds.observe(time.perf_counter() - started)
    try:
        res = repo.save_result(session, prepared, result, content_hash=digest, report_tz=config.report_timezone)
        repo.audit(
            session,
            principal.username,
            "interaction.ingest",
            "interaction",
            body.interaction_id,
            result_id=res.id,
            content_hash=digest,
            replaced=existing.id if existing is not None else None,
        )
        session.commit()
    except IntegrityError:  # the same interaction stored by a concurrent request
        session.rollback()
        existing = repo.current_result(session, body.interaction_id)
        if existing is not None and existing.content_hash == digest:
            response.status_code = status.HTTP_200_OK
            return IngestOut(interaction_id=body.interaction_id, created=False, result=views.result_out(existing))
        raise HTTPException(status.HTTP_409_CONFLICT, "interaction was changed concurrently; retry") from None
    metrics.ingested.labels("changed" if existing is not None else "new").inc()
    metrics.flags.labels(res.flag).inc()
    return IngestOut(interaction_id=body.interaction_id, created=True, result=views.result_out(res))


def _queue_one(body: Interaction, request: Request, response: Response, session, principal: Principal) -> JobOut:
    session.close()  # give its connection back: the group's writer needs one while this request waits
    accepted = request.app.state.acceptor.accept(body, principal.username)  # committed
    out = views.job_out(accepted.job)
    response.headers["Location"] = out.status_url
    if accepted.duplicate:
        response.status_code = status.HTTP_200_OK
    else:
        response.status_code = status.HTTP_202_ACCEPTED
        request.app.state.queue.notify()
    return out


@router.post(
    "/interactions/bulk",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BulkOut,
    responses=errors(
        {
            409: "an interaction is stored for another agent or team; nothing is queued",
            413: "request body larger than QA_MAX_BODY_MB",
        }
    ),
    summary="Queue many interactions for scoring",
)
def ingest_bulk(
    body: BulkIn, request: Request, response: Response, session: SessionDep, principal: Ingestor, config: ConfigDep
) -> BulkOut:
    """Stores the interactions (PII redacted) in one transaction and answers at once (202); the
    background scorer scores and stores them (oldest first), as `POST /v1/interactions` would.
    Poll `status_url` (`GET /v1/interactions/bulk/{batch_id}`) for the whole request, or each job's
    `GET /v1/jobs/{job_id}`. An interaction whose content is already queued, running or stored is a
    duplicate: it is answered with the existing job and not scored again. An interaction that
    cannot be scored fails its job alone (with the reason); the others go on. A request with an
    invalid interaction is refused whole (422), nothing is queued; so is one with an interaction
    already stored for another agent or team (409, naming its index). Two items of one request with
    the same new `interaction_id` but different agents or teams are both queued: the first stored
    fixes them, the other's job fails with the reason."""
    _within_limits(request, [(("body", "interactions", i), item) for i, item in enumerate(body.interactions)])
    batch_id = queue.new_id()
    try:
        accepted = queue.accept(session, body.interactions, actor=principal.username, batch_id=batch_id, redact=config.redact_pii)
    except repo.OwnerConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"interactions[{exc.index}]: {exc}") from None
    new = sum(not a.duplicate for a in accepted)
    repo.audit(
        session, principal.username, "interaction.queue_bulk", "batch", batch_id,
        accepted=new, duplicates=len(accepted) - new,
    )  # fmt: skip
    jobs = [
        BulkJobOut(
            index=a.index,
            interaction_id=a.job.interaction_id,
            job_id=a.job.id,
            status=a.job.status,
            duplicate=a.duplicate,
        )
        for a in accepted
    ]
    session.commit()
    if new:
        request.app.state.queue.notify()
    out = BulkOut(batch_id=batch_id, accepted=new, duplicates=len(accepted) - new, jobs=jobs)
    response.headers["Location"] = out.status_url
    return out


def _job_visible(principal: Principal, created_by: str) -> bool:
    return principal.role == "admin" or created_by == principal.username


@router.get(
    "/interactions/bulk/{batch_id}",
    response_model=BulkStatusOut,
    responses=errors({404: "no bulk request with this id that the caller may see"}),
    summary="Progress of a bulk request",
)
def get_bulk_status(batch_id: str, session: SessionDep, principal: Ingestor) -> BulkStatusOut:
    """Counts by status and every job the request created (with score and flag once done, the
    reason once failed). Ingest users see their own requests; admins all."""
    rows = session.execute(
        select(IngestJob, ResultRow.score, ResultRow.flag)
        .outerjoin(ResultRow, ResultRow.id == IngestJob.result_id)
        .where(IngestJob.batch_id == batch_id, IngestJob.kind == queue.KIND)
        .order_by(IngestJob.created_at, IngestJob.id)
    ).all()
    if not rows or not _job_visible(principal, rows[0][0].created_by):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no bulk request {batch_id!r}")
    jobs = [views.job_out(job, score, flag) for job, score, flag in rows]
    counts = {s: sum(j.status == s for j in jobs) for s in ("queued", "running", "done", "failed")}
    return BulkStatusOut(
        batch_id=batch_id,
        total=len(jobs),
        finished=counts["queued"] + counts["running"] == 0,
        jobs=jobs,
        **counts,
    )


@router.get("/interactions", response_model=Page[InteractionItem], summary="Search interactions")
def list_interactions(
    session: SessionDep,
    principal: Reader,
    scorer: ScorerDep,
    agent: str | None = None,
    team: str | None = None,
    start: Annotated[IsoDate | None, Query(description="from this local date (inclusive)")] = None,
    end: Annotated[IsoDate | None, Query(description="to this local date (inclusive)")] = None,
    flag: Flag | None = None,
    dimension: Annotated[str | None, Query(description="lost points in this dimension")] = None,
    rule: Annotated[str | None, Query(description="has a hit of this rule id")] = None,
    min_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    dissatisfied: Annotated[
        bool | None, Query(description="predicted dissatisfied customer (probability >= 0.5), or not")
    ] = None,
    satisfaction_min: Annotated[float | None, Query(ge=-2, le=2, description="predicted satisfaction at least")] = None,
    satisfaction_max: Annotated[float | None, Query(ge=-2, le=2, description="predicted satisfaction at most")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Page[InteractionItem]:
    """Current results, newest first, within what the caller may see."""
    if satisfaction_min is not None and satisfaction_max is not None and satisfaction_min > satisfaction_max:
        raise HTTPException(422, f"satisfaction_min ({satisfaction_min:g}) is above satisfaction_max ({satisfaction_max:g})")
    filters = repo.Filters(
        agent_id=agent,
        team_id=team,
        start=start,
        end=end,
        flag=flag,
        dimension=dimension,
        rule_id=rule,
        min_score=min_score,
        max_score=max_score,
        dissatisfied=dissatisfied,
        satisfaction_min=satisfaction_min,
        satisfaction_max=satisfaction_max,
    )
    total, rows = repo.list_interactions(session, principal.scope, filters, limit=limit, offset=offset)
    return views.page_out(session, total, rows, limit, offset, scorer.step_rules())


# `:path`: ids may hold `/` (the batch names recordings by their path below the folder). The app
# includes this router after the routes with a suffix (`{interaction_id:path}/audio-link`), which
# this one would otherwise match first.
@router.get(
    "/interactions/{interaction_id:path}",
    response_model=InteractionOut,
    responses=errors(NO_INTERACTION),
    summary="One interaction in full",
)
def get_interaction(
    interaction_id: str, session: SessionDep, principal: Reader, config: ConfigDep, scorer: ScorerDep
) -> InteractionOut:
    """Transcript (redacted), current result with hit ids, final score after review, reviews,
    appeals, until when the current scoring may be appealed, the history of scoring runs and the
    required script steps the current run did not find."""
    row = visible_interaction(session, principal, interaction_id)
    return views.interaction_out(session, row, appeal_window_days=config.appeal_window_days, step_rules=scorer.step_rules())
