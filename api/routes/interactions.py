"""Ingest interactions (scored on arrival, idempotent) and read them back."""

from __future__ import annotations

import time
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Response, status
from sqlalchemy.exc import IntegrityError

from api import views
from api.deps import ConfigDep, Ingestor, MetricsDep, Reader, ScorerDep, SessionDep, visible_interaction
from api.schemas import MAX_ID, IngestOut, InteractionItem, InteractionOut, Page
from qa_engine.schema import Flag, Interaction
from qa_engine.store import repository as repo

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


@router.post(
    "/interactions",
    status_code=status.HTTP_201_CREATED,
    response_model=IngestOut,
    responses={200: {"description": "same content as already stored: the stored result", "model": IngestOut}},
    summary="Score and store an interaction",
)
def ingest(
    body: Annotated[Interaction, Body(openapi_examples={"chat": {"summary": "a chat", "value": CHAT_EXAMPLE}})],
    response: Response,
    session: SessionDep,
    principal: Ingestor,
    scorer: ScorerDep,
    config: ConfigDep,
    metrics: MetricsDep,
) -> IngestOut:
    """Idempotent on `interaction_id`: the same content again returns the stored result (200); new
    or changed content is prepared (transcribed if audio only, PII redacted), scored and stored as
    the current result (201). Earlier results are kept."""
    digest = repo.content_hash(body)
    existing = repo.current_result(session, body.interaction_id)
    if existing is not None and existing.content_hash == digest:
        metrics.ingested.labels("unchanged").inc()
        response.status_code = status.HTTP_200_OK
        return IngestOut(interaction_id=body.interaction_id, created=False, result=views.result_out(existing))
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


@router.get("/interactions", response_model=Page[InteractionItem], summary="Search interactions")
def list_interactions(
    session: SessionDep,
    principal: Reader,
    agent: str | None = None,
    team: str | None = None,
    start: Annotated[date | None, Query(description="from this local date (inclusive)")] = None,
    end: Annotated[date | None, Query(description="to this local date (inclusive)")] = None,
    flag: Flag | None = None,
    dimension: Annotated[str | None, Query(description="lost points in this dimension")] = None,
    rule: Annotated[str | None, Query(description="has a hit of this rule id")] = None,
    min_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Page[InteractionItem]:
    """Current results, newest first, within what the caller may see."""
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
    )
    total, rows = repo.list_interactions(session, principal.scope, filters, limit=limit, offset=offset)
    return views.page_out(session, total, rows, limit, offset)


@router.get("/interactions/{interaction_id}", response_model=InteractionOut, summary="One interaction in full")
def get_interaction(interaction_id: str, session: SessionDep, principal: Reader) -> InteractionOut:
    """Transcript (redacted), current result with hit ids, final score after review, reviews,
    appeals and the history of scoring runs."""
    return views.interaction_out(session, visible_interaction(session, principal, interaction_id))
