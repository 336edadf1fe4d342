"""Database fixtures shared by test_store.py and test_api.py (imported there, not a conftest).

Every test module gets a fresh database per backend: a SQLite file under tmp, and a uniquely named
schema in the PostgreSQL database `test` at 127.0.0.1:5432 (dropped afterwards), so parallel runs
do not collide. PostgreSQL is not optional: when it cannot be reached the tests fail and say why.
`QA_TEST_POSTGRES_URL` names another server; `QA_TEST_DATABASES=sqlite` runs SQLite only, on
purpose.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, make_url, text

from qa_engine.config import Settings
from qa_engine.schema import Interaction

PG_CANDIDATES = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)


def backends() -> list[str]:
    chosen = os.environ.get("QA_TEST_DATABASES", "sqlite,postgresql")
    return [b.strip() for b in chosen.split(",") if b.strip()]


def postgres_url() -> str:
    """The first PostgreSQL URL that accepts a connection, else fail the test with the reasons."""
    candidates = [os.environ["QA_TEST_POSTGRES_URL"]] if os.environ.get("QA_TEST_POSTGRES_URL") else PG_CANDIDATES
    errors = []
    for url in candidates:
        engine = create_engine(url, connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return url
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(f"{make_url(url).render_as_string(hide_password=True)}: {type(exc).__name__}: {exc}".strip())
        finally:
            engine.dispose()
    pytest.fail(
        "PostgreSQL is required for these tests and could not be reached.\n  "
        + "\n  ".join(errors)
        + "\nStart PostgreSQL (trust auth, database `test`), set QA_TEST_POSTGRES_URL, or run SQLite only "
        "with QA_TEST_DATABASES=sqlite.",
        pytrace=False,
    )


@contextmanager
def fresh_database(backend: str, tmp_dir: Path) -> Iterator[str]:
    """An empty database for `backend`; yields its SQLAlchemy URL and removes it afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / f'qa-{uuid.uuid4().hex[:8]}.db'}"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown test backend {backend!r}")
    base = postgres_url()
    schema = f"qa_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


class DbSettings(Settings):
    """Settings for the API tests: a signing secret of their own, short-lived tokens."""

    database_url: str | None = "sqlite:///./qa_engine.db"
    jwt_secret: SecretStr | None = SecretStr("test-secret-" + "x" * 32)
    access_token_minutes: int = 30


def seed_accounts(session, users: dict, agent_teams: dict[str, str], password: str) -> str:
    """Teams T1 and T2, the agents of `agent_teams` (agent -> team) and `users` (username -> (role,
    agent_id, team_ids)) with `password` (none for the ingest user); returns the ingest user's API key."""
    from qa_engine.store import accounts
    from qa_engine.store.models import Agent, Team

    session.add_all([Team(id="T1"), Team(id="T2")])
    session.add_all([Agent(id=a, team_id=t) for a, t in agent_teams.items()])
    session.flush()
    key = ""
    for name, (role, agent_id, teams) in users.items():
        user = accounts.create_user(session, name, role, password=None if role == "ingest" else password,
                                    agent_id=agent_id, team_ids=teams)
        if role == "ingest":
            _, key = accounts.create_api_key(session, user, "pipeline")
    return key


def bearer(client, username: str, password: str) -> dict[str, str]:
    """Log `username` in through the app (`POST /v1/auth/token`): the Authorization header to send."""
    r = client.post("/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def interaction(interaction_id: str, *turns: tuple[str, str], channel: str = "chat", **extra) -> Interaction:
    return Interaction.model_validate(
        {
            "interaction_id": interaction_id,
            "channel": channel,
            "turns": [{"role": r, "text": t} for r, t in turns],
            **extra,
        }
    )


# Conversations whose flags the default scorecards decide (checked in the tests that use them).
GREEN = (
    ("agent", "您好，很高兴为您服务"),
    ("customer", "我的快递三天了还没到，气死我了"),
    ("agent", "非常抱歉让您着急了，我理解您的心情，马上帮您查询"),
    ("customer", "好的谢谢"),
    ("agent", "已经帮您催促了，请问还有其他可以帮您的吗？感谢您的耐心，再见"),
)
YELLOW = (
    ("agent", "您好，很高兴为您服务"),
    ("customer", "我的快递三天了还没到"),
    ("agent", "这不归我管，你找别的部门吧，请问还有其他问题吗，再见"),
)
RED = (
    ("customer", "我的快递三天了还没到"),
    ("agent", "这不归我管，你自己去查"),
    ("customer", "什么态度"),
    ("agent", "你爱找谁找谁"),
)
CRITICAL = (
    ("agent", "您好"),
    ("customer", "怎么还没到"),
    ("agent", "你是不是傻，听不懂吗"),
    ("customer", "你怎么骂人"),
    ("agent", "再见"),
)
