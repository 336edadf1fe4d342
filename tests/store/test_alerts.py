"""Alert webhooks through the real app on SQLite and PostgreSQL, posting to a real local HTTP receiver:
a stored result with a critical hit or a red flag is posted, signed, to its team's webhooks (and to
those for every team), once per interaction and event; a failing receiver is retried until it
accepts; an unreachable one fails after the configured tries; hosts without the API send with
`qa-engine alerts send`."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from conftest_db import CRITICAL, GREEN, RED, DbSettings, backends, bearer, fresh_database, seed_accounts
from fastapi.testclient import TestClient
from sqlalchemy import delete

from api.main import create_app
from qa_engine.cli import main as cli
from qa_engine.store import migrate
from qa_engine.store.db import Database
from qa_engine.store.models import AlertDelivery, AlertWebhook, InteractionRow

PASSWORD = "pass-word-for-tests"
USERS = {"admin": ("admin", None, ()), "sup1": ("supervisor", None, ("T1",)), "ingest": ("ingest", None, ())}
AGENT_TEAMS = {"A1": "T1", "A3": "T2"}


class Receiver:
    """A local HTTP server that records each POST; answers `statuses` in turn, then 200."""

    def __init__(self, statuses: tuple[int, ...] = ()):
        self.requests: list[dict] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, seconds: float = 15) -> list[dict]:
        deadline = time.monotonic() + seconds
        while len(self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module", params=backends())
def env(request, tmp_path_factory):
    with fresh_database(request.param, tmp_path_factory.mktemp(f"alerts-{request.param}")) as url:
        migrate.upgrade(url)
        db = Database(url)
        with db.session() as session:
            key = seed_accounts(session, USERS, AGENT_TEAMS, PASSWORD)
        settings = DbSettings(
            database_url=url, alert_poll_seconds=0.1, alert_retry_seconds=0.2, alert_max_attempts=3,
            alert_timeout_seconds=2,
        )  # fmt: skip
        with TestClient(create_app(settings)) as client:
            headers = {"ingest": {"X-API-Key": key}}
            for name in ("admin", "sup1"):
                headers[name] = bearer(client, name, PASSWORD)
            yield client, headers, db, url
        db.dispose()


@pytest.fixture(autouse=True)
def clean(env):
    yield
    with env[2].session() as session:
        session.execute(delete(AlertDelivery))
        session.execute(delete(AlertWebhook))
        session.execute(delete(InteractionRow))


def _hook(env, url: str, **fields) -> dict:
    client, headers, *_ = env
    r = client.post("/v1/alert-webhooks", headers=headers["admin"], json={"name": "ops", "url": url, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def _ingest(env, iid: str, turns, agent: str = "A1") -> dict:
    client, headers, *_ = env
    body = {"interaction_id": iid, "channel": "chat", "agent_id": agent, "team_id": AGENT_TEAMS[agent],
            "turns": [{"role": r, "text": t} for r, t in turns]}  # fmt: skip
    r = client.post("/v1/interactions", headers=headers["ingest"], json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()["result"]


def _deliveries(env, hook_id: int) -> list[dict]:
    client, headers, *_ = env
    r = client.get(f"/v1/alert-webhooks/{hook_id}/deliveries", headers=headers["admin"])
    assert r.status_code == 200, r.text
    return r.json()


def _settled(env, hook_id: int, seconds: float = 15) -> list[dict]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        deliveries = _deliveries(env, hook_id)
        if deliveries and all(d["status"] != "pending" for d in deliveries):
            return deliveries
        time.sleep(0.1)
    return _deliveries(env, hook_id)


def _signature_ok(request: dict, secret: str) -> bool:
    timestamp = request["headers"]["x-qa-timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(request["headers"]["x-qa-signature"], f"sha256={expected}")


def test_critical_and_red_results_are_posted_signed_to_their_teams_webhooks(env):
    t1, t2, everyone = Receiver(), Receiver(), Receiver()
    try:
        hook_t1 = _hook(env, t1.url, team_id="T1")
        _hook(env, t2.url, team_id="T2")
        hook_all = _hook(env, everyone.url, events=["red_result"])
        assert len(hook_t1["secret"]) >= 32  # generated, shown once
        listed = env[0].get("/v1/alert-webhooks", headers=env[1]["admin"]).json()
        assert all("secret" not in h for h in listed) and len(listed) == 3

        green = _ingest(env, "al-green", GREEN)
        critical = _ingest(env, "al-critical", CRITICAL)
        red = _ingest(env, "al-red", RED)
        assert green["flag"] == "green" and red["flag"] == "red"
        assert any(h["severity"] == "critical" for h in critical["hits"])

        requests = t1.wait_for(2)
        time.sleep(0.5)  # anything more that would (wrongly) arrive
        bodies = {json.loads(r["body"])["interaction_id"]: r for r in t1.requests}
        assert set(bodies) == {"al-critical", "al-red"}
        posted = json.loads(bodies["al-critical"]["body"])
        assert "critical_hit" in posted["events"] and posted["team_id"] == "T1" and posted["agent_id"] == "A1"
        assert posted["critical_hits"] and all(h["rule_id"].startswith("forbidden.") for h in posted["critical_hits"])
        assert posted["link"] == "/ui/#/i/al-critical" and posted["score"] == critical["score"]
        assert all(_signature_ok(r, hook_t1["secret"]) for r in requests)
        assert not _signature_ok(requests[0], "another secret of the same length!!")
        assert bodies["al-critical"]["headers"]["x-qa-event"] == ",".join(posted["events"])
        assert t2.requests == []  # another team's webhook hears nothing of T1
        # the webhook for every team asked for red results only
        everyone.wait_for(1 + (critical["flag"] == "red"))
        assert {json.loads(r["body"])["interaction_id"] for r in everyone.requests} == {"al-red"} | (
            {"al-critical"} if critical["flag"] == "red" else set()
        )
        assert all(json.loads(r["body"])["events"] == ["red_result"] for r in everyone.requests)

        # a re-send that is still red is not announced again
        _ingest(env, "al-red", (*RED, ("agent", "你自己看着办")))
        time.sleep(1.0)
        assert len([r for r in t1.requests if json.loads(r["body"])["interaction_id"] == "al-red"]) == 1
        assert [d["status"] for d in _settled(env, hook_all["id"])] == ["delivered"] * len(everyone.requests)
    finally:
        for receiver in (t1, t2, everyone):
            receiver.close()


def test_a_failing_receiver_is_retried_until_it_accepts(env):
    flaky = Receiver(statuses=(500, 503))
    try:
        hook = _hook(env, flaky.url, team_id="T2")
        _ingest(env, "al-flaky", RED, agent="A3")
        requests = flaky.wait_for(3)
        assert len(requests) == 3
        assert len({r["headers"]["x-qa-delivery"] for r in requests}) == 1  # the same delivery, tried again
        [delivery] = _settled(env, hook["id"])
        assert (delivery["status"], delivery["attempts"], delivery["last_status"]) == ("delivered", 3, 200)
        assert delivery["last_error"] is None and delivery["delivered_at"]
    finally:
        flaky.close()


def test_an_unreachable_receiver_fails_after_the_configured_tries(env):
    closed = Receiver()
    url = closed.url
    closed.close()  # nothing listens there now
    hook = _hook(env, url)
    _ingest(env, "al-unreachable", RED)
    [delivery] = _settled(env, hook["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 3  # alert_max_attempts
    assert delivery["last_status"] is None and "refused" in delivery["last_error"].lower()


@pytest.mark.parametrize("backend", backends())
def test_without_an_api_sender_the_cli_sends_what_is_due(backend, tmp_path):
    receiver = Receiver()
    try:
        with fresh_database(backend, tmp_path) as url:
            migrate.upgrade(url)
            db = Database(url)
            with db.session() as session:
                seed_accounts(session, USERS, AGENT_TEAMS, PASSWORD)
            db.dispose()
            with TestClient(create_app(DbSettings(database_url=url, alert_poll_seconds=0))) as client:
                admin = bearer(client, "admin", PASSWORD)
                hook = {"name": "n", "url": receiver.url, "secret": "s" * 20}
                assert client.post("/v1/alert-webhooks", headers=admin, json=hook).status_code == 201
                body = {"interaction_id": "al-cli", "channel": "chat", "agent_id": "A3", "team_id": "T2",
                        "turns": [{"role": role, "text": text} for role, text in RED]}  # fmt: skip
                assert client.post("/v1/interactions", headers=admin, json=body).status_code == 201
                time.sleep(0.5)
                assert receiver.requests == []  # QA_ALERT_POLL_SECONDS=0: this process sends nothing
            result = CliRunner().invoke(cli, ["alerts", "send", "--url", url])
            assert result.exit_code == 0, result.output
            assert result.output.strip() == "1 delivered, 0 pending, 0 failed"
            assert len(receiver.requests) == 1 and _signature_ok(receiver.requests[0], "s" * 20)
    finally:
        receiver.close()


@pytest.mark.parametrize(
    ("body", "status", "why"),
    [
        ({"name": "x", "url": "ftp://ops.example.com/x"}, 422, "url"),
        ({"name": "x", "url": "https://ops.example.com/x", "team_id": "T9"}, 422, "no team 'T9'"),
        ({"name": "x", "url": "https://ops.example.com/x", "secret": "short"}, 422, "secret"),
        ({"name": "x", "url": "https://ops.example.com/x", "events": []}, 422, "events"),
    ],
)
def test_bad_webhooks_are_refused_with_the_reason(env, body, status, why):
    client, headers, *_ = env
    r = client.post("/v1/alert-webhooks", headers=headers["admin"], json=body)
    assert r.status_code == status and why in r.text


def test_only_admins_manage_webhooks(env):
    client, headers, *_ = env
    body = {"name": "x", "url": "https://ops.example.com/x", "team_id": "T1"}
    assert client.post("/v1/alert-webhooks", headers=headers["sup1"], json=body).status_code == 403
    assert client.get("/v1/alert-webhooks", headers=headers["sup1"]).status_code == 403
    assert client.get("/v1/alert-webhooks", headers=headers["ingest"]).status_code == 403
    assert client.delete("/v1/alert-webhooks/1", headers=headers["admin"]).status_code == 404
    hook = _hook(env, "https://ops.example.com/x", team_id="T1")
    assert client.delete(f"/v1/alert-webhooks/{hook['id']}", headers=headers["admin"]).status_code == 204
    assert client.get(f"/v1/alert-webhooks/{hook['id']}/deliveries", headers=headers["admin"]).status_code == 404
