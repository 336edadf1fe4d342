"""Who is calling: JWT tokens (login tokens for people, audio tokens for one call), and the `Principal`
every route sees."""

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


# What a token is for (its `purpose` claim). A login token is the caller's credential for every
# route; an audio token only plays one interaction's call (in a URL, where it may be logged or shared).
LOGIN = "login"
AUDIO = "audio"


def create_token(subject: str, purpose: str, *, secret: str, algorithm: str, minutes: int, **claims) -> str:
    now = utcnow()
    claims |= {"sub": subject, "purpose": purpose, "iat": now, "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(claims, secret, algorithm=algorithm)


def create_access_token(username: str, role: str, *, secret: str, algorithm: str, minutes: int) -> str:
    """A login token."""
    return create_token(username, LOGIN, secret=secret, algorithm=algorithm, minutes=minutes, role=role)


def token_claims(token: str, purpose: str, *, secret: str, algorithm: str) -> dict | None:
    """The claims of a valid, unexpired token made for `purpose`, else None."""
    try:
        claims = jwt.decode(token, secret, algorithms=[algorithm], options={"require": ["sub", "exp", "purpose"]})
    except jwt.InvalidTokenError:
        return None
    return claims if claims["purpose"] == purpose else None


def token_subject(token: str, *, secret: str, algorithm: str) -> str | None:
    """The username in a valid, unexpired login token, else None (tokens for other purposes are no login)."""
    claims = token_claims(token, LOGIN, secret=secret, algorithm=algorithm)
    return claims["sub"] if claims else None
