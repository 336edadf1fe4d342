"""Credentials end to end (security audit, issue 13): what each token may do, throttling of failed
logins and API keys, the JWT secret every worker shares, deactivating users, and appeal ids that do
not reveal other teams' interactions. The real app (TestClient), the real CLI and a real uvicorn
server; SQLite and PostgreSQL where storage is involved, a real Redis for shared rate limits."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from conftest import REPO
from conftest_db import RED, DbSettings, backends, fresh_database, seed_accounts
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

from api.main import create_app
from qa_engine.config import Settings
from qa_engine.store import migrate
from qa_engine.store.db import Database
from qa_engine.store.models import ApiUser, AuditLog, InteractionRow

PASSWORD = "pass-word-for-tests"
USERS = {  # username -> (role, agent_id, team_ids)
    "admin": ("admin", None, ()),
    "qa": ("qa_specialist", None, ()),
    "sup1": ("supervisor", None, ("T1",)),
    "sup2": ("supervisor", None, ("T2",)),
    "agent1": ("agent", "A1", ()),
    "ingest": ("ingest", None, ()),
}
AGENT_TEAMS = {"A1": "T1", "A3": "T2"}
REDIS = "redis://127.0.0.1:6379/1"


def _wav(path: Path) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)


def _seed_accounts(url: str) -> str:
    """Teams, agents and USERS in the database at `url`; returns the ingest user's API key."""
    db = Database(url)
    try:
        with db.session() as session:
            return seed_accounts(session, USERS, AGENT_TEAMS, PASSWORD)
    finally:
        db.dispose()


@dataclass
class Site:
    """A migrated database with USERS, two calls with audio (au-1 of A1/T1, au-2 of A3/T2)."""

    url: str
    audio_dir: Path
    ingest_key: str

    def settings(self, **overrides) -> Settings:
        return DbSettings(database_url=self.url, audio_dir=self.audio_dir, **overrides)

    @contextmanager
    def client(self, **overrides) -> Iterator[TestClient]:
        """A fresh app on this database (its own in-process rate limit counts)."""
        with TestClient(create_app(self.settings(**overrides))) as client:
            yield client


