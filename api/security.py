"""Who is calling: JWT access tokens for people, and the `Principal` every route sees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jwt

from qa_engine.store.models import ApiUser
from qa_engine.store.repository import EVERYTHING, Scope
from qa_engine.store.types import utcnow

READ_ALL = ("admin", "qa_specialist")


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: str
    agent_id: str | None
    team_ids: frozenset[str]
    via: str  # "token" or "api_key"

    @classmethod
    def of(cls, user: ApiUser, via: str) -> Principal:
        return cls(user.id, user.username, user.role, user.agent_id, frozenset(t.id for t in user.teams), via)

    @property
    def scope(self) -> Scope:
        """Interactions this caller may read: all, their teams', their own, or none (ingest)."""
        if self.role in READ_ALL:
            return EVERYTHING
        if self.role == "supervisor":
            return Scope(team_ids=self.team_ids)
        if self.role == "agent":
            return Scope(agent_ids=frozenset({self.agent_id}) if self.agent_id else frozenset())
        return Scope(agent_ids=frozenset())


def create_access_token(username: str, role: str, *, secret: str, algorithm: str, minutes: int) -> str:
    now = utcnow()
    claims = {"sub": username, "role": role, "iat": now, "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(claims, secret, algorithm=algorithm)


def token_subject(token: str, *, secret: str, algorithm: str) -> str | None:
    """The username in a valid, unexpired token, else None."""
    try:
        claims = jwt.decode(token, secret, algorithms=[algorithm], options={"require": ["sub", "exp"]})
    except jwt.InvalidTokenError:
        return None
    return claims.get("sub")
