"""Rows to response bodies."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api import schemas as s
from qa_engine.scorecard import missing_steps
from qa_engine.store import assignments as asg
from qa_engine.store import repository as repo
from qa_engine.store.models import (
    ApiUser,
    Appeal,
    IngestJob,
    InteractionRow,
    ResultRow,
    Review,
    ReviewAssignment,
    SamplingRule,
)
from qa_engine.store.reviews import (
    appeal_deadline,
    appeals_of,
    hit_decisions,
    latest_appeals,
    review_state,
    reviews_of,
)


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


def appeal_items(session: Session, rows: list[tuple[Appeal, InteractionRow, ResultRow]]) -> list[s.AppealItem]:
    """Appeals with their interaction, the appealed run's automatic and final score and the contested
    hits with their latest decision."""
    decided = hit_decisions(session, [res.id for _, _, res in rows])
    items = []
    for appeal, row, res in rows:
        decisions = decided[res.id]
        hits = {h.id: h for h in res.hits}
        items.append(
            s.AppealItem(
                **appeal_out(appeal).model_dump(),
                team_id=row.team_id,
                channel=row.channel,
                occurred_at=row.occurred_at,
                score=res.score,
                flag=res.flag,
                final_score=res.final_score,
                final_flag=res.final_flag,
                current=res.is_current,
                contested=[
                    s.ContestedHit(
                        hit_id=h.id,
                        rule_id=h.rule_id,
                        dimension=h.dimension,
                        severity=h.severity,
                        text=h.text,
                        decision=decisions.get(h.id),
                    )
                    for h in (hits[i] for i in appeal.hit_ids if i in hits)
                ],
            )
        )
    return items


SEVERITY_RANK = {"critical": 3, "major": 2, "minor": 1, "info": 0}
StepRules = dict[str, dict[str, str]]  # channel -> script step -> the rule that finds it (Scorer.step_rules)


def missing_out(res: ResultRow, channel: str, step_rules: StepRules) -> list[s.MissingStep]:
    """The required script steps this run lost points for, each with the rule that finds it."""
    dims = {d.dimension: d for d in res.dimensions}
    script = dims.get("script_compliance")
    rules = step_rules.get(channel, {})
    return [
        s.MissingStep(step=step, rule_id=rules.get(step, step))
        for step in (missing_steps(list(script.deductions)) if script else [])
    ]


def flag_reasons(res: ResultRow) -> list[s.FlagReason]:
    """The run's findings by rule: most severe first, then most frequent (3 at most)."""
    counts: dict[str, s.FlagReason] = {}
    for h in res.hits:
        if h.severity == "info":
            continue
        if h.rule_id not in counts:
            counts[h.rule_id] = s.FlagReason(rule_id=h.rule_id, dimension=h.dimension, severity=h.severity, hits=0)
        counts[h.rule_id].hits += 1
    ranked = sorted(counts.values(), key=lambda r: (-SEVERITY_RANK.get(r.severity, 0), -r.hits, r.rule_id))
    return ranked[:3]


def interaction_out(session: Session, row: InteractionRow, *, appeal_window_days: int, step_rules: StepRules) -> s.InteractionOut:
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
            s.TurnOut(index=t.idx, role=t.role, text=t.text, start=t.start_s, end=t.end_s, asr_confidence=t.asr_confidence)
            for t in row.turns
        ],
        result=result_out(current, {hid: d.decision for hid, d in decisions.items()}),
        final=final_out(latest[-1]) if latest else None,
        reviews=[review_out(r) for r in reviews],
        appeals=[appeal_out(a) for a in appeals_of(session, row.id)],
        appeal_deadline=appeal_deadline(current, appeal_window_days),
        missing_steps=missing_out(current, row.channel, step_rules),
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
    session: Session,
    total: int,
    rows: list[tuple[InteractionRow, ResultRow]],
    limit: int,
    offset: int,
    step_rules: StepRules,
) -> s.Page[s.InteractionItem]:
    return s.Page[s.InteractionItem](total=total, limit=limit, offset=offset, items=_items(session, rows, step_rules))


def _items(session: Session, rows: list[tuple[InteractionRow, ResultRow]], step_rules: StepRules) -> list[s.InteractionItem]:
    finals = repo.latest_reviews(session, [res.id for _, res in rows])
    appeals = latest_appeals(session, [res.id for _, res in rows])
    items = []
    for row, res in rows:
        review = finals.get(res.id)
        appeal = appeals.get(res.id)
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
                appeal_id=appeal.id if appeal else None,
                appeal_status=appeal.status if appeal else None,
                findings=sum(h.severity != "info" for h in res.hits),
                top_rules=flag_reasons(res),
                low_dimensions={d.dimension: d.score for d in sorted(res.dimensions, key=lambda d: d.score) if d.score < 100},
                missing_steps=missing_out(res, row.channel, step_rules),
                reviewed_by=review.reviewer if review else None,
                reviewed_at=review.created_at if review else None,
                satisfaction=res.satisfaction_predicted,
                dissatisfied=res.satisfaction_dissatisfied,
            )
        )
    return items


def queue_page_out(
    session: Session,
    total: int,
    rows: list[tuple[InteractionRow, ResultRow]],
    limit: int,
    offset: int,
    step_rules: StepRules,
) -> s.Page[s.QueueItem]:
    """A review-queue page: each row with its assignment (the caller may see every row's interaction)."""
    assigned = asg.of_interactions(session, [row.id for row, _ in rows])
    done = asg.done_of(session, list(assigned.values()))
    items = []
    for item in _items(session, rows, step_rules):
        a = assigned.get(item.interaction_id)
        items.append(
            s.QueueItem(
                **item.model_dump(),
                assignment_id=a.id if a else None,
                assigned_to=a.assignee.username if a else None,
                assignment_status=None if a is None else "done" if a.id in done else "open",
            )
        )
    return s.Page[s.QueueItem](total=total, limit=limit, offset=offset, items=items)


def assignment_out(a: ReviewAssignment, done: asg.Done | None) -> s.AssignmentOut:
    return s.AssignmentOut(
        id=a.id,
        interaction_id=a.interaction_id,
        assignee=a.assignee.username,
        source=a.source,
        rule_id=a.rule_id,
        assigned_by=a.assigned_by,
        assigned_at=a.assigned_at,
        status="done" if done else "open",
        reviewed_at=done.reviewed_at if done else None,
        reviewed_by=done.reviewer if done else None,
    )


def assignments_out(session: Session, assignments: list[ReviewAssignment]) -> list[s.AssignmentOut]:
    done = asg.done_of(session, assignments)
    return [assignment_out(a, done.get(a.id)) for a in assignments]


def sampling_rule_out(rule: SamplingRule) -> s.SamplingRuleOut:
    return s.SamplingRuleOut(
        id=rule.id,
        name=rule.name,
        team_id=rule.team_id,
        rates=s.FlagRates(**{f: rule.rates.get(f, 0.0) for f in ("green", "yellow", "red")}),
        period=rule.period,
        assignees=[u.username for u in rule.assignees],
        active=rule.active,
        created_by=rule.created_by,
        created_at=rule.created_at,
    )
