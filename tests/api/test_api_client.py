"""The API as a generated client sees it: every operation has a short snake_case id of its own, and
openapi-python-client builds a client from the real app's /openapi.json whose functions, models and
typed errors work against the app served by uvicorn (SQLite: the schema is what is tested here;
test_api_schema.py runs both backends)."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from collections import Counter

import httpx
import pytest
from conftest import live_app
from conftest_db import GREEN, RED, DbSettings, seed_accounts

from api.main import create_app
from qa_engine.store import migrate
from qa_engine.store.db import Database

PASSWORD = "pass-word-for-tests"
USERS = {"admin": ("admin", None, ()), "agent1": ("agent", "A1", ()), "agent2": ("agent", "A2", ())}
OPERATION_ID = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+){0,3}")  # snake_case, at most four words
MAX_OPERATION_ID = 24


def test_operation_ids_are_short_unique_snake_case(tmp_path):
    app = create_app(DbSettings(database_url=f"sqlite:///{tmp_path / 'ids.db'}", upload_dir=tmp_path / "uploads"))
    ids = [
        (op["operationId"], f"{method.upper()} {path}")
        for path, operations in app.openapi()["paths"].items()
        for method, op in operations.items()
    ]
    assert len(ids) >= 45
    bad = [(i, where) for i, where in ids if not OPERATION_ID.fullmatch(i) or len(i) > MAX_OPERATION_ID]
    assert not bad, f"not short snake_case: {bad}"
    repeated = [i for i, n in Counter(i for i, _ in ids).items() if n > 1]
    assert not repeated, f"operation ids used twice: {repeated}"
    wanted = {"login": "POST /v1/auth/token", "get_interaction": "GET /v1/interactions/{interaction_id}",
              "agent_summary": "GET /v1/agents/{agent_id}/summary", "list_review_queue": "GET /v1/review-queue"}  # fmt: skip
    assert {i: where for i, where in ids if i in wanted} == wanted


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> str:
    """The app under uvicorn over a SQLite database with an admin and two agents (A1, A2)."""
    tmp = tmp_path_factory.mktemp("client")
    url = f"sqlite:///{tmp / 'client.db'}"
    migrate.upgrade(url)
    db = Database(url)
    with db.session() as session:
        seed_accounts(session, USERS, {"A1": "T1", "A2": "T1"}, PASSWORD)
    db.dispose()
    env = {"QA_DATABASE_URL": url, "QA_JWT_SECRET": "client-test-secret-" + "x" * 32,
           "QA_UPLOAD_DIR": str(tmp / "uploads"), "OMP_NUM_THREADS": "2"}  # fmt: skip
    with live_app(env, tmp / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def client_package(served, tmp_path_factory):
    """openapi-python-client's package for the served app's /openapi.json, imported."""
    out = tmp_path_factory.mktemp("generated")
    (out / "openapi.json").write_bytes(httpx.get(f"{served}/openapi.json").raise_for_status().content)
    (out / "config.yaml").write_text("post_hooks: []\n")  # no formatting with ruff: not what is tested
    proc = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(out / "openapi.json"),
         "--meta", "none", "--output-path", str(out / "qa_api_client"), "--config", str(out / "config.yaml")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Warning" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr  # nothing left out
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("qa_api_client")
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == "qa_api_client" or m.startswith("qa_api_client.")]:
            del sys.modules[name]


def test_a_generated_client_calls_the_app(served, client_package):
    """Log in, ingest, read an interaction (typed model) and one that does not exist (typed 404), an
    agent's summary, another agent's (403), a range the route refuses (422 with one message)."""
    qa = client_package
    from qa_api_client.api.auth import login, who_am_i
    from qa_api_client.api.interactions import get_interaction, ingest, list_interactions
    from qa_api_client.api.summaries import agent_summary
    from qa_api_client.models import AgentSummary, BodyLogin, ErrorOut, HTTPValidationError, Interaction
    from qa_api_client.models import IngestOut, InteractionOut, TokenOut

    def log_in(username: str):
        answer = login.sync_detailed(client=qa.Client(base_url=served), body=BodyLogin(username=username, password=PASSWORD))
        assert answer.status_code == 200 and isinstance(answer.parsed, TokenOut), answer.content
        return qa.AuthenticatedClient(base_url=served, token=answer.parsed.access_token, timeout=httpx.Timeout(120))

    wrong = login.sync_detailed(client=qa.Client(base_url=served), body=BodyLogin(username="admin", password="not-the-password"))
    assert wrong.status_code == 401 and isinstance(wrong.parsed, ErrorOut)
    assert wrong.parsed.detail == "wrong username or password"

    admin = log_in("admin")
    me = who_am_i.sync(client=admin)
    assert (me.username, me.role) == ("admin", "admin")
    scores = {}
    for agent, name, turns in (("A1", "chat-green", GREEN), ("A2", "chat-red", RED)):
        body = Interaction.from_dict({
            "interaction_id": name, "channel": "chat", "agent_id": agent, "team_id": "T1",
            "started_at": "2026-11-20T10:00:00+08:00", "turns": [{"role": r, "text": t} for r, t in turns],
        })  # fmt: skip
        stored = ingest.sync_detailed(client=admin, body=body)
        assert stored.status_code == 201 and isinstance(stored.parsed, IngestOut), stored.content
        scores[name] = stored.parsed.result.score
    assert scores["chat-green"] > scores["chat-red"]

    agent1 = log_in("agent1")
    found = get_interaction.sync_detailed("chat-green", client=agent1)
    assert found.status_code == 200 and isinstance(found.parsed, InteractionOut), found.content
    assert (found.parsed.agent_id, found.parsed.result.score) == ("A1", scores["chat-green"])
    assert [t.text for t in found.parsed.turns] == [t for _, t in GREEN]
    for missing in ("no-such-chat", "chat-red"):  # another agent's is not found either
        answer = get_interaction.sync_detailed(missing, client=agent1)
        assert answer.status_code == 404 and isinstance(answer.parsed, ErrorOut), answer.content
        assert answer.parsed.detail == f"no interaction {missing!r}"

    summary = agent_summary.sync_detailed("A1", client=agent1)
    assert summary.status_code == 200 and isinstance(summary.parsed, AgentSummary), summary.content
    assert (summary.parsed.agent_id, summary.parsed.interactions) == ("A1", 1)
    assert summary.parsed.average_score == scores["chat-green"]
    refused = agent_summary.sync_detailed("A2", client=agent1)
    assert refused.status_code == 403 and isinstance(refused.parsed, ErrorOut), refused.content
    assert refused.parsed.detail == "agents see only their own summary"

    bad_range = list_interactions.sync_detailed(client=admin, satisfaction_min=1, satisfaction_max=-1)
    assert bad_range.status_code == 422 and isinstance(bad_range.parsed, HTTPValidationError), bad_range.content
    assert bad_range.parsed.detail == "satisfaction_min (1) is above satisfaction_max (-1)"
