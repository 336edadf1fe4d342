"""The HTTP API end to end (FastAPI TestClient, real engine) on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

from dataclasses import dataclass
from statistics import mean

import pytest
from conftest_db import CRITICAL, GREEN, RED, YELLOW, DbSettings, backends, bearer, fresh_database, seed_accounts
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from api.main import create_app
from api.security import create_access_token
from qa_engine.store import migrate
from qa_engine.store.db import Database
from qa_engine.store.models import AuditLog, InteractionRow, ResultRow

PASSWORD = "pass-word-for-tests"
# username -> (role, agent_id, team_ids)
USERS = {
    "admin": ("admin", None, ()),
    "qa": ("qa_specialist", None, ()),
    "sup1": ("supervisor", None, ("T1",)),
    "sup2": ("supervisor", None, ("T2",)),
    "agent1": ("agent", "A1", ()),
    "agent2": ("agent", "A2", ()),
    "agent3": ("agent", "A3", ()),
    "ingest": ("ingest", None, ()),
}
AGENT_TEAMS = {"A1": "T1", "A2": "T1", "A3": "T2"}


@dataclass
class Env:
    client: TestClient
    db: Database
    headers: dict[str, dict[str, str]]
    secret: str

    def as_(self, who: str | None) -> dict[str, str]:
        return self.headers[who] if who else {}

    def post(self, path: str, who: str | None, **kw):
        return self.client.post(path, headers=self.as_(who), **kw)

    def get(self, path: str, who: str | None, **kw):
        return self.client.get(path, headers=self.as_(who), **kw)


@pytest.fixture(scope="module", params=backends())
def env(request, tmp_path_factory):
    with fresh_database(request.param, tmp_path_factory.mktemp(f"api-{request.param}")) as url:
        migrate.upgrade(url)
        settings = DbSettings(database_url=url)
        db = Database(url)
        with db.session() as session:
            ingest_key = seed_accounts(session, USERS, AGENT_TEAMS, PASSWORD)
        with TestClient(create_app(settings)) as client:
            headers = {"ingest": {"X-API-Key": ingest_key}}
            for name, (role, *_) in USERS.items():
                if role != "ingest":
                    headers[name] = bearer(client, name, PASSWORD)
            yield Env(client, db, headers, settings.jwt_secret.get_secret_value())
        db.dispose()


@pytest.fixture
def app_config(env):
    """Change the running app's settings for one test (`app_config(rank_min_interactions=2)`); the
    app reads them on every request. Restored afterwards."""
    app = env.client.app
    original = app.state.config

    def change(**fields):
        app.state.config = dataclasses.replace(original, **fields)
        return app.state.config

    yield change
    app.state.config = original


@pytest.fixture(autouse=True)
def clean(env):
    yield
    with env.db.session() as session:  # interactions cascade to turns, results, reviews, appeals
        session.execute(delete(InteractionRow))
        session.execute(delete(AuditLog))


def chat(interaction_id: str, turns, agent: str = "A1", day: str = "2026-11-20", hour: int = 10, **extra) -> dict:
    return {
        "interaction_id": interaction_id,
        "channel": "chat",
        "agent_id": agent,
        "team_id": AGENT_TEAMS.get(agent),
        "started_at": f"{day}T{hour:02d}:00:00+08:00",
        "turns": [{"role": r, "text": t} for r, t in turns],
        **extra,
    }


def ingest(env: Env, payload: dict, who: str = "ingest") -> dict:
    r = env.post("/v1/interactions", who, json=payload)
    assert r.status_code in (200, 201), r.text
    return r.json()


def ids(page: dict) -> set[str]:
    return {item["interaction_id"] for item in page["items"]}


# --- health, metrics, OpenAPI ---------------------------------------------------------------------


def test_health_metrics_openapi(env):
    assert env.get("/healthz", None).json() == {"status": "ok", "database": "ok"}
    ingest(env, chat("h-1", GREEN))
    metrics = env.get("/metrics", None)
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'qa_interactions_ingested_total{outcome="new"}' in metrics.text
    assert 'qa_http_requests_total{method="POST",route="/v1/interactions",status="201"}' in metrics.text
    spec = env.get("/openapi.json", None).json()
    body = spec["paths"]["/v1/interactions"]["post"]["requestBody"]["content"]["application/json"]
    assert "chat" in body["examples"]
    assert spec["components"]["schemas"]["ReviewIn"]["examples"]
    assert {"OAuth2PasswordBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])


# --- ingest -----------------------------------------------------------------------------------------


def test_ingest_is_idempotent_and_keeps_every_run(env):
    first = env.post("/v1/interactions", "ingest", json=chat("i-1", RED))
    assert first.status_code == 201 and first.json()["created"] is True
    result = first.json()["result"]
    assert result["flag"] == "red" and result["current"] and all("id" in h for h in result["hits"])
    again = env.post("/v1/interactions", "ingest", json=chat("i-1", RED))
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["result"]["id"] == result["id"]
    changed = env.post("/v1/interactions", "ingest", json=chat("i-1", GREEN))
    assert changed.status_code == 201 and changed.json()["result"]["id"] != result["id"]
    detail = env.get("/v1/interactions/i-1", "admin").json()
    assert [h["current"] for h in detail["history"]] == [False, True]
    assert [t["text"] for t in detail["turns"]] == [t for _, t in GREEN]
    assert detail["result"]["flag"] == "green"
    with env.db.session() as session:
        current = session.scalar(
            select(func.count()).where(ResultRow.interaction_id == "i-1", ResultRow.is_current.is_(True))
        )
        assert current == 1
        assert session.scalar(select(func.count()).where(AuditLog.action == "interaction.ingest")) == 2


def test_ingest_redacts_pii_before_storing(env):
    turns = (("customer", "我的手机号是13812345678，快递还没到"), *GREEN)
    out = ingest(env, chat("p-1", turns))
    detail = env.get("/v1/interactions/p-1", "admin")
    assert "13812345678" not in detail.text and "13812345678" not in str(out)
    assert detail.json()["turns"][0]["text"].startswith("我的手机号是[手机号]")


def test_ingest_rejects_bad_input(env):
    no_content = {"interaction_id": "b-1", "channel": "chat"}
    assert env.post("/v1/interactions", "ingest", json=no_content).status_code == 422
    assert env.post("/v1/interactions", "ingest", json={**chat("b-2", GREEN), "channel": "fax"}).status_code == 422
    audio = env.post(
        "/v1/interactions", "ingest", json={"interaction_id": "b-3", "channel": "call", "audio_path": "/etc/passwd"}
    )
    assert audio.status_code == 422 and "QA_AUDIO_DIR" in audio.json()["detail"]


@pytest.mark.parametrize("bad_id", ["", "x" * 101])
def test_agent_and_team_ids_that_cannot_name_a_row_are_refused(env, bad_id):
    """An empty id used to reach the foreign key (a 500, or a misleading 409); a 101-character one
    was stored on SQLite and refused on PostgreSQL. Both backends now answer 422 and store nothing."""
    for field in ("agent_id", "team_id"):
        r = env.post("/v1/interactions", "ingest", json={**chat("bad-id", GREEN), field: bad_id})
        assert r.status_code == 422 and field in r.text
    user = {"username": "u-bad-id", "password": "long password"}
    assert env.post("/v1/users", "admin", json={**user, "role": "ingest", "agent_id": bad_id}).status_code == 422
    assert env.post("/v1/users", "admin", json={**user, "role": "supervisor", "team_ids": [bad_id]}).status_code == 422
    assert env.get("/v1/interactions/bad-id", "admin").status_code == 404
    assert env.post("/v1/auth/token", None, data={"username": "u-bad-id", "password": "long password"}).status_code == 401


def test_detail_has_transcript_hits_scores(env):
    ingest(env, chat("d-1", YELLOW, metadata={"queue": "vip"}))
    d = env.get("/v1/interactions/d-1", "qa").json()
    assert d["agent_id"] == "A1" and d["team_id"] == "T1" and d["metadata"]["queue"] == "vip"
    assert [t["role"] for t in d["turns"]] == [r for r, _ in YELLOW]
    assert d["result"]["flag"] == "yellow" and d["final"] is None and d["reviews"] == [] and d["appeals"] == []
    assert {"politeness", "forbidden_words", "empathy", "script_compliance", "emotion"} <= set(
        d["result"]["dimensions"]
    )
    assert d["result"]["versions"]["ruleset"]
    deflect = next(h for h in d["result"]["hits"] if h["rule_id"] == "forbidden.deflect")
    assert d["turns"][deflect["turn"]]["text"][deflect["start"] : deflect["end"]] == deflect["text"]
    assert env.get("/v1/interactions/nope", "admin").status_code == 404


# --- lists, queue ----------------------------------------------------------------------------------


def _seed_list(env: Env) -> None:
    ingest(env, chat("l-1", GREEN, "A1", "2026-11-20"))
    ingest(env, chat("l-2", RED, "A1", "2026-11-21", hour=9))
    ingest(env, chat("l-3", YELLOW, "A2", "2026-11-21", hour=15))
    ingest(env, chat("l-4", CRITICAL, "A3", "2026-11-22"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"l-1", "l-2", "l-3", "l-4"}),
        ("agent=A1", {"l-1", "l-2"}),
        ("team=T2", {"l-4"}),
        ("start=2026-11-21&end=2026-11-21", {"l-2", "l-3"}),
        ("start=2026-11-22", {"l-4"}),
        ("flag=red", {"l-2", "l-4"}),
        ("dimension=forbidden_words", {"l-2", "l-3", "l-4"}),
        ("rule=forbidden.mock_insult", {"l-4"}),
        ("min_score=60", {"l-1", "l-3"}),
        ("max_score=59.9", {"l-2", "l-4"}),
        ("team=T1&flag=red&min_score=10", {"l-2"}),
    ],
)
def test_list_filters(env, query, expected):
    _seed_list(env)
    page = env.get(f"/v1/interactions?{query}", "admin").json()
    assert ids(page) == expected and page["total"] == len(expected)


def test_list_pagination_newest_first(env):
    _seed_list(env)
    first = env.get("/v1/interactions?limit=2", "admin").json()
    second = env.get("/v1/interactions?limit=2&offset=2", "admin").json()
    assert (first["total"], first["limit"], first["offset"]) == (4, 2, 0)
    assert [i["interaction_id"] for i in first["items"] + second["items"]] == ["l-4", "l-3", "l-2", "l-1"]
    assert env.get("/v1/interactions?limit=0", "admin").status_code == 422
    assert env.get("/v1/interactions?limit=501", "admin").status_code == 422


def test_review_queue_orders_by_severity_then_age(env):
    _seed_list(env)
    ingest(env, chat("l-5", RED, "A2", "2026-11-19"))
    queue = env.get("/v1/review-queue", "qa").json()
    assert [i["interaction_id"] for i in queue["items"]] == ["l-5", "l-2", "l-4", "l-3"]
    assert [i["interaction_id"] for i in env.get("/v1/review-queue", "sup1").json()["items"]] == ["l-5", "l-2", "l-3"]
    review = {"overrides": [{"dimension": "empathy", "score": 80, "reason": "已安抚"}]}
    assert env.post("/v1/interactions/l-5/reviews", "qa", json=review).status_code == 201
    assert "l-5" not in ids(env.get("/v1/review-queue", "qa").json())
    assert "l-5" in ids(env.get("/v1/review-queue?include_reviewed=true", "qa").json())


def test_queue_and_page_say_why_an_item_is_flagged(env):
    ingest(env, chat("w-1", RED))
    item = next(i for i in env.get("/v1/review-queue", "qa").json()["items"] if i["interaction_id"] == "w-1")
    detail = env.get("/v1/interactions/w-1", "qa").json()
    found = [h for h in detail["result"]["hits"] if h["severity"] != "info"]
    assert item["findings"] == len(found) > 0
    rank = {"critical": 3, "major": 2, "minor": 1}
    assert [rank[r["severity"]] for r in item["top_rules"]] == sorted((rank[r["severity"]] for r in item["top_rules"]), reverse=True)
    top = next(r for r in item["top_rules"] if r["rule_id"].startswith("forbidden."))
    assert top["dimension"] == "forbidden_words"
    assert top["hits"] == sum(h["rule_id"] == top["rule_id"] for h in found)
    dims = detail["result"]["dimensions"]
    assert item["low_dimensions"] == {d: v["score"] for d, v in sorted(dims.items(), key=lambda kv: kv[1]["score"]) if v["score"] < 100}
    assert "forbidden_words" in item["low_dimensions"]
    # RED has no greeting and no closing: the required steps the run lost points for, with their rules.
    missing = {m["step"]: m["rule_id"] for m in detail["missing_steps"]}
    assert {"greeting", "closing"} <= set(missing) and missing["closing"] == "script.closing"
    assert item["missing_steps"] == detail["missing_steps"]
    assert all(f"缺少话术环节 {m}" in " ".join(dims["script_compliance"]["deductions"]) for m in missing)
    assert item["reviewed_by"] is None and item["reviewed_at"] is None
    review = {"overrides": [{"dimension": "empathy", "score": 80, "reason": "已安抚"}]}
    assert env.post("/v1/interactions/w-1/reviews", "qa", json=review).status_code == 201
    item = env.get("/v1/review-queue?include_reviewed=true", "qa").json()["items"][0]
    assert item["reviewed_by"] == "qa" and item["reviewed_at"]
    # Green: nothing to explain.
    ingest(env, chat("w-2", GREEN))
    green = next(i for i in env.get("/v1/interactions", "agent1").json()["items"] if i["interaction_id"] == "w-2")
    assert green["missing_steps"] == [] and green["flag"] == "green"


def test_rule_names_in_chinese_and_english(env):
    names = {r["rule_id"]: r for r in env.get("/v1/rule-names", "agent1").json()}
    assert names["forbidden.model_impatience"]["name_zh"] == "疑似不耐烦"
    assert names["forbidden.model_impatience"]["operator"] == "classifier"
    assert names["script.identity"]["name_zh"] == "身份核实" and names["script.identity"]["name_en"] == "Identity check"
    # Every rule of the shipped packs has both names.
    assert all(r["name_zh"] != r["rule_id"] and r["name_en"] != r["rule_id"] for r in names.values())


# --- reviews and appeals ---------------------------------------------------------------------------


def _hit(detail: dict, rule_id: str) -> dict:
    return next(h for h in detail["result"]["hits"] if h["rule_id"] == rule_id)


def test_review_keeps_automatic_result_and_recomputes_final(env):
    ingest(env, chat("r-1", RED))
    before = env.get("/v1/interactions/r-1", "sup1").json()
    forbidden = [h for h in before["result"]["hits"] if h["dimension"] == "forbidden_words"]
    assert "forbidden.deflect" in {h["rule_id"] for h in forbidden}
    r = env.post(
        "/v1/interactions/r-1/reviews",
        "sup1",
        json={
            "hits": [{"hit_id": h["id"], "decision": "dismiss", "note": "转述客户"} for h in forbidden],
            "comment": "复核",
        },
    )
    assert r.status_code == 201, r.text
    final = r.json()["final"]
    assert final["score"] > before["result"]["score"] and final["dimensions"]["forbidden_words"] == 100
    r2 = env.post(
        "/v1/interactions/r-1/reviews",
        "qa",
        json={"overrides": [{"dimension": "empathy", "score": 100, "reason": "安抚到位，规则漏判"}]},
    )
    assert r2.status_code == 201
    final2 = r2.json()["final"]
    assert final2["dimensions"]["empathy"] == 100 and final2["dimensions"]["forbidden_words"] == 100  # cumulative
    assert final2["score"] > final["score"]
    after = env.get("/v1/interactions/r-1", "agent1").json()
    assert after["result"] == {**before["result"], "hits": after["result"]["hits"]}  # automatic result unchanged
    assert _hit(after, "forbidden.deflect")["decision"] == "dismiss"
    assert after["final"]["score"] == final2["score"] and after["final"]["reviewer"] == "qa"
    assert [rv["reviewer"] for rv in after["reviews"]] == ["sup1", "qa"]
    assert after["reviews"][1]["overrides"][0]["reason"] == "安抚到位，规则漏判"
    listed = env.get("/v1/interactions?agent=A1", "admin").json()["items"][0]
    assert (listed["score"], listed["final_score"]) == (before["result"]["score"], final2["score"])
    with env.db.session() as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "review.create")).all()
        assert [a.actor for a in audit] == ["sup1", "qa"] and audit[1].detail["final_score"] == final2["score"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"overrides": [{"dimension": "empathy", "score": 90, "reason": ""}]},
        {"overrides": [{"dimension": "empathy", "score": 90}]},
        {"overrides": [{"dimension": "empathy", "score": 120, "reason": "x"}]},
        {"overrides": [{"dimension": "no_such_dimension", "score": 90, "reason": "x"}]},
        {"hits": [{"hit_id": 999999, "decision": "dismiss"}]},
        {"hits": [{"hit_id": 1, "decision": "maybe"}]},
    ],
)
def test_review_validation(env, body):
    ingest(env, chat("v-1", RED))
    assert env.post("/v1/interactions/v-1/reviews", "qa", json=body).status_code == 422


def test_appeal_flow(env):
    ingest(env, chat("a-1", CRITICAL))
    detail = env.get("/v1/interactions/a-1", "agent1").json()
    insult = _hit(detail, "forbidden.mock_insult")
    filed = env.post(
        "/v1/interactions/a-1/appeals", "agent1", json={"reason": "是在复述客户原话", "hit_ids": [insult["id"]]}
    )
    assert filed.status_code == 201 and filed.json()["status"] == "open"
    appeal_id = filed.json()["id"]
    assert env.post("/v1/interactions/a-1/appeals", "agent1", json={"reason": "again"}).status_code == 409
    assert env.post("/v1/interactions/a-1/appeals", "agent2", json={"reason": "not mine"}).status_code == 404
    decide = {"decision": "accepted", "reason": "录音核实", "hits": [{"hit_id": insult["id"], "decision": "dismiss"}]}
    assert env.post(f"/v1/appeals/{appeal_id}/decision", "agent1", json=decide).status_code == 403
    assert env.post(f"/v1/appeals/{appeal_id}/decision", "sup2", json=decide).status_code == 404
    rejected_with_changes = {**decide, "decision": "rejected"}
    assert env.post(f"/v1/appeals/{appeal_id}/decision", "qa", json=rejected_with_changes).status_code == 422
    decided = env.post(f"/v1/appeals/{appeal_id}/decision", "qa", json=decide)
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["appeal"]["status"] == "accepted" and body["appeal"]["decided_by"] == "qa"
    assert body["review"]["appeal_id"] == appeal_id and body["review"]["final_score"] > 0
    assert env.post(f"/v1/appeals/{appeal_id}/decision", "qa", json=decide).status_code == 409
    after = env.get("/v1/interactions/a-1", "agent1").json()
    assert after["result"]["score"] == 0 and after["final"]["score"] > 0
    assert after["appeals"][0]["status"] == "accepted"
    again = env.post("/v1/interactions/a-1/appeals", "agent1", json={"reason": "new appeal"})
    assert again.status_code == 409 and "appealed once" in again.json()["detail"]  # one appeal per scoring
    ingest(env, chat("a-2", RED))
    second = env.post("/v1/interactions/a-2/appeals", "agent1", json={"reason": "new appeal"}).json()
    rejected = env.post(f"/v1/appeals/{second['id']}/decision", "sup1", json={"decision": "rejected", "reason": "维持"})
    assert rejected.status_code == 200 and rejected.json()["review"]["hits"] == []  # recorded, nothing changed
    assert rejected.json()["final"]["score"] == env.get("/v1/interactions/a-2", "qa").json()["result"]["score"]
    with env.db.session() as session:
        actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
        assert actions.count("appeal.file") == 2 and actions.count("appeal.decide") == 2


# --- summaries -------------------------------------------------------------------------------------

CALL = {
    "interaction_id": "k-call",
    "channel": "call",
    "agent_id": "A1",
    "team_id": "T1",
    "started_at": "2026-11-21T09:00:00+08:00",
    "turns": [
        {"role": "agent", "text": "您好，很高兴为您服务，请问有什么可以帮您", "start": 0.0, "end": 3.0},
        {"role": "customer", "text": "我的快递三天了还没到，太气人了", "start": 3.5, "end": 6.0},
        {"role": "agent", "text": "非常抱歉，我理解您的心情，马上帮您查询", "start": 14.0, "end": 17.0},
        {"role": "customer", "text": "好的，那麻烦你了", "start": 16.5, "end": 18.0},
        {
            "role": "agent",
            "text": "已经为您加急处理，请问还有其他问题吗？感谢您的来电，再见",
            "start": 18.5,
            "end": 22.0,
        },
    ],
}


def test_agent_summary_kpis(env):
    payloads = [
        chat("k-1", GREEN, day="2026-11-20"),
        chat("k-2", RED, day="2026-11-20"),
        chat("k-3", YELLOW, day="2026-11-21"),
        chat("k-4", CRITICAL, day="2026-11-22"),
        CALL,
    ]
    results = [ingest(env, p)["result"] for p in payloads]
    ingest(env, chat("k-other", RED, "A2"))  # another agent: not counted
    ingest(env, chat("k-late", RED, day="2026-12-01"))  # outside the range
    s = env.get("/v1/agents/A1/summary?start=2026-11-20&end=2026-11-30", "sup1").json()
    n = len(results)
    total = lambda key: sum(r["stats"].get(key, 0) for r in results)  # noqa: E731
    assert s["agent_id"] == "A1" and s["team_id"] == "T1" and s["interactions"] == n
    assert s["average_score"] == round(mean(r["score"] for r in results), 1)
    flags = {f: sum(r["flag"] == f for r in results) for f in ("red", "yellow", "green")}
    assert s["flags"] == flags and s["pass_rate"] == round((n - flags["red"]) / n, 4)
    assert s["politeness_rate"] == round(total("polite_turns") / total("agent_turns"), 4)
    assert s["empathy_rate"] == round(total("empathy_turns") / total("agent_turns"), 4)
    assert s["forbidden_per_100"] == round(100 * total("forbidden_hits") / n, 2)
    assert s["script_compliance_rate"] == round(
        sum(r["dimensions"]["script_compliance"]["score"] == 100 for r in results) / n, 4
    )
    negative = [r for r in results if r["emotion"]["customer_start"] == "negative"]
    assert s["customer_negative_start"] == len(negative)
    assert s["deescalation_rate"] == round(
        sum(r["emotion"]["deescalated"] is True for r in negative) / len(negative), 4
    )
    call = results[-1]["stats"]
    assert call["silence_total_s"] > 0 and call["interruptions"] >= 1
    assert s["average_silence_s"] == round(call["silence_total_s"], 2)
    assert s["average_interruptions"] == call["interruptions"]
    for dim in results[0]["dimensions"]:
        assert s["dimensions"][dim] == round(mean(r["dimensions"][dim]["score"] for r in results), 1)
    days = {d["date"]: d for d in s["daily"]}
    assert list(days) == ["2026-11-20", "2026-11-21", "2026-11-22"]
    assert days["2026-11-20"]["interactions"] == 2 and days["2026-11-21"]["interactions"] == 2
    assert days["2026-11-22"]["red"] == 1
    everything = env.get("/v1/agents/A1/summary", "agent1").json()
    assert everything["interactions"] == n + 1 and everything["start"] is None
    empty = env.get("/v1/agents/A1/summary?start=2030-01-01", "admin").json()
    assert empty["interactions"] == 0 and empty["average_score"] is None and empty["daily"] == []
    assert env.get("/v1/agents/A1/summary?start=2026-11-22&end=2026-11-20", "admin").status_code == 422
    assert env.get("/v1/agents/NOPE/summary", "admin").status_code == 404


def test_team_summary(env):
    _seed_list(env)
    s = env.get("/v1/teams/T1/summary", "sup1").json()
    assert s["team_id"] == "T1" and s["interactions"] == 3
    assert {a["agent_id"]: a["interactions"] for a in s["agents"]} == {"A1": 2, "A2": 1}
    assert env.get("/v1/teams/T2/summary", "qa").json()["interactions"] == 1
    assert env.get("/v1/teams/NOPE/summary", "admin").status_code == 404


# --- access --------------------------------------------------------------------------------------

ROLE_USERS = ("admin", "qa", "sup1", "agent1", "ingest")


def _endpoints(appeal_id: int) -> list[tuple[str, str, dict | None, set[str]]]:
    """(method, path, json body, users allowed) for every protected endpoint; objects are A1/T1's."""
    review = {"overrides": [{"dimension": "empathy", "score": 90, "reason": "ok"}]}
    return [
        ("POST", "/v1/interactions", chat("m-2", GREEN), {"admin", "ingest"}),
        ("GET", "/v1/interactions", None, {"admin", "qa", "sup1", "agent1"}),
        ("GET", "/v1/interactions/m-1", None, {"admin", "qa", "sup1", "agent1"}),
        ("GET", "/v1/review-queue", None, {"admin", "qa", "sup1"}),
        ("GET", "/v1/rule-names", None, {"admin", "qa", "sup1", "agent1"}),
        ("POST", "/v1/interactions/m-1/reviews", review, {"admin", "qa", "sup1"}),
        ("POST", "/v1/interactions/m-1/appeals", {"reason": "x"}, {"admin", "sup1", "agent1"}),
        ("POST", f"/v1/appeals/{appeal_id}/decision", {"decision": "rejected", "reason": "x"}, {"admin", "qa", "sup1"}),
        ("GET", "/v1/agents/A1/summary", None, {"admin", "qa", "sup1", "agent1"}),
        ("GET", "/v1/teams/T1/summary", None, {"admin", "qa", "sup1"}),
        ("POST", "/v1/users", {"username": "u-new", "role": "qa_specialist", "password": "long password"}, {"admin"}),
        ("POST", "/v1/users/qa/api-keys", {"name": "k"}, {"admin"}),
        ("DELETE", "/v1/api-keys/999999", None, {"admin"}),
        ("POST", "/v1/users/agent2/activate", None, {"admin"}),
        ("POST", "/v1/users/nobody/deactivate", None, {"admin"}),
        ("GET", "/v1/auth/me", None, set(ROLE_USERS)),
        ("GET", "/v1/qa-specialists", None, {"admin", "sup1"}),
        ("POST", "/v1/assignments", {"interaction_ids": ["m-1"], "assignee": "qa"}, {"admin", "sup1"}),
        ("GET", "/v1/assignments", None, {"admin", "qa", "sup1"}),
        ("DELETE", "/v1/assignments/999999", None, {"admin", "sup1"}),
        ("GET", "/v1/sampling-rules", None, {"admin", "sup1"}),
        ("POST", "/v1/sampling-rules/999999/run", {"start": "2026-11-16", "end": "2026-11-22"}, {"admin", "sup1"}),
    ]


