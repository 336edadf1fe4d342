"""Queued ingestion through the real app (TestClient, real engine and background scorer) on SQLite
and PostgreSQL: `POST /v1/interactions?wait=false`, `POST /v1/interactions/bulk`, job and bulk
status, duplicates, a bad item failing alone, restart and claim safety."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from conftest_db import GREEN, RED, YELLOW, DbSettings, backends, bearer, fresh_database
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update

from api.main import create_app
from qa_engine.schema import Interaction
from qa_engine.store import accounts, migrate
from qa_engine.store import queue as store_queue
from qa_engine.store.db import Database
from qa_engine.store.models import Agent, AuditLog, IngestJob, InteractionRow, ResultRow, Team

PASSWORD = "pass-word-for-tests"


@dataclass
class Env:
    client: TestClient
    db: Database
    app: object
    headers: dict[str, dict[str, str]]

    def post(self, path: str, who: str | None, **kw):
        return self.client.post(path, headers=self.headers.get(who, {}), **kw)

    def get(self, path: str, who: str | None, **kw):
        return self.client.get(path, headers=self.headers.get(who, {}), **kw)


@pytest.fixture(scope="module", params=backends())
def env(request, tmp_path_factory):
    with fresh_database(request.param, tmp_path_factory.mktemp(f"queue-{request.param}")) as url:
        migrate.upgrade(url)
        db = Database(url)
        keys = {}
        with db.session() as session:
            session.add(Team(id="T1"))
            session.add(Agent(id="A1", team_id="T1"))
            session.flush()
            accounts.create_user(session, "admin", "admin", password=PASSWORD)
            accounts.create_user(session, "agent1", "agent", password=PASSWORD, agent_id="A1")
            for name in ("ingest", "ingest2"):
                user = accounts.create_user(session, name, "ingest")
                keys[name] = accounts.create_api_key(session, user, "pipeline")[1]
        app = create_app(DbSettings(database_url=url))
        with TestClient(app) as client:
            headers = {name: {"X-API-Key": key} for name, key in keys.items()}
            for name in ("admin", "agent1"):
                headers[name] = bearer(client, name, PASSWORD)
            yield Env(client, db, app, headers)
        db.dispose()


@pytest.fixture(autouse=True)
def clean(env):
    yield
    wait_idle(env)
    with env.db.session() as session:
        session.execute(delete(IngestJob))
        session.execute(delete(InteractionRow))
        session.execute(delete(AuditLog))


def wait_idle(env: Env, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with env.db.session() as session:
            if store_queue.pending_count(session) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("the queue did not drain")


def wait_job(env: Env, job_id: str, who: str = "ingest", timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = env.get(f"/v1/jobs/{job_id}", who)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def wait_bulk(env: Env, batch_id: str, who: str = "ingest", timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = env.get(f"/v1/interactions/bulk/{batch_id}", who)
        assert r.status_code == 200, r.text
        status = r.json()
        if status["finished"] or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def chat(interaction_id: str, turns, agent: str = "A1", **extra) -> dict:
    return {
        "interaction_id": interaction_id,
        "channel": "chat",
        "agent_id": agent,
        "team_id": "T1",
        "started_at": "2026-11-20T10:00:00+08:00",
        "turns": [{"role": r, "text": t} for r, t in turns],
        **extra,
    }


def test_wait_false_queues_then_the_background_scorer_stores_the_same_result(env):
    r = env.post("/v1/interactions?wait=false", "ingest", json=chat("q-1", RED))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running", "done") and job["interaction_id"] == "q-1"
    assert r.headers["location"] == job["status_url"] == f"/v1/jobs/{job['job_id']}"
    done = wait_job(env, job["job_id"])
    assert done["status"] == "done" and done["error"] is None
    assert done["flag"] == "red" and done["result_id"] is not None
    # the same as synchronous scoring of the same content
    sync = env.post("/v1/interactions", "ingest", json=chat("q-sync", RED)).json()["result"]
    stored = env.get("/v1/interactions/q-1", "admin").json()
    assert stored["result"]["id"] == done["result_id"]
    assert stored["result"]["score"] == sync["score"] == done["score"]
    assert [h["rule_id"] for h in stored["result"]["hits"]] == [h["rule_id"] for h in sync["hits"]]
    # the same content again: the existing job, nothing queued
    again = env.post("/v1/interactions?wait=false", "ingest", json=chat("q-1", RED))
    assert again.status_code == 200 and again.json()["job_id"] == job["job_id"]
    # content already stored synchronously: a job that is already done, pointing at that result
    dup = env.post("/v1/interactions?wait=false", "ingest", json=chat("q-sync", RED))
    assert dup.status_code == 200 and dup.json()["status"] == "done"
    with env.db.session() as session:
        actions = sorted(session.scalars(select(AuditLog.action).where(AuditLog.object_id == "q-1")))
        runs = session.scalar(select(func.count()).select_from(ResultRow).where(ResultRow.interaction_id == "q-1"))
    assert actions == ["interaction.ingest_queued", "interaction.queue"] and runs == 1


def test_bulk_scores_everything_and_a_bad_item_fails_alone(env):
    env.post("/v1/interactions", "ingest", json=chat("b-stored", GREEN))  # stored synchronously before
    items = [
        chat("b-1", GREEN),
        chat("b-2", RED),
        {"interaction_id": "b-bad", "channel": "call", "agent_id": "A1", "audio_path": "nowhere/x.wav"},
        chat("b-3", YELLOW),
        chat("b-1", GREEN),  # the same content twice in one request
        chat("b-stored", GREEN),  # already stored
    ]
    r = env.post("/v1/interactions/bulk", "ingest", json={"interactions": items})
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["accepted"] == 4 and out["duplicates"] == 2
    assert [j["index"] for j in out["jobs"]] == list(range(6))
    assert [j["duplicate"] for j in out["jobs"]] == [False, False, False, False, True, True]
    assert out["jobs"][4]["job_id"] == out["jobs"][0]["job_id"]
    assert out["jobs"][5]["status"] == "done"
    assert r.headers["location"] == out["status_url"] == f"/v1/interactions/bulk/{out['batch_id']}"

    status = wait_bulk(env, out["batch_id"])
    assert status["finished"] and status["total"] == 5  # b-1, b-2, b-bad, b-3, and the done b-stored job
    assert (status["done"], status["failed"], status["queued"], status["running"]) == (4, 1, 0, 0)
    jobs = {j["interaction_id"]: j for j in status["jobs"]}
    assert jobs["b-bad"]["status"] == "failed" and "audio" in jobs["b-bad"]["error"]
    assert jobs["b-bad"]["result_id"] is None
    assert {jobs[i]["flag"] for i in ("b-1", "b-2", "b-3")} == {"green", "red", "yellow"}
    assert env.get("/v1/interactions/b-bad", "admin").status_code == 404
    for iid in ("b-1", "b-2", "b-3", "b-stored"):
        assert env.get(f"/v1/interactions/{iid}", "admin").json()["result"]["id"] == jobs[iid]["result_id"]
    failed = env.get(f"/v1/jobs/{jobs['b-bad']['job_id']}", "ingest").json()
    assert failed["status"] == "failed" and failed["error"] == jobs["b-bad"]["error"]
    with env.db.session() as session:  # no write lost, nothing stored twice
        assert session.scalar(select(func.count()).select_from(InteractionRow)) == 4
        assert session.scalar(select(func.count()).select_from(ResultRow)) == 4
    # the whole request again: every item a duplicate (the failed one is queued again)
    again = env.post("/v1/interactions/bulk", "ingest", json={"interactions": items}).json()
    assert again["accepted"] == 1 and [j["interaction_id"] for j in again["jobs"] if not j["duplicate"]] == ["b-bad"]


def test_score_many_fails_a_bad_item_alone_with_the_error_of_score(env):
    """The queue's scoring of a claimed batch: one outcome per job, in order, a bad one failing alone."""
    scorer = env.app.state.scorer
    good = [chat("m-1", RED), chat("m-2", GREEN), chat("m-3", YELLOW)]
    invalid = {"interaction_id": "m-bad", "channel": "fax", "turns": []}  # a stored job's fields no longer valid
    audio = {"interaction_id": "m-audio", "channel": "call", "agent_id": "A1", "audio_path": "nowhere/x.wav"}
    out = scorer.score_many([good[0], invalid, good[1], audio, Interaction.model_validate(good[2])])
    assert [type(error).__name__ if error else None for _, _, error in out] == [None, "ValidationError", None, "AudioNotAllowed", None]
    assert out[1][:2] == out[3][:2] == (None, None)
    with pytest.raises(Exception) as alone:  # the same error as scoring it alone
        scorer.score(Interaction.model_validate(audio))
    assert str(out[3][2]) == str(alone.value)
    for (prepared, result, _), fields in zip([out[0], out[2], out[4]], good, strict=True):
        expected_prepared, expected = scorer.score(Interaction.model_validate(fields))
        assert prepared == expected_prepared
        assert (result.interaction_id, result.score, result.flag) == (expected.interaction_id, expected.score, expected.flag)
        assert [h.rule_id for h in result.hits] == [h.rule_id for h in expected.hits]


