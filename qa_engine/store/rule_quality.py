"""Hits counted per rule: how often reviewers confirmed or dismissed them, and an agent's most frequent rules.

A hit's decision is its latest one (a later review of the same result overrides an earlier one),
the same rule `reviews.review_state` applies to final scores. Counts are over current results, like
the KPIs, within the caller's scope.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from qa_engine.store.kpi import _count_if, _ratio, _where
from qa_engine.store.models import HitDecision, HitRow, InteractionRow, ResultRow
from qa_engine.store.repository import Scope


def _hits_in_scope(*columns):
    return (
        select(*columns)
        .select_from(HitRow)
        .join(ResultRow, and_(ResultRow.id == HitRow.result_id, ResultRow.is_current.is_(True)))
        .join(InteractionRow, InteractionRow.id == ResultRow.interaction_id)
    )


def _latest_decisions():
    """(hit_id, decision) of each decided hit: its latest decision."""
    latest = select(HitDecision.hit_id, func.max(HitDecision.id).label("id")).group_by(HitDecision.hit_id).subquery()
    return select(latest.c.hit_id, HitDecision.decision).join(HitDecision, HitDecision.id == latest.c.id).subquery()


def rule_quality(session: Session, scope: Scope, *, start: date | None = None, end: date | None = None) -> list[dict[str, Any]]:
    """Per rule: hits, reviewed hits, confirmed, dismissed and measured precision
    (confirmed / reviewed; None before any review). Worst precision first; unreviewed rules last,
    findings before informational rules, most hits first."""
    decision = _latest_decisions()
    rows = session.execute(
        _hits_in_scope(
            HitRow.rule_id,
            func.min(HitRow.dimension).label("dimension"),
            func.max(HitRow.severity).label("severity"),
            func.count(HitRow.id).label("hits"),
            _count_if(decision.c.decision == "confirm").label("confirmed"),
            _count_if(decision.c.decision == "dismiss").label("dismissed"),
        )
        .outerjoin(decision, decision.c.hit_id == HitRow.id)
        .where(scope.clause(), *_where(None, None, start, end))
        .group_by(HitRow.rule_id)
    ).all()
    out = []
    for r in rows:
        confirmed, dismissed = int(r.confirmed), int(r.dismissed)
        out.append(
            {
                "rule_id": r.rule_id,
                "dimension": r.dimension,
                "severity": r.severity,
                "hits": int(r.hits),
                "reviewed": confirmed + dismissed,
                "confirmed": confirmed,
                "dismissed": dismissed,
                "precision": _ratio(confirmed, confirmed + dismissed),
            }
        )
    out.sort(
        key=lambda q: (
            q["precision"] is None,
            q["precision"] or 0.0,
            q["severity"] == "info",  # findings before informational labels (politeness, emotion)
            -q["dismissed"],
            -q["hits"],
            q["rule_id"],
        )
    )
    return out


def top_rules(
    session: Session,
    scope: Scope,
    *,
    agent_id: str,
    start: date | None = None,
    end: date | None = None,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """An agent's most frequent rule hits (informational hits such as emotion labels left out),
    with how many interactions they occur in and how many of them reviewers dismissed."""
    decision = _latest_decisions()
    rows = session.execute(
        _hits_in_scope(
            HitRow.rule_id,
            func.min(HitRow.dimension).label("dimension"),
            func.max(HitRow.severity).label("severity"),
            func.count(HitRow.id).label("hits"),
            func.count(func.distinct(ResultRow.id)).label("interactions"),
            _count_if(decision.c.decision == "dismiss").label("dismissed"),
        )
        .outerjoin(decision, decision.c.hit_id == HitRow.id)
        .where(scope.clause(), HitRow.severity != "info", *_where(agent_id, None, start, end))
        .group_by(HitRow.rule_id)
        .order_by(func.count(HitRow.id).desc(), HitRow.rule_id)
        .limit(limit)
    ).all()
    return [
        {
            "rule_id": r.rule_id,
            "dimension": r.dimension,
            "severity": r.severity,
            "hits": int(r.hits),
            "interactions": int(r.interactions),
            "dismissed": int(r.dismissed),
        }
        for r in rows
    ]
