"""KPI summaries of an agent and of a team over a date range."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.deps import Reader, Reviewer, SessionDep
from api.schemas import AgentSummary, TeamSummary
from qa_engine.store import kpi
from qa_engine.store.models import Agent, Team

router = APIRouter(prefix="/v1", tags=["summaries"])

Start = Annotated[date | None, Query(description="first local date (inclusive); omit for all")]
End = Annotated[date | None, Query(description="last local date (inclusive); omit for all")]


def _check_range(start: date | None, end: date | None) -> None:
    if start and end and end < start:
        raise HTTPException(422, "end is before start")


@router.get("/agents/{agent_id}/summary", response_model=AgentSummary, summary="An agent's KPIs")
def agent_summary(
    agent_id: str, session: SessionDep, principal: Reader, start: Start = None, end: End = None
) -> AgentSummary:
    """Agents see only their own summary; supervisors those of agents in their teams."""
    _check_range(start, end)
    agent = session.get(Agent, agent_id)
    if principal.role == "agent" and principal.agent_id != agent_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "agents see only their own summary")
    if principal.role == "supervisor" and (agent is None or agent.team_id not in principal.team_ids):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "agent is not in your teams")
    if agent is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no agent {agent_id!r}")
    data = kpi.summary(session, agent_id=agent_id, start=start, end=end)
    return AgentSummary(agent_id=agent_id, team_id=agent.team_id, start=start, end=end, **data)


@router.get("/teams/{team_id}/summary", response_model=TeamSummary, summary="A team's KPIs")
def team_summary(
    team_id: str, session: SessionDep, principal: Reviewer, start: Start = None, end: End = None
) -> TeamSummary:
    """Supervisors see only their own teams."""
    _check_range(start, end)
    if principal.role == "supervisor" and team_id not in principal.team_ids:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not one of your teams")
    if session.get(Team, team_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no team {team_id!r}")
    data = kpi.summary(session, team_id=team_id, start=start, end=end)
    agents = kpi.agent_breakdown(session, team_id=team_id, start=start, end=end)
    return TeamSummary(team_id=team_id, start=start, end=end, agents=agents, **data)
