"""The review queue, reviews (hit decisions, manual dimension scores) and appeals."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status

from api import views
from api.deps import Appellant, MetricsDep, Reviewer, ScorerDep, SessionDep, visible_appeal, visible_interaction
from api.schemas import (
    MAX_ID,
    AppealIn,
    AppealOut,
    DecisionIn,
    DecisionOut,
    InteractionItem,
    Page,
    ReviewCreated,
    ReviewIn,
)
from qa_engine.store import repository as repo
from qa_engine.store import reviews as rv

router = APIRouter(prefix="/v1", tags=["reviews"])


def _current(session, interaction_id: str):
    res = repo.current_result(session, interaction_id)
    if res is None:  # cannot happen for a stored interaction; kept for clarity
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{interaction_id!r} has no result")
    return res


def _who(principal) -> rv.Reviewer:
    return rv.Reviewer(id=principal.user_id, name=principal.username)


def _decisions(body) -> tuple[list[rv.HitDecisionIn], list[rv.OverrideIn]]:
    return (
        [rv.HitDecisionIn(d.hit_id, d.decision, d.note) for d in body.hits],
        [rv.OverrideIn(o.dimension, o.score, o.reason) for o in body.overrides],
    )


@router.get("/review-queue", response_model=Page[InteractionItem], summary="Flagged interactions to review")
def review_queue(
    session: SessionDep,
    principal: Reviewer,
    include_reviewed: bool = False,
    agent: str | None = None,
    team: str | None = None,
    start: Annotated[date | None, Query(description="from this local date (inclusive)")] = None,
    end: Annotated[date | None, Query(description="to this local date (inclusive)")] = None,
    flag: Annotated[Literal["red", "yellow"] | None, Query(description="only this flag")] = None,
    dimension: Annotated[str | None, Query(description="lost points in this dimension")] = None,
    rule: Annotated[str | None, Query(description="has a hit of this rule id")] = None,
    dissatisfied: Annotated[bool | None, Query(description="predicted dissatisfied customer, or not")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Page[InteractionItem]:
    """Red before yellow, oldest first within a flag; interactions already reviewed are left out
    unless `include_reviewed`. Filters as in `GET /v1/interactions`."""
    filters = repo.Filters(
        agent_id=agent, team_id=team, start=start, end=end, flag=flag, dimension=dimension, rule_id=rule,
        dissatisfied=dissatisfied,
    )
    total, rows = repo.review_queue(
        session, principal.scope, limit=limit, offset=offset, include_reviewed=include_reviewed, filters=filters
    )
    return views.page_out(session, total, rows, limit, offset)


@router.post(
    "/interactions/{interaction_id:path}/reviews",
    status_code=status.HTTP_201_CREATED,
    response_model=ReviewCreated,
    summary="Review the current result",
)
def create_review(
    interaction_id: str,
    body: ReviewIn,
    session: SessionDep,
    principal: Reviewer,
    scorer: ScorerDep,
    metrics: MetricsDep,
) -> ReviewCreated:
    """Confirm or dismiss hits by id and set manual dimension scores (each with a reason). The
    automatic result is kept as it was; the final score is recomputed and stored with the review."""
    row = visible_interaction(session, principal, interaction_id)
    res = _current(session, interaction_id)
    hits, overrides = _decisions(body)
    review, _ = rv.add_review(
        session,
        row,
        res,
        _who(principal),
        hits=hits,
        overrides=overrides,
        comment=body.comment,
        card=scorer.scorecard(row.channel),
        rule_dimensions=scorer.rule_dimensions,
    )
    session.commit()
    metrics.reviews.inc()
    return ReviewCreated(review=views.review_out(review), final=views.final_out(review))


@router.post(
    "/interactions/{interaction_id:path}/appeals",
    status_code=status.HTTP_201_CREATED,
    response_model=AppealOut,
    summary="Appeal the current result",
)
def file_appeal(
    interaction_id: str, body: AppealIn, session: SessionDep, principal: Appellant, metrics: MetricsDep
) -> AppealOut:
    """An agent appeals their own interaction (a supervisor or admin may file for them). One open
    appeal per interaction at a time (409 otherwise)."""
    row = visible_interaction(session, principal, interaction_id)
    appeal = rv.file_appeal(
        session, row, _current(session, interaction_id), _who(principal), reason=body.reason, hit_ids=body.hit_ids
    )
    session.commit()
    metrics.appeals.labels("filed").inc()
    return views.appeal_out(appeal)


@router.post("/appeals/{appeal_id}/decision", response_model=DecisionOut, summary="Decide an appeal")
def decide_appeal(
    appeal_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: DecisionIn,
    session: SessionDep,
    principal: Reviewer,
    scorer: ScorerDep,
    metrics: MetricsDep,
) -> DecisionOut:
    """Accept or reject an open appeal. An accepted appeal may dismiss hits and set manual scores;
    they are stored as a review linked to the appeal."""
    appeal, row = visible_appeal(session, principal, appeal_id)
    hits, overrides = _decisions(body)
    appeal, review, _ = rv.decide_appeal(
        session,
        appeal,
        _who(principal),
        decision=body.decision,
        reason=body.reason,
        hits=hits,
        overrides=overrides,
        card=scorer.scorecard(row.channel) if hits or overrides else None,
        rule_dimensions=scorer.rule_dimensions if hits or overrides else None,
    )
    session.commit()
    metrics.appeals.labels(body.decision).inc()
    return DecisionOut(appeal=views.appeal_out(appeal), review=views.review_out(review) if review else None)
