"""API users (people: password, argon2 via pwdlib) and API keys (machines: only a SHA-256 stored)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from qa_engine.store.models import ROLES, Agent, ApiKey, ApiUser, Team
from qa_engine.store.repository import audit
from qa_engine.store.types import utcnow

KEY_PREFIX = "qak_"


class AccountError(ValueError):
    pass


@lru_cache(maxsize=1)
def _hasher():
    from pwdlib import PasswordHash

    return PasswordHash.recommended()  # argon2id


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _hasher().verify(password, password_hash)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def create_user(
    session: Session,
    username: str,
    role: str,
    *,
    password: str | None = None,
    agent_id: str | None = None,
    team_ids: Iterable[str] = (),
    actor: str = "system",
) -> ApiUser:
    """Create a user. Role `agent` needs `agent_id`; role `supervisor` is scoped to `team_ids`."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if role == "agent" and not agent_id:
        raise AccountError("a user with role agent needs agent_id")
    if session.scalar(select(ApiUser).where(ApiUser.username == username)) is not None:
        raise AccountError(f"user {username!r} exists")
    if password is not None and len(password) < 8:
        raise AccountError("password must have at least 8 characters")
    teams = []
    for team_id in dict.fromkeys(team_ids):
        team = session.get(Team, team_id) or Team(id=team_id)
        session.add(team)
        teams.append(team)
    if agent_id and session.get(Agent, agent_id) is None:
        session.add(Agent(id=agent_id))
    user = ApiUser(
        username=username,
        role=role,
        password_hash=hash_password(password) if password else None,
        agent_id=agent_id,
        teams=teams,
    )
    session.add(user)
    session.flush()
    audit(session, actor, "user.create", "user", username, role=role, agent_id=agent_id, team_ids=[t.id for t in teams])
    return user


def get_user(session: Session, username: str) -> ApiUser | None:
    return session.scalar(select(ApiUser).where(ApiUser.username == username))


def authenticate(session: Session, username: str, password: str) -> ApiUser | None:
    """The active user with this password, else None (the same work is done either way)."""
    user = get_user(session, username)
    if user is None or user.password_hash is None or not user.is_active:
        verify_password(password, _dummy_hash())
        return None
    return user if verify_password(password, user.password_hash) else None


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(session: Session, user: ApiUser, name: str, *, actor: str = "system") -> tuple[ApiKey, str]:
    """A new key for `user`; returns the row and the key, which is not stored and cannot be shown again."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(user_id=user.id, name=name, prefix=key[:12], key_hash=_key_hash(key))
    session.add(row)
    session.flush()
    audit(session, actor, "api_key.create", "user", user.username, key_id=row.id, name=name, prefix=row.prefix)
    return row, key


def user_for_api_key(session: Session, key: str) -> ApiUser | None:
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _key_hash(key), ApiKey.revoked_at.is_(None)))
    if row is None or not row.user.is_active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
        row.last_used_at = now  # coarse, so that every request is not a write
    return row.user


def revoke_api_key(session: Session, key_id: int, *, actor: str = "system") -> None:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise AccountError(f"no API key {key_id}")
    row.revoked_at = utcnow()
    audit(session, actor, "api_key.revoke", "user", row.user.username, key_id=key_id)
