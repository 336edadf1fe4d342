"""Dependencies: database session, the caller (API key or bearer token), role checks.

Role aliases used by the routes:
- `Reader`: admin, qa_specialist, supervisor (their teams), agent (their own interactions);
- `Reviewer`: admin, qa_specialist, supervisor; `Appellant`: admin, supervisor, agent;
- `Ingestor`: admin, ingest; `RuleEditor`: admin, qa_specialist; `Admin`: admin;
- `Assigner` (review assignment, sampling rules): admin, supervisor (their teams).
A wrong role is 403; no or bad credentials is 401; too many failed API keys from one address, 429.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from api.config import ApiConfig
from api.metrics import Metrics
from api.ratelimit import API_KEY_ADDRESS, FailureLimiter
from api.scoring import Scorer
from api.security import Principal, token_subject
from qa_engine.store.accounts import get_user, user_for_api_key


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.db.sessionmaker() as session:
        yield session


def get_config(request: Request) -> ApiConfig:
    return request.app.state.config


def get_scorer(request: Request) -> Scorer:
    return request.app.state.scorer


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def get_limiter(request: Request) -> FailureLimiter:
    return request.app.state.limiter


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


SessionDep = Annotated[Session, Depends(get_db)]
ConfigDep = Annotated[ApiConfig, Depends(get_config)]
ScorerDep = Annotated[Scorer, Depends(get_scorer)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
LimiterDep = Annotated[FailureLimiter, Depends(get_limiter)]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key of a machine user")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def get_principal(
    request: Request,
    session: SessionDep,
    config: ConfigDep,
    limiter: LimiterDep,
    token: Annotated[str | None, Security(oauth2_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal:
    if api_key:
        address = (API_KEY_ADDRESS, client_address(request))
        limiter.check(address)
        user = user_for_api_key(session, api_key)
        if user is None:
            limiter.failed(address)
            raise _unauthorized("invalid or revoked API key")
        principal = Principal.of(user, "api_key")
        if session.dirty:
            session.commit()  # last_used_at
        return principal
    if token:
        username = token_subject(token, secret=config.signing_secret, algorithm=config.jwt_algorithm)
        user = get_user(session, username) if username else None
        if user is None or not user.is_active:
            raise _unauthorized("invalid or expired token")
        return Principal.of(user, "token")
    raise _unauthorized("not authenticated: send a bearer token or X-API-Key")


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: str):
    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role!r} may not do this")
        return principal

    return check


Reader = Annotated[Principal, Depends(require_roles("admin", "qa_specialist", "supervisor", "agent"))]
Reviewer = Annotated[Principal, Depends(require_roles("admin", "qa_specialist", "supervisor"))]
Appellant = Annotated[Principal, Depends(require_roles("admin", "supervisor", "agent"))]
Ingestor = Annotated[Principal, Depends(require_roles("admin", "ingest"))]
RuleEditor = Annotated[Principal, Depends(require_roles("admin", "qa_specialist"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
Assigner = Annotated[Principal, Depends(require_roles("admin", "supervisor"))]


# The 404s of the visible_* checks, for the `responses=errors(...)` of the routes that use them.
NO_INTERACTION = {404: "no interaction with this id that the caller may see"}
NO_AGENT = {404: "no such agent"}
NO_TEAM = {404: "no such team"}


def visible_interaction(session: Session, principal: Principal, interaction_id: str):
    """The interaction if it exists and the caller may see it; 404 otherwise (existence is not revealed)."""
    from qa_engine.store.repository import get_interaction

    row = get_interaction(session, interaction_id)
    if row is None or not principal.scope.allows(row):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no interaction {interaction_id!r}")
    return row


def visible_appeal(session: Session, principal: Principal, appeal_id: int):
    """The appeal and its interaction if the caller may see them; else the same 404 as for an id that
    does not exist (appeal ids are sequential: other teams' appeals must not be told apart)."""
    from qa_engine.store.models import Appeal
    from qa_engine.store.repository import get_interaction

    appeal = session.get(Appeal, appeal_id)
    row = get_interaction(session, appeal.interaction_id) if appeal is not None else None
    if row is None or not principal.scope.allows(row):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no appeal {appeal_id}")
    return appeal, row


def visible_agent(session: Session, principal: Principal, agent_id: str):
    """The agent if the caller may see their figures: agents only themselves; supervisors an agent
    now in one of their teams or who handled interactions in one (an agent who moved away). Which
    of the agent's interactions count is the caller's scope: a supervisor's, those handled in their
    teams."""
    from qa_engine.store.models import Agent
    from qa_engine.store.repository import last_team_handled

    agent = session.get(Agent, agent_id)
    if principal.role == "agent" and principal.agent_id != agent_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "agents see only their own summary")
    if principal.role == "supervisor":
        teams = principal.team_ids
        if agent is None or (agent.team_id not in teams and last_team_handled(session, agent_id, teams) is None):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "agent is not in your teams")
    if agent is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no agent {agent_id!r}")
    return agent


def visible_team(session: Session, principal: Principal, team_id: str):
    """The team if the caller may see its figures (supervisors only their own teams)."""
    from qa_engine.store.models import Team

    if principal.role == "supervisor" and team_id not in principal.team_ids:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not one of your teams")
    team = session.get(Team, team_id)
    if team is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no team {team_id!r}")
    return team