def test_changed_content_in_one_request_is_scored_in_order(env):
    first, second = chat("c-1", RED), chat("c-1", GREEN)
    out = env.post("/v1/interactions/bulk", "ingest", json={"interactions": [first, second]}).json()
    assert out["accepted"] == 2
    status = wait_bulk(env, out["batch_id"])
    assert status["done"] == 2
    detail = env.get("/v1/interactions/c-1", "admin").json()
    assert detail["result"]["flag"] == "green"  # the later one is current
    assert [run["flag"] for run in detail["history"]] == ["red", "green"]


def test_bulk_validation_and_access(env):
    assert env.post("/v1/interactions/bulk", "ingest", json={"interactions": []}).status_code == 422
    bad = [chat("v-1", GREEN), {"interaction_id": "v-2", "channel": "fax", "turns": []}]
    assert env.post("/v1/interactions/bulk", "ingest", json={"interactions": bad}).status_code == 422
    too_many = [chat(f"v-{i}", GREEN) for i in range(1001)]
    assert env.post("/v1/interactions/bulk", "ingest", json={"interactions": too_many}).status_code == 422
    with env.db.session() as session:  # a refused request queues nothing
        assert session.scalar(select(func.count()).select_from(IngestJob)) == 0
    body = {"interactions": [chat("v-3", GREEN)]}
    assert env.post("/v1/interactions/bulk", None, json=body).status_code == 401
    assert env.post("/v1/interactions/bulk", "agent1", json=body).status_code == 403
    assert env.post("/v1/interactions?wait=false", "agent1", json=chat("v-3", GREEN)).status_code == 403
    out = env.post("/v1/interactions/bulk", "ingest", json=body).json()
    wait_bulk(env, out["batch_id"])
    assert env.get(f"/v1/interactions/bulk/{out['batch_id']}", "ingest2").status_code == 404  # not theirs
    assert env.get(f"/v1/jobs/{out['jobs'][0]['job_id']}", "ingest2").status_code == 404
    assert env.get(f"/v1/interactions/bulk/{out['batch_id']}", "admin").json()["done"] == 1
    assert env.get(f"/v1/interactions/bulk/{out['batch_id']}", "agent1").status_code == 403
    assert env.get("/v1/interactions/bulk/nope", "ingest").status_code == 404


