"""Whose an interaction is (security audit, issue 13), through the real app on SQLite and PostgreSQL:

- an interaction's agent and team are fixed once stored: re-sending its id for another agent or team
  is refused on every ingest path (409, or a failed job / batch item with the reason), so nothing of
  one agent's reviews and appeals reaches another agent;
- figures follow the team an interaction was handled in, not the agent's current team.
"""

from __future__ import annotations

import io
import json

import pytest
from conftest_db import CRITICAL, GREEN, RED, YELLOW
from sqlalchemy import delete, func, select
from test_api import PASSWORD, Env, app_config, chat, clean, env, ids, ingest  # noqa: F401 - fixtures used by name
from test_api_queue import wait_bulk, wait_idle, wait_job
from test_api_rules_audio_export import _csv_tables, _kv

from qa_engine.batch.runner import BatchConfig, run_batch
from qa_engine.config import Settings
from qa_engine.store.models import Agent, BatchItemRow, IngestJob, InteractionRow

NOTE = "复核：辱骂属实"
APPEAL = "我是在复述客户原话"


@pytest.fixture(autouse=True)
def drain(clean, env):
    """After `clean`'s setup, so that this runs first on teardown: nothing queued is stored later."""
    yield
    wait_idle(env)
    with env.db.session() as session:
        session.execute(delete(IngestJob))
        session.execute(delete(BatchItemRow))


def _a1s_with_history(env: Env, iid: str) -> None:
    """A1's (team T1) interaction with a review carrying reviewer notes and an open appeal."""
    ingest(env, chat(iid, CRITICAL))
    detail = env.get(f"/v1/interactions/{iid}", "agent1").json()
    insult = next(h for h in detail["result"]["hits"] if h["rule_id"] == "forbidden.mock_insult")
    review = {"hits": [{"hit_id": insult["id"], "decision": "confirm", "note": NOTE}], "comment": NOTE}
    assert env.post(f"/v1/interactions/{iid}/reviews", "sup1", json=review).status_code == 201
    assert env.post(f"/v1/interactions/{iid}/appeals", "agent1", json={"reason": APPEAL}).status_code == 201


def _still_a1s(env: Env, iid: str) -> None:
    """A1 and T1's supervisor still see it with its review and open appeal; A3 and T2's do not."""
    r = env.get(f"/v1/interactions/{iid}", "agent1")
    assert r.status_code == 200, r.text
    detail = r.json()
    assert (detail["agent_id"], detail["team_id"]) == ("A1", "T1")
    assert [(a["reason"], a["status"]) for a in detail["appeals"]] == [(APPEAL, "open")]
    assert detail["reviews"][0]["comment"] == NOTE and detail["reviews"][0]["hits"][0]["note"] == NOTE
    assert env.get(f"/v1/interactions/{iid}", "sup1").status_code == 200
    assert iid in ids(env.get("/v1/interactions", "agent1").json())
    for who in ("agent3", "sup2"):
        assert env.get(f"/v1/interactions/{iid}", who).status_code == 404
        assert iid not in ids(env.get("/v1/interactions?limit=500", who).json())
    assert iid not in ids(env.get("/v1/review-queue?include_reviewed=true", "sup2").json())
    assert env.get("/v1/agents/A3/summary", "agent3").json()["interactions"] == 0
    with env.db.session() as session:
        assert session.get(Agent, "A1").team_id == "T1"  # a refused re-send moves nobody


def _refusal(r, iid: str, *wanted: str) -> str:
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert f"interaction '{iid}' is stored for agent 'A1' / team 'T1'" in detail
    for part in wanted:
        assert part in detail
    return detail


def _without(payload: dict, *keys: str) -> dict:
    return {k: v for k, v in payload.items() if k not in keys}


# --- fixed once stored ------------------------------------------------------------------------------


