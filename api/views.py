"""Rows to response bodies."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api import schemas as s
from qa_engine.store import repository as repo
from qa_engine.store.models import ApiUser, Appeal, IngestJob, InteractionRow, ResultRow, Review
from qa_engine.store.reviews import appeals_of, review_state, reviews_of


def user_out(user: ApiUser) -> s.UserOut:
    return s.UserOut(
        id=user.id,
        username=user.username,
        role=user.role,
        agent_id=user.agent_id,
        team_ids=sorted(t.id for t in user.teams),
        is_active=user.is_active,
    )


def job_out(job: IngestJob, score: float | None = None, flag: str | None = None) -> s.JobOut:
    """An ingest job (audio upload or queued interaction); score and flag once its result is stored."""
    return s.JobOut(
        job_id=job.id,
        interaction_id=job.interaction_id,
        status=job.status,
        created_at=job.created_at,
        updated_at=job.updated_at,
        result_id=job.result_id,
        score=score,
        flag=flag,
        error=job.error,
    )


def result_out(res: ResultRow, decisions: dict[int, str] | None = None) -> s.ResultOut:
    decisions = decisions or {}
    return s.ResultOut(
        id=res.id,
        created_at=res.created_at,
        current=res.is_current,
        content_hash=res.content_hash,
        hits=[s.HitOut(**repo.hit_from_row(h).model_dump(), id=h.id, decision=decisions.get(h.id)) for h in res.hits],
        **repo.result_fields(res),
    )


def review_out(r: Review) -> s.ReviewOut:
    return s.ReviewOut(
        id=r.id,
        result_id=r.result_id,
        reviewer=r.reviewer,
        created_at=r.created_at,
        comment=r.comment,
        appeal_id=r.appeal_id,
        hits=[s.HitDecisionBody(hit_id=d.hit_id, decision=d.decision, note=d.note) for d in r.hit_decisions],
        overrides=[s.OverrideBody(dimension=o.dimension, score=o.score, reason=o.reason) for o in r.overrides],
        final_score=r.final_score,
        final_flag=r.final_flag,
        final_dimensions=dict(r.final_dimensions),
    )


def final_out(r: Review) -> s.FinalOut:
    return s.FinalOut(
        score=r.final_score,
        flag=r.final_flag,
        dimensions=dict(r.final_dimensions),
        review_id=r.id,
        reviewed_at=r.created_at,
        reviewer=r.reviewer,
    )


def appeal_out(a: Appeal) -> s.AppealOut:
    return s.AppealOut.model_validate(a, from_attributes=True)


def interaction_out(session: Session, row: InteractionRow) -> s.InteractionOut:
    history = repo.result_history(session, row.id)
    current = next(r for r in history if r.is_current)
    decisions, _ = review_state(session, current.id)
    reviews = reviews_of(session, row.id)
    latest = [r for r in reviews if r.result_id == current.id]
    return s.InteractionOut(
        interaction_id=row.id,
        channel=row.channel,
        agent_id=row.agent_id,
        team_id=row.team_id,
        started_at=row.started_at,
        received_at=row.received_at,
        metadata=dict(row.meta),
        turns=[
            s.TurnOut(
                index=t.idx, role=t.role, text=t.text, start=t.start_s, end=t.end_s, asr_confidence=t.asr_confidence
            )
            for t in row.turns
        ],
        result=result_out(current, {hid: d.decision for hid, d in decisions.items()}),
        final=final_out(latest[-1]) if latest else None,
        reviews=[review_out(r) for r in reviews],
        appeals=[appeal_out(a) for a in appeals_of(session, row.id)],
        history=[
            s.ResultRef(
                id=r.id,
                created_at=r.created_at,
                current=r.is_current,
                score=r.score,
                flag=r.flag,
                ruleset_version=r.ruleset_version,
                content_hash=r.content_hash,
            )
            for r in history
        ],
    )


def page_out(
    session: Session, total: int, rows: list[tuple[InteractionRow, ResultRow]], limit: int, offset: int
) -> s.Page[s.InteractionItem]:
    finals = repo.latest_reviews(session, [res.id for _, res in rows])
    items = []
    for row, res in rows:
        review = finals.get(res.id)
        items.append(
            s.InteractionItem(
                interaction_id=row.id,
                channel=row.channel,
                agent_id=row.agent_id,
                team_id=row.team_id,
                occurred_at=row.occurred_at,
                result_id=res.id,
                score=res.score,
                flag=res.flag,
                critical=list(res.critical),
                final_score=review.final_score if review else None,
                final_flag=review.final_flag if review else None,
                satisfaction=res.satisfaction_predicted,
                dissatisfied=res.satisfaction_dissatisfied,
            )
        )
    return s.Page[s.InteractionItem](total=total, limit=limit, offset=offset, items=items)