def login(client: TestClient, username: str, password: str = PASSWORD):
    return client.post("/v1/auth/token", data={"username": username, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def headers_of(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = login(client, username, password)
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


@pytest.fixture(scope="module", params=backends())
def site(request, tmp_path_factory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp(f"auth-{request.param}")
    audio_dir = tmp / "audio"
    audio_dir.mkdir()
    _wav(audio_dir / "call.wav")
    with fresh_database(request.param, tmp) as url:
        migrate.upgrade(url)
        key = _seed_accounts(url)
        s = Site(url, audio_dir, key)
        with s.client() as client:
            for iid, agent in (("au-1", "A1"), ("au-2", "A3")):
                body = {
                    "interaction_id": iid,
                    "channel": "call",
                    "agent_id": agent,
                    "team_id": AGENT_TEAMS[agent],
                    "started_at": "2026-11-20T10:00:00+08:00",
                    "audio_path": "call.wav",
                    "turns": [{"role": r, "text": t} for r, t in RED],
                }
                r = client.post("/v1/interactions", json=body, headers={"X-API-Key": key})
                assert r.status_code == 201, r.text
        yield s


# --- 1. token purposes ------------------------------------------------------------------------------


def _audio_token(client: TestClient, who: dict[str, str], interaction_id: str) -> tuple[str, str]:
    r = client.get(f"/v1/interactions/{interaction_id}/audio-link", headers=who)
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    return url, parse_qs(urlsplit(url).query)["token"][0]


def test_an_audio_link_token_is_not_a_login(site):
    with site.client() as client:
        admin = headers_of(client, "admin")
        url, token = _audio_token(client, admin, "au-1")
        assert client.get(url).status_code == 200  # it plays its call
        for method, path, body in (
            ("GET", "/v1/auth/me", None),
            ("POST", "/v1/users", {"username": "mallory", "role": "admin", "password": "long password"}),
            ("GET", "/v1/interactions/au-2", None),
            ("GET", "/v1/interactions", None),
            ("GET", "/v1/interactions/au-1/audio-link", None),
        ):
            r = client.request(method, path, json=body, headers=bearer(token))
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["detail"] == "invalid or expired token"
        assert client.get("/v1/auth/me", headers=admin).status_code == 200
        assert login(client, "mallory", "long password").status_code == 401  # was not created


def test_the_audio_route_plays_only_audio_tokens_of_its_interaction(site):
    with site.client() as client:
        qa = headers_of(client, "qa")
        login_token = qa["Authorization"].removeprefix("Bearer ")
        r = client.get(f"/v1/interactions/au-1/audio?token={login_token}")
        assert r.status_code == 401 and "audio link" in r.json()["detail"]
        url, token = _audio_token(client, qa, "au-1")
        assert client.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
        other = client.get(f"/v1/interactions/au-2/audio?token={token}")
        assert other.status_code == 401 and "another interaction" in other.json()["detail"]


# --- 10. throttling ----------------------------------------------------------------------------------


def _retry_after(r: httpx.Response, most: int) -> int:
    assert r.status_code == 429, r.text
    seconds = int(r.headers["Retry-After"])
    assert 1 <= seconds <= most, seconds
    return seconds


def test_failed_logins_are_throttled_per_user_with_the_default_limits(site):
    defaults = Settings()
    assert defaults.login_failures_per_user == "10/minute" and defaults.login_failures_per_address == "30/minute"
    with site.client() as client:
        elsewhere = TestClient(client.app, client=("192.0.2.7", 50000))
        for _ in range(10):
            assert login(client, "qa", "wrong password").status_code == 401
        r = login(client, "qa", "wrong password")
        _retry_after(r, 60)
        assert "too many failed logins" in r.json()["detail"]
        _retry_after(login(client, "qa"), 60)  # the right password waits for the window too
        _retry_after(login(elsewhere, "qa"), 60)  # from any address
        assert login(client, "sup1").status_code == 200  # other users are not locked out
        assert client.get("/v1/auth/me", headers=headers_of(client, "agent1")).status_code == 200


def test_failed_logins_are_throttled_per_address_with_the_default_limits(site):
    with site.client() as client:
        elsewhere = TestClient(client.app, client=("192.0.2.8", 50000))
        for n in range(30):  # three guesses per name: no user reaches their own limit
            assert login(client, f"guess-{n // 3}", "wrong password").status_code == 401
        _retry_after(login(client, "sup1"), 60)
        _retry_after(login(client, "guess-new", "wrong password"), 60)
        assert login(elsewhere, "sup1").status_code == 200


def test_a_throttled_login_succeeds_once_the_window_has_passed(site):
    with site.client(login_failures_per_user="2 per 2 seconds") as client:
        for _ in range(2):
            assert login(client, "qa", "wrong password").status_code == 401
        wait = _retry_after(login(client, "qa"), 2)
        time.sleep(wait + 0.2)
        assert login(client, "qa").status_code == 200


def test_failed_api_key_lookups_are_throttled_per_address_with_the_default_limits(site):
    with site.client() as client:
        elsewhere = TestClient(client.app, client=("192.0.2.9", 50000))
        for _ in range(30):
            assert client.get("/v1/auth/me", headers={"X-API-Key": "qak_wrong"}).status_code == 401
        r = client.get("/v1/auth/me", headers={"X-API-Key": "qak_wrong"})
        _retry_after(r, 60)
        assert "too many failed API keys" in r.json()["detail"]
        _retry_after(client.get("/v1/auth/me", headers={"X-API-Key": site.ingest_key}), 60)
        assert elsewhere.get("/v1/auth/me", headers={"X-API-Key": site.ingest_key}).status_code == 200
        assert client.get("/v1/auth/me", headers=headers_of(client, "qa")).status_code == 200  # tokens unaffected


def test_apps_sharing_redis_share_the_failure_counts(site):
    shared = {"rate_limit_storage": REDIS, "rate_limit_prefix": f"qa-test-{uuid.uuid4().hex}"}
    with site.client(**shared) as one, site.client(**shared) as two, site.client() as alone:
        try:
            for client in (one, two) * 5:
                assert login(client, "qa", "wrong password").status_code == 401
            _retry_after(login(one, "qa"), 60)
            _retry_after(login(two, "qa"), 60)
            assert login(alone, "qa").status_code == 200  # memory:// counts in its own process only
        finally:
            one.app.state.limiter.storage.reset()


def test_an_unreachable_rate_limit_store_is_a_503_not_a_500(site):
    with site.client(rate_limit_storage="redis://127.0.0.1:9/0") as client:
        r = login(client, "qa")
        assert r.status_code == 503 and "rate limit storage" in r.json()["detail"]


# --- 11. the JWT secret -----------------------------------------------------------------------------


def _unset_secret(url: str) -> Settings:
    return Settings(database_url=url, jwt_secret=None)


def test_apps_without_a_configured_secret_accept_each_others_tokens(site):
    with TestClient(create_app(_unset_secret(site.url))) as one, TestClient(create_app(_unset_secret(site.url))) as two:
        assert one.app.state.config.jwt_secret == two.app.state.config.jwt_secret
        for a, b in ((one, two), (two, one)):
            r = b.get("/v1/auth/me", headers=headers_of(a, "qa"))
            assert r.status_code == 200 and r.json()["username"] == "qa"


@pytest.mark.parametrize("backend", backends())
def test_processes_starting_together_store_one_secret(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        start = threading.Barrier(6)
        secrets: list[str] = []

        def start_app() -> None:
            start.wait()
            secrets.append(create_app(_unset_secret(url)).state.config.jwt_secret)

        threads = [threading.Thread(target=start_app) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(secrets) == 6 and len(set(secrets)) == 1 and len(secrets[0].encode()) >= 32
        from qa_engine.store.models import ServerSecret  # noqa: PLC0415 - the table this change adds

        db = Database(url)
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(ServerSecret)) == 1
        db.dispose()


def test_a_short_secret_is_refused_with_one_clear_message():
    for short in ("x" * 31, "密" * 10, ""):  # 31, 30 and 0 bytes
        with pytest.raises(ValidationError) as err:
            Settings(jwt_secret=short)
        assert "QA_JWT_SECRET must be at least 32 bytes" in str(err.value)
    assert Settings(jwt_secret="x" * 32).jwt_secret and Settings(jwt_secret="密" * 11).jwt_secret
    proc = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--port", str(_free_port())],
        cwd=REPO, env={**os.environ, "QA_JWT_SECRET": "too-short-secret"}, capture_output=True, timeout=120,
    )
    out = proc.stderr.decode() + proc.stdout.decode()
    assert proc.returncode != 0
    assert out.count("QA_JWT_SECRET must be at least 32 bytes (it has 16)") == 1, out[-3000:]
    assert "too-short-secret" not in out
    serve = subprocess.run(  # `qa-engine serve` checks the settings first: one line, no traceback
        [sys.executable, "-m", "qa_engine", "serve", "--port", str(_free_port())],
        cwd=REPO, env={**os.environ, "QA_JWT_SECRET": "too-short-secret"}, capture_output=True, timeout=120,
    )
    assert serve.returncode == 1 and serve.stderr.decode().splitlines() == [
        "qa-engine: error: bad setting QA_JWT_SECRET: Value error, QA_JWT_SECRET must be at least 32 bytes (it has "
        "16); make one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`, or unset it to use the "
        "secret stored in the database"
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_with_two_workers_and_no_secret_accepts_its_tokens_and_logs_no_audio_token(tmp_path):
    """The real server (`python -m api.server --workers 2`, no QA_JWT_SECRET): every fresh token works
    whichever worker made it and whichever checks it; the access log has no query strings."""
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    migrate.upgrade(url)
    _seed_accounts(url)
    _wav(tmp_path / "call.wav")
    db = Database(url)
    with db.session() as session:
        now = datetime.now(UTC)
        session.add(
            InteractionRow(
                id="w-call", channel="call", agent_id="A1", team_id="T1", occurred_at=now,
                occurred_date=now.date(), audio_path="call.wav", content_hash="0" * 64,
            )
        )
    db.dispose()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "QA_JWT_SECRET"}
    env |= {"QA_DATABASE_URL": url, "QA_AUDIO_DIR": str(tmp_path), "QA_QUEUE_SCORER": "false"}
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.server", "--port", str(port), "--workers", "2"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.25)
        else:
            pytest.fail(f"the server did not start: {log_path.read_text()[-3000:]}")
        time.sleep(1)  # the second worker too
        refused = 0
        for _ in range(24):  # a new connection each time: the kernel hands them to either worker
            token = httpx.post(f"{base}/v1/auth/token", data={"username": "qa", "password": PASSWORD})
            assert token.status_code == 200, token.text
            me = httpx.get(f"{base}/v1/auth/me", headers=bearer(token.json()["access_token"]))
            refused += me.status_code != 200
        assert refused == 0, f"{refused} of 24 fresh tokens refused"
        link = httpx.get(f"{base}/v1/interactions/w-call/audio-link", headers=bearer(token.json()["access_token"]))
        assert link.status_code == 200, link.text
        audio_token = parse_qs(urlsplit(link.json()["url"]).query)["token"][0]
        assert httpx.get(base + link.json()["url"]).status_code == 200
        assert httpx.get(f"{base}/v1/interactions?agent=A1&limit=5", headers=bearer(token.json()["access_token"])).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log_path.read_text()
    assert re.search(r'"GET /v1/interactions/w-call/audio HTTP/1\.1" 200', text), text[-3000:]
    assert re.search(r'"GET /v1/interactions HTTP/1\.1" 200', text), text[-3000:]
    assert audio_token not in text and "token=" not in text and "agent=A1" not in text


# --- 12. deactivating users ----------------------------------------------------------------------------


def test_admins_deactivate_and_activate_users(site):
    with site.client() as client:
        admin = headers_of(client, "admin")
        created = client.post("/v1/users", json={"username": "leaver", "role": "qa_specialist", "password": "long password"}, headers=admin)
        assert created.status_code == 201, created.text
        key = client.post("/v1/users/leaver/api-keys", json={"name": "laptop"}, headers=admin).json()["key"]
        token = headers_of(client, "leaver", "long password")
        as_key = {"X-API-Key": key}
        assert client.get("/v1/auth/me", headers=token).status_code == 200
        assert client.get("/v1/auth/me", headers=as_key).status_code == 200

        assert client.post("/v1/users/leaver/deactivate").status_code == 401
        assert client.post("/v1/users/leaver/deactivate", headers=headers_of(client, "qa")).status_code == 403
        assert client.post("/v1/users/leaver/deactivate", headers=headers_of(client, "sup1")).status_code == 403
        r = client.post("/v1/users/leaver/deactivate", headers=admin)
        assert r.status_code == 200 and r.json()["is_active"] is False and r.json()["username"] == "leaver"
        # At once: the token and the key already issued, and a new login.
        assert client.get("/v1/auth/me", headers=token).status_code == 401
        assert client.get("/v1/auth/me", headers=as_key).status_code == 401
        assert login(client, "leaver", "long password").status_code == 401

        nobody = client.post("/v1/users/nobody/deactivate", headers=admin)
        assert nobody.status_code == 404 and nobody.json()["detail"] == "no user 'nobody'"
        self_ = client.post("/v1/users/admin/deactivate", headers=admin)
        assert self_.status_code == 409 and "own account" in self_.json()["detail"]

        r = client.post("/v1/users/leaver/activate", headers=admin)
        assert r.status_code == 200 and r.json()["is_active"] is True
        assert login(client, "leaver", "long password").status_code == 200
        assert client.get("/v1/auth/me", headers=as_key).status_code == 200
    db = Database(site.url)
    with db.session() as session:
        entries = session.execute(
            select(AuditLog.actor, AuditLog.action).where(AuditLog.object_id == "leaver").order_by(AuditLog.id)
        ).all()
        assert [tuple(e) for e in entries if e.action.startswith("user.")] == [
            ("admin", "user.create"), ("admin", "user.deactivate"), ("admin", "user.activate")
        ]
    db.dispose()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa_engine", *args], cwd=REPO, capture_output=True, timeout=120)


def _is_active(url: str, username: str) -> bool:
    db = Database(url)
    try:
        with db.session() as session:
            return session.scalar(select(ApiUser.is_active).where(ApiUser.username == username))
    finally:
        db.dispose()


def test_cli_deactivates_and_activates_users(site):
    made = subprocess.run(
        [sys.executable, "-m", "qa_engine", "users", "create", "cli-user", "--role", "qa_specialist", "--password-stdin", "--url", site.url],
        cwd=REPO, input=b"long password\n", capture_output=True, timeout=120,
    )
    assert made.returncode == 0, made.stderr
    with site.client() as client:
        token = headers_of(client, "cli-user", "long password")
        off = _cli("users", "deactivate", "cli-user", "--url", site.url)
        assert off.returncode == 0 and off.stdout.decode().strip() == "deactivated cli-user", off.stderr
        assert _is_active(site.url, "cli-user") is False
        assert client.get("/v1/auth/me", headers=token).status_code == 401
        on = _cli("users", "activate", "cli-user", "--url", site.url)
        assert on.returncode == 0 and on.stdout.decode().strip() == "activated cli-user", on.stderr
        assert client.get("/v1/auth/me", headers=token).status_code == 200
    missing = _cli("users", "deactivate", "ghost", "--url", site.url)
    assert missing.returncode == 1 and missing.stderr.decode().strip() == "Error: no user 'ghost'"
    db = Database(site.url)
    with db.session() as session:
        actions = session.scalars(select(AuditLog.action).where(AuditLog.object_id == "cli-user", AuditLog.actor == "cli"))
        assert list(actions) == ["user.create", "user.deactivate", "user.activate"]
    db.dispose()


# --- 13. appeal ids ------------------------------------------------------------------------------------


def test_a_wrong_scope_appeal_reads_as_no_such_appeal(site):
    with site.client() as client:
        filed = client.post("/v1/interactions/au-1/appeals", json={"reason": "复述客户原话"}, headers=headers_of(client, "admin"))
        assert filed.status_code == 201, filed.text
        appeal_id = filed.json()["id"]
        decide = {"decision": "rejected", "reason": "维持"}
        sup2 = headers_of(client, "sup2")  # team T2; au-1 is T1's
        wrong_scope = client.post(f"/v1/appeals/{appeal_id}/decision", json=decide, headers=sup2)
        missing_id = appeal_id + 1000
        missing = client.post(f"/v1/appeals/{missing_id}/decision", json=decide, headers=sup2)
        assert wrong_scope.status_code == missing.status_code == 404
        assert wrong_scope.json() == {"detail": f"no appeal {appeal_id}"}
        assert missing.json() == {"detail": f"no appeal {missing_id}"}
        assert "au-1" not in wrong_scope.text
        decided = client.post(f"/v1/appeals/{appeal_id}/decision", json=decide, headers=headers_of(client, "sup1"))
        assert decided.status_code == 200 and decided.json()["appeal"]["status"] == "rejected"
