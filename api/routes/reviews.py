"""The review queue, reviews (hit decisions, manual dimension scores) and appeals."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status

from api import views
from api.deps import (
    NO_INTERACTION,
    Appellant,
    ConfigDep,
    MetricsDep,
    Reader,
    Reviewer,
    ScorerDep,
    SessionDep,
    visible_appeal,
    visible_interaction,
)
from api.openapi import errors
from api.schemas import (
    MAX_ID,
    AppealIn,
    AppealItem,
    AppealOut,
    DecisionIn,
    DecisionOut,
    Page,
    QueueItem,
    ReviewCreated,
    ReviewIn,
)
from qa_engine.schema import Flag, IsoDate
from qa_engine.store import repository as repo
from qa_engine.store import reviews as rv
from qa_engine.store.accounts import get_user

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


@router.get("/review-queue", response_model=Page[QueueItem], summary="Flagged or assigned interactions to review")
def list_review_queue(
    session: SessionDep,
    principal: Reviewer,
    scorer: ScorerDep,
    include_reviewed: bool = False,
    agent: str | None = None,
    team: str | None = None,
    start: Annotated[IsoDate | None, Query(description="from this local date (inclusive)")] = None,
    end: Annotated[IsoDate | None, Query(description="to this local date (inclusive)")] = None,
    flag: Annotated[Flag | None, Query(description="only this flag (green: assigned ones, with `assignee`)")] = None,
    dimension: Annotated[str | None, Query(description="lost points in this dimension")] = None,
    rule: Annotated[str | None, Query(description="has a hit of this rule id")] = None,
    assignee: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description='"me": assigned to the caller; or a QA specialist\'s username'),
    ] = None,
    dissatisfied: Annotated[bool | None, Query(description="predicted dissatisfied customer, or not")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Page[QueueItem]:
    """Red before yellow, oldest first within a flag; interactions already reviewed are left out
    unless `include_reviewed`. Filters as in `GET /v1/interactions`. Each item says why it is
    flagged (top rules, dimensions below 100, missing script steps), who reviewed it last and to whom
    it is assigned. With `assignee`, the interactions assigned to them instead, of any flag (a
    sampled green one too; red, yellow, then green), open ones unless `include_reviewed`."""
    filters = repo.Filters(
        agent_id=agent,
        team_id=team,
        start=start,
        end=end,
        flag=flag,
        dimension=dimension,
        rule_id=rule,
        dissatisfied=dissatisfied,
    )
    if flag == "green" and assignee is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "flag green: the queue holds red and yellow interactions; green ones only among assigned ones (assignee)",
        )
    assignee_id = None
    if assignee is not None:
        user = get_user(session, assignee) if assignee != "me" else None
        assignee_id = principal.user_id if assignee == "me" else (user.id if user is not None else 0)  # 0: nobody
    total, rows = repo.review_queue(
        session, principal.scope, limit=limit, offset=offset, include_reviewed=include_reviewed, filters=filters,
        assignee_id=assignee_id,
    )  # fmt: skip
    return views.queue_page_out(session, total, rows, limit, offset, scorer.step_rules())


@router.post(
    "/interactions/{interaction_id:path}/reviews",
    status_code=status.HTTP_201_CREATED,
    response_model=ReviewCreated,
    responses=errors(NO_INTERACTION),
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
    responses=errors(
        {**NO_INTERACTION, 409: "this scoring was appealed already, or its appeal window (QA_APPEAL_WINDOW_DAYS) closed"}
    ),
    summary="Appeal the current result",
)
def file_appeal(
    interaction_id: str,
    body: AppealIn,
    session: SessionDep,
    principal: Appellant,
    metrics: MetricsDep,
    config: ConfigDep,
) -> AppealOut:
    """An agent appeals the current scoring of their own interaction (a supervisor or admin may file
    for them), naming the contested hits in `hit_ids`. One appeal per scoring, within
    QA_APPEAL_WINDOW_DAYS days after it was scored (`appeal_deadline` of the interaction); 409
    otherwise, saying why."""
    row = visible_interaction(session, principal, interaction_id)
    appeal = rv.file_appeal(
        session,
        row,
        _current(session, interaction_id),
        _who(principal),
        reason=body.reason,
        hit_ids=body.hit_ids,
        window_days=config.appeal_window_days,
    )
    session.commit()
    metrics.appeals.labels("filed").inc()
    return views.appeal_out(appeal)


@router.post(
    "/appeals/{appeal_id}/decision",
    response_model=DecisionOut,
    responses=errors({404: "no appeal with this id that the caller may see", 409: "the appeal was already decided"}),
    summary="Decide an appeal",
)
def decide_appeal(
    appeal_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: DecisionIn,
    session: SessionDep,
    principal: Reviewer,
    scorer: ScorerDep,
    metrics: MetricsDep,
) -> DecisionOut:
    """Accept or reject an open appeal; the decision is recorded as a review of the appealed scoring
    (linked to the appeal), so its final score is what the KPIs count. Accepting dismisses the
    contested hits unless `hits` decides one otherwise (`confirm`), and may dismiss more hits and
    set manual scores; rejecting confirms the contested hits and changes no score."""
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
        card=scorer.scorecard(row.channel),
        rule_dimensions=scorer.rule_dimensions,
    )
    session.commit()
    metrics.appeals.labels(body.decision).inc()
    return DecisionOut(appeal=views.appeal_out(appeal), review=views.review_out(review), final=views.final_out(review))


@router.get("/appeals", response_model=Page[AppealItem], summary="Appeals: the inbox, or an agent's own")
def list_appeals(
    session: SessionDep,
    principal: Reader,
    status_: Annotated[
        Literal["open", "accepted", "rejected"] | None, Query(alias="status", description="only this status")
    ] = None,
    team: Annotated[str | None, Query(description="only interactions handled in this team")] = None,
    agent: Annotated[str | None, Query(description="only this agent's interactions")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Page[AppealItem]:
    """Oldest first, with the interaction, the contested hits and the outcome (final score). QA
    specialists and admins see every appeal, supervisors their teams', agents their own (`?status=open`:
    the inbox of appeals to decide)."""
    total, rows = rv.list_appeals(
        session, principal.scope, status=status_, team_id=team, agent_id=agent, limit=limit, offset=offset
    )
    return Page[AppealItem](total=total, limit=limit, offset=offset, items=views.appeal_items(session, rows))