def test_resending_for_another_agent_or_team_is_refused(env):
    _a1s_with_history(env, "o-1")
    base = chat("o-1", CRITICAL)
    refused = {
        "another agent and team": (chat("o-1", CRITICAL, "A3"), ("agent 'A3' / team 'T2'",)),
        "another agent": ({**base, "agent_id": "A3"}, ("cannot be re-sent for agent 'A3'",)),
        "another team": ({**base, "team_id": "T2"}, ("cannot be re-sent for team 'T2'",)),
        "another team, agent omitted": (_without({**base, "team_id": "T2"}, "agent_id"), ("team 'T2'",)),
        "a new agent": ({**base, "agent_id": "NEW-1"}, ("agent 'NEW-1'",)),
    }
    for name, (payload, wanted) in refused.items():
        _refusal(env.post("/v1/interactions", "ingest", json=payload), "o-1", *wanted)
        _still_a1s(env, "o-1")
    with env.db.session() as session:
        assert session.get(Agent, "NEW-1") is None  # refused before anything was written

    # Omitting agent_id / team_id keeps the stored ones (it is not a change of owner).
    for payload in (_without(base, "team_id"), _without(base, "agent_id", "team_id")):
        r = env.post("/v1/interactions", "ingest", json=payload)
        assert r.status_code == 201, r.text
        _still_a1s(env, "o-1")

    # Audio upload: refused before the file is kept; no job.
    upload = env.client.post(
        "/v1/interactions/audio",
        headers=env.as_("ingest"),
        files={"file": ("call.wav", b"RIFF not really audio", "audio/wav")},
        data={"interaction_id": "o-1", "agent_id": "A3", "team_id": "T2"},
    )
    _refusal(upload, "o-1", "agent 'A3' / team 'T2'")
    with env.db.session() as session:
        assert session.scalar(select(func.count()).select_from(IngestJob)) == 0
    _still_a1s(env, "o-1")


def test_queued_resend_for_another_agent_is_refused_at_accept_time(env):
    _a1s_with_history(env, "o-2")
    r = env.post("/v1/interactions?wait=false", "ingest", json=chat("o-2", CRITICAL, "A3"))
    _refusal(r, "o-2", "agent 'A3' / team 'T2'")
    with env.db.session() as session:
        assert session.scalar(select(func.count()).select_from(IngestJob)) == 0
    _still_a1s(env, "o-2")
    # the same agent, team omitted: queued and stored for A1 / T1
    r = env.post("/v1/interactions?wait=false", "ingest", json=_without(chat("o-2", CRITICAL), "team_id"))
    assert r.status_code == 202, r.text
    assert wait_job(env, r.json()["job_id"])["status"] == "done"
    _still_a1s(env, "o-2")


def test_bulk_with_a_resend_for_another_agent_is_refused_whole(env):
    _a1s_with_history(env, "o-3")
    body = {"interactions": [chat("o-new", GREEN, "A3"), chat("o-3", CRITICAL, "A3")]}
    detail = _refusal(env.post("/v1/interactions/bulk", "ingest", json=body), "o-3", "agent 'A3'")
    assert detail.startswith("interactions[1]: ")
    with env.db.session() as session:
        assert session.scalar(select(func.count()).select_from(IngestJob)) == 0
        assert session.get(InteractionRow, "o-new") is None
    _still_a1s(env, "o-3")


def test_a_conflict_that_slips_through_the_queue_fails_its_job(env):
    """Both queued before either is stored: the first is stored for A1, the second job fails."""
    body = {"interactions": [chat("s-1", RED), chat("s-1", RED, "A3"), chat("s-2", GREEN, "A3")]}
    r = env.post("/v1/interactions/bulk", "ingest", json=body)
    assert r.status_code == 202, r.text
    status = wait_bulk(env, r.json()["batch_id"])
    assert [j["status"] for j in status["jobs"]] == ["done", "failed", "done"]
    assert "interaction 's-1' is stored for agent 'A1' / team 'T1'" in status["jobs"][1]["error"]
    assert "agent 'A3'" in status["jobs"][1]["error"]
    assert env.get("/v1/interactions/s-1", "agent1").json()["agent_id"] == "A1"
    assert env.get("/v1/interactions/s-1", "agent3").status_code == 404
    assert ids(env.get("/v1/interactions", "agent3").json()) == {"s-2"}