def test_every_endpoint_refuses_wrong_roles_and_anonymous(env):
    ingest(env, chat("m-1", RED))
    appeal_id = env.post("/v1/interactions/m-1/appeals", "agent1", json={"reason": "x"}).json()["id"]
    for method, path, body, allowed in _endpoints(appeal_id):
        anonymous = env.client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["www-authenticate"] == "Bearer"
        for bad in ({"Authorization": "Bearer not-a-token"}, {"X-API-Key": "qak_wrong"}):
            assert env.client.request(method, path, json=body, headers=bad).status_code == 401, (method, path, bad)
        for who in ROLE_USERS:
            status = env.client.request(method, path, json=body, headers=env.as_(who)).status_code
            if who in allowed:
                assert status not in (401, 403), (method, path, who, status)
            else:
                assert status == 403, (method, path, who, status)


def test_agent_never_sees_another_agents_data(env):
    _seed_list(env)  # l-1, l-2: A1; l-3: A2 (T1); l-4: A3 (T2)
    assert ids(env.get("/v1/interactions", "agent1").json()) == {"l-1", "l-2"}
    assert env.get("/v1/interactions?agent=A2", "agent1").json()["total"] == 0
    assert env.get("/v1/interactions?team=T1", "agent1").json()["total"] == 2
    assert ids(env.get("/v1/interactions", "agent2").json()) == {"l-3"}
    for other in ("l-3", "l-4"):
        assert env.get(f"/v1/interactions/{other}", "agent1").status_code == 404
        assert env.post(f"/v1/interactions/{other}/appeals", "agent1", json={"reason": "x"}).status_code == 404
    assert env.get("/v1/agents/A2/summary", "agent1").status_code == 403
    assert env.get("/v1/agents/A1/summary", "agent2").status_code == 403
    assert env.get("/v1/interactions/l-1", "agent3").status_code == 404


