"""Reviews (per-hit confirm/dismiss, manual dimension scores) and appeals.

A review never changes the automatic result: its decisions and manual scores are rows of their
own, and the final score (all reviews of the result so far; the latest decision per hit and per
dimension wins) is stored on the review and in the run's `final_*` columns, which the KPIs read.

Appeals: an agent (or a supervisor or admin for them) appeals a scoring run once, within the appeal
window after it was scored, naming the hits they contest. Deciding it is a review of that run:
accepting dismisses the contested hits unless the decision says otherwise (and may carry more hit
decisions and manual scores); rejecting confirms the contested hits and changes no score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qa_engine.scorecard import Scorecard
from qa_engine.store.final_score import FinalScore, final_score
from qa_engine.store.models import Appeal, DimensionOverride, HitDecision, InteractionRow, ResultRow, Review
from qa_engine.store.repository import Scope, audit, to_contract
from qa_engine.store.types import utcnow


class ReviewError(ValueError):
    """The request names hits or dimensions the result does not have, or misses a reason."""


class ConflictError(Exception):
    """The request conflicts with the current state (an open appeal exists, already decided)."""


class AppealWindowClosed(ConflictError):
    """The appeal window of the run has passed."""


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


def hit_decisions(session: Session, result_ids: list[int]) -> dict[int, dict[int, str]]:
    """The effective decision per hit of each run (latest review wins), for many runs in one query."""
    out: dict[int, dict[int, str]] = {rid: {} for rid in result_ids}
    if not result_ids:
        return out
    rows = session.execute(
        select(Review.result_id, HitDecision.hit_id, HitDecision.decision)
        .join(HitDecision, HitDecision.review_id == Review.id)
        .where(Review.result_id.in_(sorted(set(result_ids))))
        .order_by(Review.id, HitDecision.id)
    )
    for result_id, hit_id, decision in rows:
        out[result_id][hit_id] = decision
    return out


def reviews_of(session: Session, interaction_id: str) -> list[Review]:
    return list(session.scalars(select(Review).where(Review.interaction_id == interaction_id).order_by(Review.id)))


def _validate(res: ResultRow, hits: list[HitDecisionIn], overrides: list[OverrideIn], *, decides_appeal: bool = False) -> None:
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
    if not hits and not overrides and not decides_appeal:  # deciding an appeal is a review by itself
        raise ReviewError("a review needs at least one hit decision or dimension override")


def compute_final(
    session: Session,
    interaction: InteractionRow,
    res: ResultRow,
    *,
    card: Scorecard | None,
    rule_dimensions: dict[str, str] | None,
) -> tuple[FinalScore, set[int]]:
    """The final score of `res` after its reviews so far, and the ids of the hits they dismissed."""
    decisions, overrides = review_state(session, res.id)
    dismissed = {hid for hid, d in decisions.items() if d.decision == "dismiss"}
    final = final_score(
        to_contract(res, interaction),
        dismissed={h.position for h in res.hits if h.id in dismissed},
        overrides={dim: o.score for dim, o in overrides.items()},
        turn_roles=[t.role for t in interaction.turns],
        card=card,
        rule_dimensions=rule_dimensions,
    )
    return final, dismissed


def _store_final(res: ResultRow, final: FinalScore, dismissed: set[int]) -> None:
    """The run's final figures, as the KPIs count them (the automatic columns stay as they are)."""
    res.final_score, res.final_flag, res.final_critical = final.score, final.flag, bool(final.critical)
    res.final_script_ok = final.dimensions.get("script_compliance", 100) >= 100
    res.final_forbidden_hits = sum(1 for h in res.hits if h.dimension == "forbidden_words" and h.id not in dismissed)
    for d in res.dimensions:
        d.final_score = final.dimensions.get(d.dimension, d.score)


def add_review(
    session: Session,
    interaction: InteractionRow,
    res: ResultRow,
    reviewer: Reviewer,
    *,
    hits: Sequence[HitDecisionIn] = (),
    overrides: Sequence[OverrideIn] = (),
    comment: str | None = None,
    appeal_id: int | None = None,
    card: Scorecard | None = None,
    rule_dimensions: dict[str, str] | None = None,
) -> tuple[Review, FinalScore]:
    """Record a review of `res` and its final score; writes an audit entry. Flushes, no commit.
    A review deciding an appeal (`appeal_id`) may hold no decisions: the run counts as reviewed."""
    hits, overrides = list(hits), list(overrides)
    _validate(res, hits, overrides, decides_appeal=appeal_id is not None)
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
    final, dismissed = compute_final(session, interaction, res, card=card, rule_dimensions=rule_dimensions)
    review.final_score, review.final_flag = final.score, final.flag
    review.final_dimensions = final.dimensions
    _store_final(res, final, dismissed)
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


def appeal_deadline(res: ResultRow, window_days: int) -> datetime:
    """Until when the run may be appealed: `window_days` after it was scored."""
    return res.created_at + timedelta(days=window_days)


