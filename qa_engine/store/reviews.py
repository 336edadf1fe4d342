"""Reviews (per-hit confirm/dismiss, manual dimension scores) and appeals.

A review never changes the automatic result: its decisions and manual scores are rows of their
own, and the final score (all reviews of the result so far; the latest decision per hit and per
dimension wins) is stored on the review.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from qa_engine.scorecard import Scorecard
from qa_engine.store.final_score import FinalScore, final_score
from qa_engine.store.models import Appeal, DimensionOverride, HitDecision, InteractionRow, ResultRow, Review
from qa_engine.store.repository import audit, to_contract
from qa_engine.store.types import utcnow


class ReviewError(ValueError):
    """The request names hits or dimensions the result does not have, or misses a reason."""


class ConflictError(Exception):
    """The request conflicts with the current state (an open appeal exists, already decided)."""


@dataclass(frozen=True)
class HitDecisionIn:
    hit_id: int
    decision: str  # confirm | dismiss
    note: str | None = None


@dataclass(frozen=True)
class OverrideIn:
    dimension: str
    score: float
    reason: str


@dataclass(frozen=True)
class Reviewer:
    id: int | None
    name: str


def review_state(session: Session, result_id: int) -> tuple[dict[int, HitDecision], dict[str, DimensionOverride]]:
    """The effective decision per hit id and manual score per dimension (latest review wins)."""
    decisions: dict[int, HitDecision] = {}
    overrides: dict[str, DimensionOverride] = {}
    for review in session.scalars(select(Review).where(Review.result_id == result_id).order_by(Review.id)):
        decisions.update({d.hit_id: d for d in review.hit_decisions})
        overrides.update({o.dimension: o for o in review.overrides})
    return decisions, overrides


def reviews_of(session: Session, interaction_id: str) -> list[Review]:
    return list(session.scalars(select(Review).where(Review.interaction_id == interaction_id).order_by(Review.id)))


def _validate(res: ResultRow, hits: list[HitDecisionIn], overrides: list[OverrideIn]) -> None:
    hit_ids = {h.id for h in res.hits}
    unknown = sorted({d.hit_id for d in hits} - hit_ids)
    if unknown:
        raise ReviewError(f"hits {unknown} are not hits of result {res.id}")
    bad = [d.decision for d in hits if d.decision not in ("confirm", "dismiss")]
    if bad:
        raise ReviewError(f"unknown decision(s) {bad}; use confirm or dismiss")
    dims = {d.dimension for d in res.dimensions}
    for o in overrides:
        if o.dimension not in dims:
            raise ReviewError(f"result {res.id} has no dimension {o.dimension!r}")
        if not o.reason or not o.reason.strip():
            raise ReviewError(f"override of {o.dimension!r} needs a reason")
        if not 0 <= o.score <= 100:
            raise ReviewError(f"override of {o.dimension!r}: score must be 0..100")
    if not hits and not overrides:
        raise ReviewError("a review needs at least one hit decision or dimension override")


def compute_final(
    session: Session,
    interaction: InteractionRow,
    res: ResultRow,
    *,
    card: Scorecard | None = None,
    rule_dimensions: dict[str, str] | None = None,
) -> FinalScore:
    decisions, overrides = review_state(session, res.id)
    position = {h.id: h.position for h in res.hits}
    dismissed = {position[hid] for hid, d in decisions.items() if d.decision == "dismiss"}
    return final_score(
        to_contract(res, interaction),
        dismissed=dismissed,
        overrides={dim: o.score for dim, o in overrides.items()},
        turn_roles=[t.role for t in interaction.turns],
        card=card,
        rule_dimensions=rule_dimensions,
    )


def add_review(
    session: Session,
    interaction: InteractionRow,
    res: ResultRow,
    reviewer: Reviewer,
    *,
    hits: list[HitDecisionIn] = (),
    overrides: list[OverrideIn] = (),
    comment: str | None = None,
    appeal_id: int | None = None,
    card: Scorecard | None = None,
    rule_dimensions: dict[str, str] | None = None,
) -> tuple[Review, FinalScore]:
    """Record a review of `res` and its final score; writes an audit entry. Flushes, no commit."""
    hits, overrides = list(hits), list(overrides)
    _validate(res, hits, overrides)
    review = Review(
        result_id=res.id,
        interaction_id=interaction.id,
        reviewer_id=reviewer.id,
        reviewer=reviewer.name,
        appeal_id=appeal_id,
        comment=comment,
        final_score=res.score,
        final_flag=res.flag,
        final_dimensions={d.dimension: d.score for d in res.dimensions},
        hit_decisions=[HitDecision(hit_id=d.hit_id, decision=d.decision, note=d.note) for d in hits],
        overrides=[DimensionOverride(dimension=o.dimension, score=o.score, reason=o.reason.strip()) for o in overrides],
    )
    session.add(review)
    session.flush()
    final = compute_final(session, interaction, res, card=card, rule_dimensions=rule_dimensions)
    review.final_score, review.final_flag = final.score, final.flag
    review.final_dimensions = final.dimensions
    audit(
        session,
        reviewer.name,
        "review.create",
        "interaction",
        interaction.id,
        review_id=review.id,
        result_id=res.id,
        hits={str(d.hit_id): d.decision for d in hits},
        overrides={o.dimension: {"score": o.score, "reason": o.reason} for o in overrides},
        automatic_score=res.score,
        final_score=final.score,
        final_flag=final.flag,
        appeal_id=appeal_id,
    )
    session.flush()
    return review, final


# --- appeals --------------------------------------------------------------------------------------


def appeals_of(session: Session, interaction_id: str) -> list[Appeal]:
    return list(session.scalars(select(Appeal).where(Appeal.interaction_id == interaction_id).order_by(Appeal.id)))


def file_appeal(
    session: Session,
    interaction: InteractionRow,
    res: ResultRow,
    filed_by: Reviewer,
    *,
    reason: str,
    hit_ids: list[int] = (),
) -> Appeal:
    if not reason or not reason.strip():
        raise ReviewError("an appeal needs a reason")
    unknown = sorted(set(hit_ids) - {h.id for h in res.hits})
    if unknown:
        raise ReviewError(f"hits {unknown} are not hits of result {res.id}")
    open_one = session.scalar(select(Appeal).where(Appeal.interaction_id == interaction.id, Appeal.status == "open"))
    if open_one is not None:
        raise ConflictError(f"appeal {open_one.id} on {interaction.id} is still open")
    appeal = Appeal(
        interaction_id=interaction.id,
        result_id=res.id,
        agent_id=interaction.agent_id,
        filed_by_id=filed_by.id,
        filed_by=filed_by.name,
        reason=reason.strip(),
        hit_ids=sorted(set(hit_ids)),
        status="open",
    )
    session.add(appeal)
    session.flush()
    audit(
        session,
        filed_by.name,
        "appeal.file",
        "interaction",
        interaction.id,
        appeal_id=appeal.id,
        hit_ids=appeal.hit_ids,
    )
    return appeal


def decide_appeal(
    session: Session,
    appeal: Appeal,
    decided_by: Reviewer,
    *,
    decision: str,
    reason: str,
    hits: list[HitDecisionIn] = (),
    overrides: list[OverrideIn] = (),
    card: Scorecard | None = None,
    rule_dimensions: dict[str, str] | None = None,
) -> tuple[Appeal, Review | None, FinalScore | None]:
    """Accept or reject an open appeal. An accepted appeal may carry hit decisions and manual
    scores; they are recorded as a review of the appealed result, linked to the appeal."""
    if decision not in ("accepted", "rejected"):
        raise ReviewError("decision must be accepted or rejected")
    if not reason or not reason.strip():
        raise ReviewError("a decision needs a reason")
    if appeal.status != "open":
        raise ConflictError(f"appeal {appeal.id} was already {appeal.status}")
    if decision == "rejected" and (hits or overrides):
        raise ReviewError("a rejected appeal cannot change hits or scores")
    review = final = None
    if hits or overrides:
        interaction = session.get(InteractionRow, appeal.interaction_id)
        res = session.get(ResultRow, appeal.result_id)
        review, final = add_review(
            session,
            interaction,
            res,
            decided_by,
            hits=hits,
            overrides=overrides,
            comment=f"appeal {appeal.id}: {reason.strip()}",
            appeal_id=appeal.id,
            card=card,
            rule_dimensions=rule_dimensions,
        )
    appeal.status = decision
    appeal.decided_by = decided_by.name
    appeal.decided_at = utcnow()
    appeal.decision_reason = reason.strip()
    audit(
        session,
        decided_by.name,
        "appeal.decide",
        "interaction",
        appeal.interaction_id,
        appeal_id=appeal.id,
        decision=decision,
        review_id=review.id if review else None,
    )
    session.flush()
    return appeal, review, final
