"""Schemathesis against the app's own OpenAPI spec, on SQLite and PostgreSQL: generated requests to
every operation (as admin, who may call all of them) must never get a 500, and every response must
match the documented schema and content type."""

from __future__ import annotations

import pytest
import schemathesis
from conftest_db import GREEN, RED, DbSettings, backends, fresh_database
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from api.main import create_app
from qa_engine.store import accounts, migrate
from qa_engine.store.db import Database

PASSWORD = "pass-word-for-tests"
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module", params=backends())
def app_and_headers(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"schema-{request.param}")
    with fresh_database(request.param, tmp) as url:
        migrate.upgrade(url)
        db = Database(url)
        with db.session() as session:
            accounts.create_user(session, "admin", "admin", password=PASSWORD)
        db.dispose()
        app = create_app(DbSettings(database_url=url, upload_dir=tmp / "uploads"))
        with TestClient(app) as client:
            token = client.post("/v1/auth/token", data={"username": "admin", "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            for n, turns in enumerate((GREEN, RED)):  # something for reads to find
                body = {
                    "interaction_id": f"seed-{n}",
                    "channel": "chat",
                    "agent_id": "A1",
                    "team_id": "T1",
                    "started_at": "2026-11-20T10:00:00+08:00",
                    "turns": [{"role": r, "text": t} for r, t in turns],
                }
                assert client.post("/v1/interactions", json=body, headers=headers).status_code == 201
            yield app, headers


SETTINGS = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_no_server_error_and_responses_match_the_spec(app_and_headers):
    """Every operation in turn (schemathesis' pytest loader does not run on this pytest, so the
    operations are driven here); all failures are collected and reported together."""
    app, headers = app_and_headers
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures, operations = [], 0
    for result in api.get_all_operations():
        operation = result.ok()
        operations += 1

        @SETTINGS
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - schemathesis raises exception groups; reported below
            # A FlakyFailure (first call failed, the replay did not: state changed) wraps the real
            # failure; report the wrapped ones, or the message says nothing about the cause.
            inner = getattr(exc, "exceptions", ())
            detail = "; ".join(f"{type(e).__name__}: {e}" for e in inner) if inner else str(exc)
            failures.append(f"{operation.label}: {type(exc).__name__}: {detail[:1500]}")
    assert operations >= 25
    assert not failures, "\n\n".join(failures)