def file_appeal(
    session: Session,
    interaction: InteractionRow,
    res: ResultRow,
    filed_by: Reviewer,
    *,
    reason: str,
    hit_ids: Sequence[int] = (),
    window_days: int,
    now: datetime | None = None,
) -> Appeal:
    """Appeal the run `res` (the interaction's current one), naming the contested hits. One appeal
    per run, within `window_days` after it was scored (`AppealWindowClosed`, a `ConflictError`)."""
    if not reason or not reason.strip():
        raise ReviewError("an appeal needs a reason")
    unknown = sorted(set(hit_ids) - {h.id for h in res.hits})
    if unknown:
        raise ReviewError(f"hits {unknown} are not hits of result {res.id}")
    earlier = session.scalar(select(Appeal).where(Appeal.result_id == res.id).order_by(Appeal.id.desc()).limit(1))
    if earlier is not None and earlier.status == "open":
        raise ConflictError(f"appeal {earlier.id} on {interaction.id} is still open")
    if earlier is not None:
        raise ConflictError(
            f"appeal {earlier.id} on {interaction.id} was already {earlier.status} by {earlier.decided_by}; "
            "a scoring can be appealed once"
        )
    deadline = appeal_deadline(res, window_days)
    if (now or utcnow()) > deadline:
        raise AppealWindowClosed(
            f"the appeal window of {interaction.id} closed on {deadline:%Y-%m-%d %H:%M} UTC: appeals are taken "
            f"up to {window_days} days after scoring (QA_APPEAL_WINDOW_DAYS)"
        )
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
    hits: Sequence[HitDecisionIn] = (),
    overrides: Sequence[OverrideIn] = (),
    card: Scorecard | None = None,
    rule_dimensions: dict[str, str] | None = None,
) -> tuple[Appeal, Review, FinalScore]:
    """Accept or reject an open appeal; either way a review of the appealed run, linked to the
    appeal, records it (the run counts as reviewed; its final score is the KPIs').

    Accepted: every contested hit is dismissed unless `hits` decides it otherwise (e.g. confirm);
    `hits` and `overrides` may change more. Rejected: the contested hits are confirmed (those not
    dismissed already) and no score changes; hit decisions or manual scores are refused."""
    if decision not in ("accepted", "rejected"):
        raise ReviewError("decision must be accepted or rejected")
    if not reason or not reason.strip():
        raise ReviewError("a decision needs a reason")
    if appeal.status != "open":
        raise ConflictError(f"appeal {appeal.id} was already {appeal.status}")
    if decision == "rejected" and (hits or overrides):
        raise ReviewError("a rejected appeal cannot change hits or scores")
    interaction = session.get_one(InteractionRow, appeal.interaction_id)
    res = session.get_one(ResultRow, appeal.result_id)
    review, final = add_review(
        session,
        interaction,
        res,
        decided_by,
        hits=_appeal_hits(session, appeal, decision, list(hits)),
        overrides=overrides,
        comment=f"appeal {appeal.id} {decision}: {reason.strip()}",
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
        review_id=review.id,
    )
    session.flush()
    return appeal, review, final


def _appeal_hits(session: Session, appeal: Appeal, decision: str, given: list[HitDecisionIn]) -> list[HitDecisionIn]:
    """The hit decisions a decided appeal records: those given, then each contested hit they leave
    out: dismissed (accepted) or confirmed (rejected; not one a review dismissed already)."""
    decided = {d.hit_id for d in given}
    contested = [hid for hid in appeal.hit_ids if hid not in decided]
    if decision == "accepted":
        return given + [HitDecisionIn(hid, "dismiss", f"appeal {appeal.id} accepted") for hid in contested]
    earlier, _ = review_state(session, appeal.result_id)
    return given + [
        HitDecisionIn(hid, "confirm", f"appeal {appeal.id} rejected")
        for hid in contested
        if hid not in earlier or earlier[hid].decision != "dismiss"
    ]


def list_appeals(
    session: Session,
    scope: Scope,
    *,
    status: str | None = None,
    team_id: str | None = None,
    agent_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[tuple[Appeal, InteractionRow, ResultRow]]]:
    """(total, page) of the appeals on interactions in `scope` (an agent's: their own), oldest
    first, with the interaction and the appealed run."""
    stmt = (
        select(Appeal, InteractionRow, ResultRow)
        .join(InteractionRow, InteractionRow.id == Appeal.interaction_id)
        .join(ResultRow, ResultRow.id == Appeal.result_id)
        .where(scope.clause())
    )
    if status is not None:
        stmt = stmt.where(Appeal.status == status)
    if team_id is not None:
        stmt = stmt.where(InteractionRow.team_id == team_id)
    if agent_id is not None:
        stmt = stmt.where(InteractionRow.agent_id == agent_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.execute(stmt.order_by(Appeal.created_at, Appeal.id).limit(limit).offset(offset)).all()
    return int(total or 0), [(appeal, interaction, res) for appeal, interaction, res in rows]


def latest_appeals(session: Session, result_ids: list[int]) -> dict[int, Appeal]:
    """The newest appeal of each run (the queue's appeal marker)."""
    if not result_ids:
        return {}
    latest = select(func.max(Appeal.id)).where(Appeal.result_id.in_(result_ids)).group_by(Appeal.result_id)
    return {a.result_id: a for a in session.scalars(select(Appeal).where(Appeal.id.in_(latest)))}