def test_supervisor_sees_only_their_teams(env):
    _seed_list(env)
    assert ids(env.get("/v1/interactions", "sup1").json()) == {"l-1", "l-2", "l-3"}
    assert ids(env.get("/v1/interactions", "sup2").json()) == {"l-4"}
    assert env.get("/v1/interactions/l-4", "sup1").status_code == 404
    review = {"overrides": [{"dimension": "empathy", "score": 90, "reason": "x"}]}
    assert env.post("/v1/interactions/l-4/reviews", "sup1", json=review).status_code == 404
    assert env.get("/v1/teams/T2/summary", "sup1").status_code == 403
    assert env.get("/v1/agents/A3/summary", "sup1").status_code == 403
    assert env.get("/v1/agents/A3/summary", "sup2").status_code == 200


def test_ingest_role_is_write_only(env):
    ingest(env, chat("w-1", GREEN))
    for path in ("/v1/interactions", "/v1/interactions/w-1", "/v1/review-queue", "/v1/agents/A1/summary"):
        assert env.get(path, "ingest").status_code == 403


def test_tokens_and_keys(env):
    assert env.post("/v1/auth/token", None, data={"username": "qa", "password": "wrong"}).status_code == 401
    assert env.post("/v1/auth/token", None, data={"username": "ghost", "password": PASSWORD}).status_code == 401
    expired = create_access_token("qa", "qa_specialist", secret=env.secret, algorithm="HS256", minutes=-1)
    forged = create_access_token("admin", "admin", secret="another-secret-" + "y" * 32, algorithm="HS256", minutes=5)
    for token in (expired, forged):
        assert env.client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert env.get("/v1/auth/me", "sup1").json()["team_ids"] == ["T1"]

    created = env.post(
        "/v1/users",
        "admin",
        json={"username": "agent9", "role": "agent", "agent_id": "A9", "password": "long password"},
    )
    assert created.status_code == 201 and created.json()["agent_id"] == "A9"
    assert env.post("/v1/users", "admin", json={"username": "agent9", "role": "qa_specialist"}).status_code == 409
    assert env.post("/v1/users", "admin", json={"username": "agent10", "role": "agent"}).status_code == 422
    # Login names are ASCII letters, digits, _ . @ - or Chinese: the spec's pattern, which clients
    # read as ECMA-262 (where \w is ASCII only), and the server agree on Ú (CI's schemathesis seed).
    assert env.post("/v1/users", "admin", json={"username": "张伟", "role": "ingest"}).status_code == 201
    for bad in ("Úl", "a b", "x\n"):
        refused = env.post("/v1/users", "admin", json={"username": bad, "role": "ingest"})
        assert refused.status_code == 422 and "username" in refused.text, bad
    assert env.post("/v1/auth/token", None, data={"username": "agent9", "password": "long password"}).status_code == 200

    key = env.post("/v1/users/ingest/api-keys", "admin", json={"name": "second"}).json()
    headers = {"X-API-Key": key["key"]}
    assert env.client.post("/v1/interactions", json=chat("t-1", GREEN), headers=headers).status_code == 201
    assert env.client.delete(f"/v1/api-keys/{key['id']}", headers=env.as_("admin")).status_code == 204
    assert env.client.post("/v1/interactions", json=chat("t-2", GREEN), headers=headers).status_code == 401
