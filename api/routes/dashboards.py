"""What the dashboards need beyond the KPI summaries: teams, a team's score distribution, an
agent's most frequent rules and each rule's measured precision from reviews."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import NO_AGENT, NO_TEAM, Reader, Reviewer, ScorerDep, SessionDep, visible_agent, visible_team
from api.openapi import errors
from api.routes.summaries import End, Start, _check_range
from api.schemas import RuleCount, RuleName, RuleQuality, ScoreBand, ScoreDistribution, TeamOut
from qa_engine.store import kpi
from qa_engine.store import rule_quality as quality
from qa_engine.store.models import Agent, Team

router = APIRouter(prefix="/v1", tags=["dashboards"])


@router.get("/teams", response_model=list[TeamOut], summary="Teams and their agents")
def list_teams(session: SessionDep, principal: Reviewer) -> list[TeamOut]:
    """All teams for admins and QA specialists; a supervisor's own teams."""
    stmt = select(Team).order_by(Team.id)
    if principal.role == "supervisor":
        stmt = stmt.where(Team.id.in_(sorted(principal.team_ids)))
    teams = list(session.scalars(stmt))
    members: dict[str, list[str]] = {}
    for agent in session.scalars(select(Agent).where(Agent.team_id.in_([t.id for t in teams])).order_by(Agent.id)):
        assert agent.team_id is not None  # selected by team
        members.setdefault(agent.team_id, []).append(agent.id)
    return [TeamOut(team_id=t.id, name=t.name, agents=members.get(t.id, [])) for t in teams]


@router.get(
    "/teams/{team_id}/score-distribution",
    response_model=ScoreDistribution,
    responses=errors(NO_TEAM),
    summary="How a team's scores spread",
)
def team_score_distribution(
    team_id: str, session: SessionDep, principal: Reviewer, start: Start = None, end: End = None
) -> ScoreDistribution:
    """Interactions per 10-point score band of the current runs: `count` by final scores (automatic
    where not reviewed), `automatic` by automatic scores."""
    _check_range(start, end)
    visible_team(session, principal, team_id)
    bands = kpi.score_distribution(session, team_id=team_id, start=start, end=end)
    return ScoreDistribution(team_id=team_id, start=start, end=end, bands=[ScoreBand.model_validate(b) for b in bands])


@router.get(
    "/agents/{agent_id}/top-rules",
    response_model=list[RuleCount],
    responses=errors(NO_AGENT),
    summary="An agent's most frequent rules",
)
def agent_top_rules(
    agent_id: str,
    session: SessionDep,
    principal: Reader,
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[RuleCount]:
    _check_range(start, end)
    visible_agent(session, principal, agent_id)
    rows = quality.top_rules(session, principal.scope, agent_id=agent_id, start=start, end=end, limit=limit)
    return [RuleCount(**r) for r in rows]


@router.get("/rule-quality", response_model=list[RuleQuality], summary="Each rule's measured precision")
def rule_quality(session: SessionDep, principal: Reviewer, start: Start = None, end: End = None) -> list[RuleQuality]:
    """For each rule: hits, how many reviewers confirmed or dismissed (latest decision per hit)
    and the precision that makes (confirmed / reviewed), worst first, so rule authors see which
    rules to fix. Supervisors see the figures of their teams' interactions."""
    _check_range(start, end)
    return [RuleQuality(**r) for r in quality.rule_quality(session, principal.scope, start=start, end=end)]


@router.get("/rule-names", response_model=list[RuleName], summary="Every rule's name in Chinese and English")
def rule_names(principal: Reader, scorer: ScorerDep) -> list[RuleName]:
    """The live rule packs' rules (`name_zh` / `name_en` in lexicons/packs/*.yaml; the id where a
    pack gives none), so pages show names instead of ids; `operator` says which are a model's judgement."""
    return [
        RuleName(
            rule_id=spec.id,
            dimension=spec.dimension,
            operator=spec.operator,
            severity=spec.severity,
            name_zh=spec.name_zh or spec.id,
            name_en=spec.name_en or spec.name_zh or spec.id,
        )
        for spec in sorted(scorer.rule_names(), key=lambda spec: spec.id)
    ]
