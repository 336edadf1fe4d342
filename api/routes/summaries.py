"""KPI summaries of an agent and of a team over a date range, as JSON or as CSV / XLSX files."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from sqlalchemy.orm import Session

from api import export
from api.config import ApiConfig
from api.deps import NO_AGENT, NO_TEAM, ConfigDep, Reader, Reviewer, SessionDep, visible_agent, visible_team
from api.openapi import errors
from api.schemas import AgentSummary, AgentWarning, TeamSummary, TeamWarning
from api.security import Principal
from qa_engine.schema import IsoDate
from qa_engine.store import kpi
from qa_engine.store import repository as repo

router = APIRouter(prefix="/v1", tags=["summaries"])

Start = Annotated[IsoDate | None, Query(description="first local date (inclusive); omit for all")]
End = Annotated[IsoDate | None, Query(description="last local date (inclusive); omit for all")]
Format = Annotated[Literal["csv", "xlsx"], Query(description="file format")]


def _check_range(start: date | None, end: date | None) -> None:
    if start and end and end < start:
        raise HTTPException(422, "end is before start")


def _agent_summary(
    session: Session, principal: Principal, config: ApiConfig, agent_id: str, start: date | None, end: date | None
) -> AgentSummary:
    _check_range(start, end)
    agent = visible_agent(session, principal, agent_id)
    teams = principal.scope.team_ids  # a supervisor: only what the agent handled in their teams
    data = kpi.summary(session, agent_id=agent_id, team_ids=teams, start=start, end=end)
    team_id = agent.team_id
    if teams is not None and team_id not in teams:  # the agent moved away from the caller's teams
        team_id = repo.last_team_handled(session, agent_id, teams)
    ranks: dict[str, int] = {}
    if team_id is not None:
        ranks = kpi.agent_ranks(kpi.agent_breakdown(session, team_id=team_id, start=start, end=end), config.rank_min_interactions)
    return AgentSummary(
        agent_id=agent_id,
        team_id=team_id,
        start=start,
        end=end,
        rank=ranks.get(agent_id),
        rank_note=None if agent_id in ranks else _rank_note(data["interactions"], config),
        rank_min_interactions=config.rank_min_interactions,
        team_agents=len(ranks),
        warning=AgentWarning(**kpi.warning(kpi.days_of(data["daily"]), config.warning_rule)),
        **data,
    )


def _rank_note(interactions: int, config: ApiConfig) -> str | None:
    """Why an agent has no rank (None: too few interactions is not the reason)."""
    if interactions >= config.rank_min_interactions:
        return None
    return (
        f"not ranked: {interactions} interaction{'s' if interactions != 1 else ''} in the range, ranking needs "
        f"at least {config.rank_min_interactions} (QA_RANK_MIN_INTERACTIONS)"
    )


def _team_summary(
    session: Session, principal: Principal, config: ApiConfig, team_id: str, start: date | None, end: date | None
) -> TeamSummary:
    _check_range(start, end)
    visible_team(session, principal, team_id)
    data = kpi.summary(session, team_id=team_id, start=start, end=end)
    agents = kpi.agent_breakdown(session, team_id=team_id, start=start, end=end)
    ranks = kpi.agent_ranks(agents, config.rank_min_interactions)
    daily = kpi.agent_daily_averages(session, team_id=team_id, start=start, end=end)
    warnings = {a: kpi.warning(days, config.warning_rule) for a, days in daily.items()}
    for row in agents:
        row["rank"] = ranks.get(row["agent_id"])
        row["rank_note"] = None if row["agent_id"] in ranks else _rank_note(row["interactions"], config)
        row["warning"] = warnings.get(row["agent_id"])
    flagged = sorted(
        (TeamWarning(agent_id=a, **w) for a, w in warnings.items() if w["level"] != "green"),
        key=lambda w: (w.level != "red", w.agent_id),
    )
    return TeamSummary(
        team_id=team_id,
        start=start,
        end=end,
        rank_min_interactions=config.rank_min_interactions,
        agents=agents,
        warnings=flagged,
        **data,
    )


@router.get(
    "/agents/{agent_id}/summary",
    response_model=AgentSummary,
    responses=errors(NO_AGENT),
    summary="An agent's KPIs",
)
def agent_summary(
    agent_id: str, session: SessionDep, principal: Reader, config: ConfigDep, start: Start = None, end: End = None
) -> AgentSummary:
    """Agents see only their own summary (all of it); supervisors that of an agent in their teams,
    or who handled interactions in them, counting only the interactions handled in their teams (an
    agent's figures from another team stay with that team). Includes the agent's rank in their team
    (for a supervisor the agent left: the supervisor's team they last worked in; only with at least
    QA_RANK_MIN_INTERACTIONS interactions in the range, else `rank_note` says so) and a
    red / yellow / green warning (red on a critical violation; else consecutive low days). Every
    figure counts final scores where there are (reviews, decided appeals); `automatic` keeps the
    automatic ones."""
    return _agent_summary(session, principal, config, agent_id, start, end)


@router.get(
    "/agents/{agent_id}/summary/export",
    response_class=Response,
    responses={**export.OPENAPI_RESPONSES, **errors(NO_AGENT)},
    summary="An agent's KPIs as CSV or XLSX",
)
def export_agent_summary(
    agent_id: str,
    session: SessionDep,
    principal: Reader,
    config: ConfigDep,
    format: Format = "csv",
    start: Start = None,
    end: End = None,
) -> Response:
    """The same numbers as the JSON summary: tables `summary` and `daily`."""
    s = _agent_summary(session, principal, config, agent_id, start, end)
    return export.file_response(s, format, export.filename("agent", agent_id, start, end, format))


@router.get(
    "/teams/{team_id}/summary",
    response_model=TeamSummary,
    responses=errors(NO_TEAM),
    summary="A team's KPIs",
)
def team_summary(
    team_id: str, session: SessionDep, principal: Reviewer, config: ConfigDep, start: Start = None, end: End = None
) -> TeamSummary:
    """Supervisors see only their own teams. `warnings` lists the agents with a red or yellow warning."""
    return _team_summary(session, principal, config, team_id, start, end)


@router.get(
    "/teams/{team_id}/summary/export",
    response_class=Response,
    responses={**export.OPENAPI_RESPONSES, **errors(NO_TEAM)},
    summary="A team's KPIs as CSV or XLSX",
)
def export_team_summary(
    team_id: str,
    session: SessionDep,
    principal: Reviewer,
    config: ConfigDep,
    format: Format = "csv",
    start: Start = None,
    end: End = None,
) -> Response:
    """The same numbers as the JSON summary: tables `summary`, `daily`, `agents` and `warnings`."""
    s = _team_summary(session, principal, config, team_id, start, end)
    return export.file_response(s, format, export.filename("team", team_id, start, end, format))