def test_a_restarted_server_takes_over_running_jobs(env):
    """A job left `running` by a stopped process is queued again on start-up and scored once."""
    with env.db.session() as session:
        (accepted,) = store_queue.accept(session, [Interaction.model_validate(chat("r-1", GREEN))], actor="ingest")
        job_id = accepted.job.id
        session.execute(update(IngestJob).where(IngestJob.id == job_id).values(status="running", claimed_by="dead"))
    assert env.app.state.queue.resume() >= 1
    job = wait_job(env, job_id)
    assert job["status"] == "done" and job["flag"] == "green"


def test_a_scorer_whose_claim_was_taken_over_stores_nothing(env):
    env.app.state.queue.shutdown()  # no background scorer while claims are handled by hand
    try:
        item = Interaction.model_validate(chat("l-1", GREEN))
        with env.db.session() as session:
            store_queue.accept(session, [item], actor="ingest")
        with env.db.session() as session:
            old_token, (claimed,) = store_queue.claim(session, 10)
        with env.db.session() as session:
            assert store_queue.requeue(session) == 1  # a restarted process takes it over
        with env.db.session() as session:
            new_token, (again,) = store_queue.claim(session, 10)
        assert again.job_id == claimed.job_id and new_token != old_token
        prepared, result = env.app.state.scorer.score(item)
        with env.db.session() as session:
            assert store_queue.store_scored(session, old_token, claimed, prepared, result).status == "lost"
        with env.db.session() as session:
            assert store_queue.store_scored(session, new_token, again, prepared, result).status == "stored"
        with env.db.session() as session:
            assert session.scalar(select(func.count()).select_from(ResultRow)) == 1
            assert session.get(IngestJob, claimed.job_id).status == "done"
    finally:
        env.app.state.queue.start()


def test_concurrent_single_requests_are_committed_in_groups_and_none_is_lost(env):
    from concurrent.futures import ThreadPoolExecutor

    bodies = [chat(f"g-{i}", (GREEN, RED, YELLOW)[i % 3]) for i in range(24)] + [chat("g-0", GREEN)]
    with ThreadPoolExecutor(24) as pool:  # more waiting requests than the pool has connections
        answers = list(pool.map(lambda b: env.post("/v1/interactions?wait=false", "ingest", json=b), bodies))
    codes = [a.status_code for a in answers]
    assert codes.count(202) == 24 and codes.count(200) == 1, codes
    assert len({a.json()["job_id"] for a in answers}) == 24  # the repeated g-0 got g-0's job
    wait_idle(env)
    with env.db.session() as session:
        assert session.scalar(select(func.count()).select_from(InteractionRow)) == 24
        assert session.scalar(select(func.count()).select_from(IngestJob).where(IngestJob.status == "done")) == 24
        queued = session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "interaction.queue"))
    assert queued == 24