def test_batch_item_for_another_agent_fails_and_the_batch_goes_on(env, tmp_path):
    _a1s_with_history(env, "o-4")
    source = tmp_path / "in"
    source.mkdir()
    records = [chat("o-4", CRITICAL, "A3"), chat("b-ok", GREEN, "A3")]
    (source / "items.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    outcomes = []
    report = run_batch(
        BatchConfig(source=source, database_url=env.db.url),
        Settings(),
        progress_stream=io.StringIO(),
        tty=False,
        on_outcome=outcomes.append,
    )
    assert (report.processed, report.failed) == (1, 1)
    failed = next(o for o in outcomes if o.status == "failed")
    assert failed.interaction_id == "o-4"
    assert "interaction 'o-4' is stored for agent 'A1' / team 'T1'" in failed.reason and "agent 'A3'" in failed.reason
    with env.db.session() as session:
        row = session.scalar(select(BatchItemRow).where(BatchItemRow.item_key == "o-4"))
        assert row.status == "failed" and row.reason == failed.reason
    assert ids(env.get("/v1/interactions", "agent3").json()) == {"b-ok"}
    with env.db.session() as session:  # b-ok is A3's: leave A3's own figures out of _still_a1s
        session.execute(delete(InteractionRow).where(InteractionRow.id == "b-ok"))
    _still_a1s(env, "o-4")


# --- a team move ---------------------------------------------------------------------------------


def _login(env: Env, username: str) -> dict[str, str]:
    r = env.post("/v1/auth/token", None, data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _rule_counts(env: Env, *iids: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for iid in iids:
        for h in env.get(f"/v1/interactions/{iid}", "admin").json()["result"]["hits"]:
            if h["severity"] != "info":
                counts[h["rule_id"]] = counts.get(h["rule_id"], 0) + 1
    return counts


def test_a_team_move_leaves_the_old_figures_with_the_old_team(env, app_config):
    ingest(env, chat("t-1", RED, "M1", day="2026-11-20", team_id="T1"))
    ingest(env, chat("t-2", GREEN, "M1", day="2026-11-21", team_id="T1"))
    ingest(env, chat("t-3", YELLOW, "M1", day="2026-11-22", team_id="T2"))  # M1 moves to T2
    with env.db.session() as session:
        assert session.get(Agent, "M1").team_id == "T2"
    user = {"username": "agent-m1", "role": "agent", "password": PASSWORD, "agent_id": "M1"}
    assert env.post("/v1/users", "admin", json=user).status_code == 201
    env.headers["agent-m1"] = _login(env, "agent-m1")
    # a re-send of an old interaction with changed content and no team stays in the old team
    ingest(env, {**_without(chat("t-1", RED, "M1", day="2026-11-20"), "team_id"), "metadata": {"fixed": 1}})
    # nor does naming its own team move the agent back: the re-send is history, not a transfer
    ingest(env, chat("t-1", RED, "M1", day="2026-11-20", team_id="T1", metadata={"fixed": 2}))
    with env.db.session() as session:
        assert session.get(Agent, "M1").team_id == "T2"

    def agent_summary(who: str) -> dict:
        r = env.get("/v1/agents/M1/summary", who)
        assert r.status_code == 200, (who, r.text)
        exported = _kv(_csv_tables(env.get("/v1/agents/M1/summary/export", who).content)["summary"])
        assert int(exported["interactions"]) == r.json()["interactions"]
        return r.json()

    # the new team's supervisor: only what M1 handled in T2
    new = agent_summary("sup2")
    assert new["interactions"] == 1 and new["team_id"] == "T2" and [d["date"] for d in new["daily"]] == ["2026-11-22"]
    assert ids(env.get("/v1/interactions?agent=M1", "sup2").json()) == {"t-3"}
    assert ids(env.get("/v1/review-queue?agent=M1&include_reviewed=true", "sup2").json()) <= {"t-3"}
    top = env.get("/v1/agents/M1/top-rules", "sup2").json()
    assert {r["rule_id"]: r["hits"] for r in top} == _rule_counts(env, "t-3")
    team2 = env.get("/v1/teams/T2/summary", "sup2").json()
    assert {a["agent_id"]: a["interactions"] for a in team2["agents"]} == {"M1": 1}
    assert team2["interactions"] == 1

    # the old team's supervisor: still what M1 handled in T1, after the move
    old = agent_summary("sup1")
    assert old["interactions"] == 2 and old["team_id"] == "T1" and old["rank"] is None  # < QA_RANK_MIN_INTERACTIONS
    app_config(rank_min_interactions=2)
    assert agent_summary("sup1")["rank"] == 1  # ranked in the old team
    assert [d["date"] for d in old["daily"]] == ["2026-11-20", "2026-11-21"]
    assert ids(env.get("/v1/interactions?agent=M1", "sup1").json()) == {"t-1", "t-2"}
    assert {r["rule_id"]: r["hits"] for r in env.get("/v1/agents/M1/top-rules", "sup1").json()} == _rule_counts(
        env, "t-1", "t-2"
    )
    team1 = env.get("/v1/teams/T1/summary", "sup1").json()
    assert {a["agent_id"]: a["interactions"] for a in team1["agents"]} == {"M1": 2}
    team1_csv = _csv_tables(env.get("/v1/teams/T1/summary/export", "sup1").content)
    assert int(_kv(team1_csv["summary"])["interactions"]) == 2
    assert [(row[0], row[2]) for row in team1_csv["agents"][1:]] == [("M1", "2")]

    # the agent, admins and QA: everything
    for who in ("agent-m1", "admin", "qa"):
        assert agent_summary(who)["interactions"] == 3
    assert ids(env.get("/v1/interactions", "agent-m1").json()) == {"t-1", "t-2", "t-3"}
    # a supervisor of neither team sees nothing of M1
    with env.db.session() as session:
        session.execute(delete(InteractionRow).where(InteractionRow.team_id == "T1"))
    assert env.get("/v1/agents/M1/summary", "sup1").status_code == 403
