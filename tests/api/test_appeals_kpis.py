"""Appeals and final scores through the real app on SQLite and PostgreSQL: a decided appeal is a
review (accepting dismisses the contested hits), every KPI counts final scores where there are
(automatic ones stay beside them), warnings (red on a critical violation, consecutive low days),
ranking needs a minimum volume, the appeals inbox, the queue's appeal marker and the appeal window."""

from __future__ import annotations

import io
from datetime import timedelta
from statistics import mean

import pytest
from conftest_db import CRITICAL, GREEN, RED, YELLOW, DbSettings
from openpyxl import load_workbook
from pydantic import ValidationError
from sqlalchemy import select

from api.config import ApiConfig
from qa_engine.store.models import ResultRow
from test_api import app_config, chat, clean, env, ids, ingest  # noqa: F401 - fixtures and helpers of the API tests


def detail(env, iid: str, who: str = "qa") -> dict:
    r = env.get(f"/v1/interactions/{iid}", who)
    assert r.status_code == 200, r.text
    return r.json()


def hit(d: dict, rule_id: str) -> dict:
    return next(h for h in d["result"]["hits"] if h["rule_id"] == rule_id)


def appeal(env, iid: str, hit_ids: list[int], who: str = "agent1", reason: str = "客户先骂人，我在复述"):
    return env.post(f"/v1/interactions/{iid}/appeals", who, json={"reason": reason, "hit_ids": hit_ids})


def decide(env, appeal_id: int, decision: str = "accepted", who: str = "qa", **body):
    return env.post(f"/v1/appeals/{appeal_id}/decision", who, json={"decision": decision, "reason": "录音核实", **body})


# --- a decided appeal is a review ----------------------------------------------------------------


def test_accepting_an_appeal_dismisses_the_contested_hits_and_the_final_score_follows(env):
    ingest(env, chat("ap-1", CRITICAL, day="2026-11-20"))
    before = detail(env, "ap-1", "agent1")
    insult = hit(before, "forbidden.mock_insult")
    assert before["result"]["score"] == 0 and before["result"]["flag"] == "red" and before["final"] is None
    assert "ap-1" in ids(env.get("/v1/review-queue", "qa").json())  # 未复核
    filed = appeal(env, "ap-1", [insult["id"]])
    assert filed.status_code == 201, filed.text
    queued = next(i for i in env.get("/v1/review-queue", "qa").json()["items"] if i["interaction_id"] == "ap-1")
    assert (queued["appeal_id"], queued["appeal_status"]) == (filed.json()["id"], "open")  # the queue's marker

    decided = decide(env, filed.json()["id"])  # no hit decisions: the contested hit is dismissed
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert [(h["hit_id"], h["decision"]) for h in body["review"]["hits"]] == [(insult["id"], "dismiss")]
    assert body["final"]["score"] > 0 and body["review"]["appeal_id"] == filed.json()["id"]

    after = detail(env, "ap-1", "agent1")
    assert after["result"]["score"] == 0  # the automatic result stays
    assert after["final"]["score"] == body["final"]["score"] and after["final"]["flag"] != "red"
    assert hit(after, "forbidden.mock_insult")["decision"] == "dismiss"
    assert after["appeals"][0]["status"] == "accepted"
    # it leaves the queue (reviewed), and shows its final score and the outcome when asked
    assert "ap-1" not in ids(env.get("/v1/review-queue", "qa").json())
    item = next(i for i in env.get("/v1/review-queue?include_reviewed=true", "qa").json()["items"])
    assert (item["final_score"], item["appeal_status"]) == (after["final"]["score"], "accepted")
    # one appeal per scoring: not again
    again = appeal(env, "ap-1", [])
    assert again.status_code == 409 and "once" in again.json()["detail"]
    # the agent's own appeals list shows the outcome
    mine = env.get("/v1/appeals", "agent1").json()["items"]
    assert [(a["status"], a["final_score"], a["decision_reason"]) for a in mine] == [
        ("accepted", after["final"]["score"], "录音核实")
    ]
    assert [(c["rule_id"], c["decision"]) for c in mine[0]["contested"]] == [("forbidden.mock_insult", "dismiss")]


def test_the_decision_can_keep_a_contested_hit_and_rejecting_confirms_them(env):
    ingest(env, chat("ap-2", CRITICAL))
    d = detail(env, "ap-2")
    insult, impatience = hit(d, "forbidden.mock_insult"), hit(d, "forbidden.impatience")
    filed = appeal(env, "ap-2", [insult["id"], impatience["id"]]).json()
    keep = decide(env, filed["id"], hits=[{"hit_id": insult["id"], "decision": "confirm"}])
    assert keep.status_code == 200, keep.text
    decisions = {h["hit_id"]: h["decision"] for h in keep.json()["review"]["hits"]}
    assert decisions == {insult["id"]: "confirm", impatience["id"]: "dismiss"}
    assert keep.json()["final"]["score"] == 0  # the confirmed critical hit still zeroes the score

    ingest(env, chat("ap-3", RED, agent="A1"))
    deflect = hit(detail(env, "ap-3"), "forbidden.deflect")
    filed = appeal(env, "ap-3", [deflect["id"]]).json()
    changes = decide(env, filed["id"], "rejected", hits=[{"hit_id": deflect["id"], "decision": "dismiss"}])
    assert changes.status_code == 422 and "cannot change" in changes.json()["detail"]
    rejected = decide(env, filed["id"], "rejected", who="sup1")
    assert rejected.status_code == 200, rejected.text
    assert [(h["hit_id"], h["decision"]) for h in rejected.json()["review"]["hits"]] == [(deflect["id"], "confirm")]
    after = detail(env, "ap-3", "agent1")
    assert after["final"]["score"] == after["result"]["score"] and after["appeals"][0]["status"] == "rejected"
    assert "ap-3" not in ids(env.get("/v1/review-queue", "qa").json())
    assert decide(env, filed["id"]).status_code == 409  # decided already
    assert decide(env, 2_000_000_000).status_code == 404


# --- KPIs count final scores -----------------------------------------------------------------------


def test_every_kpi_counts_the_final_score_and_keeps_the_automatic_one_beside_it(env):
    payloads = [
        chat("kf-1", GREEN, day="2026-11-20"),
        chat("kf-2", RED, day="2026-11-20"),
        chat("kf-3", CRITICAL, day="2026-11-21"),
        chat("kf-4", YELLOW, day="2026-11-21"),
    ]
    auto = {p["interaction_id"]: ingest(env, p)["result"] for p in payloads}
    ingest(env, chat("kf-a2", GREEN, agent="A2", day="2026-11-20"))
    query = "start=2026-11-20&end=2026-11-21"
    before = env.get(f"/v1/agents/A1/summary?{query}", "sup1").json()
    assert before["reviewed"] == 0 and before["automatic"]["average_score"] == before["average_score"]

    # kf-2: forbidden phrases dismissed in a review; kf-3: an accepted appeal lifts the 一票否决.
    d2 = detail(env, "kf-2")
    forbidden = [h["id"] for h in d2["result"]["hits"] if h["dimension"] == "forbidden_words"]
    r = env.post("/v1/interactions/kf-2/reviews", "qa",
                 json={"hits": [{"hit_id": h, "decision": "dismiss"} for h in forbidden]})  # fmt: skip
    assert r.status_code == 201, r.text
    insult = hit(detail(env, "kf-3"), "forbidden.mock_insult")
    assert decide(env, appeal(env, "kf-3", [insult["id"]]).json()["id"]).status_code == 200
    final = {iid: (detail(env, iid)["final"] or {}) for iid in auto}
    score = {iid: final[iid].get("score", auto[iid]["score"]) for iid in auto}
    flag = {iid: final[iid].get("flag", auto[iid]["flag"]) for iid in auto}
    dims = {iid: final[iid].get("dimensions") or {k: v["score"] for k, v in auto[iid]["dimensions"].items()}
            for iid in auto}  # fmt: skip
    assert score["kf-2"] > auto["kf-2"]["score"] and score["kf-3"] > 0 == auto["kf-3"]["score"]

    s = env.get(f"/v1/agents/A1/summary?{query}", "sup1").json()
    assert s["average_score"] == round(mean(score.values()), 1) != before["average_score"]
    assert s["flags"] == {f: sum(v == f for v in flag.values()) for f in ("red", "yellow", "green")}
    assert s["pass_rate"] == round(sum(v != "red" for v in flag.values()) / 4, 4)
    assert s["critical"] == 0 and before["critical"] == 1 and s["reviewed"] == 2
    for dim in dims["kf-1"]:
        assert s["dimensions"][dim] == round(mean(d[dim] for d in dims.values()), 1), dim
    kept_forbidden = 1  # kf-3's impatience; kf-2's were dismissed, kf-3's insult too; kf-4 has 2
    assert s["forbidden_per_100"] == round(100 * (kept_forbidden + auto["kf-4"]["stats"]["forbidden_hits"]) / 4, 2)
    assert s["script_compliance_rate"] == round(sum(d["script_compliance"] >= 100 for d in dims.values()) / 4, 4)
    assert s["automatic"] == before["automatic"]  # the auto-vs-final view
    assert s["automatic"]["average_score"] == round(mean(a["score"] for a in auto.values()), 1)
    days = {d["date"]: d for d in s["daily"]}
    assert days["2026-11-21"]["average_score"] == round(mean([score["kf-3"], score["kf-4"]]), 1)
    assert days["2026-11-21"]["automatic_average_score"] == round(mean([0, auto["kf-4"]["score"]]), 1)
    assert days["2026-11-21"]["critical"] == 0 and days["2026-11-20"]["reviewed"] == 1

    team = env.get(f"/v1/teams/T1/summary?{query}", "qa").json()
    a1 = next(a for a in team["agents"] if a["agent_id"] == "A1")
    assert a1["average_score"] == s["average_score"] and a1["automatic"]["average_score"] == before["average_score"]
    assert team["average_score"] == round(mean([*score.values(), 100.0]), 1)
    dist = env.get(f"/v1/teams/T1/score-distribution?{query}", "qa").json()["bands"]
    band = lambda v: next(b for b in dist if b["from"] <= v < b["to"] or v == b["to"] == 100)  # noqa: E731
    assert band(score["kf-3"])["count"] >= 1 and dist[0]["automatic"] == 1 and dist[0]["count"] == 0
    assert sum(b["count"] for b in dist) == sum(b["automatic"] for b in dist) == 5

    export = env.get(f"/v1/agents/A1/summary/export?format=xlsx&{query}", "sup1")
    book = load_workbook(io.BytesIO(export.content))
    values = {row[0]: row[1] for row in book["summary"].iter_rows(min_row=2, values_only=True)}
    assert values["average score"] == s["average_score"]
    assert values["automatic average score"] == s["automatic"]["average_score"]
    assert values["reviewed (final score)"] == 2


# --- warnings and ranking --------------------------------------------------------------------------


def test_a_critical_violation_is_a_red_warning_until_an_appeal_lifts_it(env):
    for n, day in enumerate(("2026-11-17", "2026-11-18", "2026-11-19")):
        ingest(env, chat(f"wc-{n}", GREEN, day=day))
    ingest(env, chat("wc-crit", CRITICAL, day="2026-11-18", hour=15))
    s = env.get("/v1/agents/A1/summary?start=2026-11-17&end=2026-11-19", "agent1").json()
    assert s["average_score"] >= 60  # the daily averages alone would be green
    assert s["warning"]["level"] == "red" and s["warning"]["kind"] == "critical"
    assert s["warning"]["days"] == ["2026-11-18"] and "一票否决" in s["warning"]["reason"]
    team = env.get("/v1/teams/T1/summary", "sup1").json()
    assert [(w["agent_id"], w["level"], w["kind"]) for w in team["warnings"]] == [("A1", "red", "critical")]

    insult = hit(detail(env, "wc-crit"), "forbidden.mock_insult")
    assert decide(env, appeal(env, "wc-crit", [insult["id"]]).json()["id"]).status_code == 200
    s = env.get("/v1/agents/A1/summary?start=2026-11-17&end=2026-11-19", "agent1").json()
    assert s["warning"] == {"level": "green", "kind": None, "below": None, "reason": None, "days": []}


def test_consecutive_low_days_follow_final_scores(env):
    for n, day in enumerate(("2026-11-17", "2026-11-18", "2026-11-19")):
        ingest(env, chat(f"wl-{n}", RED, day=day))
    s = env.get("/v1/agents/A1/summary", "sup1").json()
    assert (s["warning"]["level"], s["warning"]["kind"], s["warning"]["below"]) == ("red", "consecutive_low", 60)
    d = detail(env, "wl-1")
    r = env.post("/v1/interactions/wl-1/reviews", "qa", json={"hits": [
        {"hit_id": h["id"], "decision": "dismiss"} for h in d["result"]["hits"] if h["severity"] != "info"]})
    assert r.status_code == 201 and r.json()["final"]["score"] >= 60
    after = env.get("/v1/agents/A1/summary", "sup1").json()["warning"]  # the red run is broken; all below 80
    assert (after["level"], after["below"], len(after["days"])) == ("yellow", 80, 3)


def test_ranking_needs_a_minimum_volume_and_says_so(env, app_config):
    for n in range(3):
        ingest(env, chat(f"rk-a1-{n}", YELLOW, day=f"2026-11-{17 + n}"))
    for n in range(2):
        ingest(env, chat(f"rk-a2-{n}", GREEN, agent="A2", day=f"2026-11-{17 + n}"))
    assert ApiConfig.from_settings(DbSettings()).rank_min_interactions == 10  # the default
    app_config(rank_min_interactions=3)
    team = env.get("/v1/teams/T1/summary", "sup1").json()
    rows = {a["agent_id"]: a for a in team["agents"]}
    assert team["rank_min_interactions"] == 3
    assert rows["A1"]["rank"] == 1 and rows["A1"]["rank_note"] is None
    assert rows["A2"]["average_score"] > rows["A1"]["average_score"]  # better, but only 2 interactions
    assert rows["A2"]["rank"] is None
    assert "2 interactions" in rows["A2"]["rank_note"] and "QA_RANK_MIN_INTERACTIONS" in rows["A2"]["rank_note"]
    a2 = env.get("/v1/agents/A2/summary", "agent2").json()
    assert (a2["rank"], a2["team_agents"], a2["rank_min_interactions"]) == (None, 1, 3)
    assert "at least 3" in a2["rank_note"]
    app_config(rank_min_interactions=2)
    rows = {a["agent_id"]: a["rank"] for a in env.get("/v1/teams/T1/summary", "sup1").json()["agents"]}
    assert rows == {"A2": 1, "A1": 2}
    with pytest.raises(ValidationError):
        DbSettings(rank_min_interactions=0)


# --- the inbox, the window ------------------------------------------------------------------------


def test_appeals_inbox_oldest_first_by_team_and_scoped(env):
    ingest(env, chat("in-1", RED, agent="A1"))
    ingest(env, chat("in-2", CRITICAL, agent="A3"))
    ingest(env, chat("in-3", YELLOW, agent="A2"))
    first = appeal(env, "in-1", []).json()["id"]
    second = appeal(env, "in-2", [hit(detail(env, "in-2"), "forbidden.mock_insult")["id"]], who="agent3").json()["id"]
    third = appeal(env, "in-3", [], who="sup1").json()["id"]
    inbox = lambda q="", who="qa": env.get(f"/v1/appeals{q}", who).json()  # noqa: E731
    assert [a["id"] for a in inbox("?status=open")["items"]] == [first, second, third]
    assert [a["id"] for a in inbox("?status=open&team=T2")["items"]] == [second]
    t2 = inbox("?team=T2")["items"][0]
    assert (t2["interaction_id"], t2["team_id"], t2["agent_id"], t2["score"], t2["final_score"]) == (
        "in-2", "T2", "A3", 0, None)  # fmt: skip
    assert [c["rule_id"] for c in t2["contested"]] == ["forbidden.mock_insult"]
    assert decide(env, first).status_code == 200
    assert [a["id"] for a in inbox("?status=open")["items"]] == [second, third]
    assert inbox("?status=accepted")["total"] == 1
    # scope: supervisors their teams', agents their own, whatever they ask for
    assert [a["id"] for a in inbox("", "sup1")["items"]] == [first, third]
    assert inbox("?team=T2", "sup1")["total"] == 0
    assert [a["id"] for a in inbox("", "agent1")["items"]] == [first]
    assert inbox("?agent=A3", "agent1")["total"] == 0
    assert env.get("/v1/appeals", "ingest").status_code == 403
    assert env.get("/v1/appeals", None).status_code == 401
    bad = env.get("/v1/appeals?status=closed", "qa")
    assert bad.status_code == 422 and "open" in bad.text
    assert env.get("/v1/appeals?limit=0", "qa").status_code == 422


def test_appeal_window_is_enforced(env, app_config):
    ingest(env, chat("aw-1", RED))
    ingest(env, chat("aw-2", RED))
    d = detail(env, "aw-1", "agent1")
    scored = d["history"][-1]["created_at"]
    assert d["appeal_deadline"][:19] > scored[:19]
    with env.db.session() as session:  # scored 8 days ago
        for res in session.scalars(select(ResultRow)):
            res.created_at -= timedelta(days=8)
        session.commit()
    late = appeal(env, "aw-1", [])
    assert late.status_code == 409, late.text
    assert "7 days" in late.json()["detail"] and "QA_APPEAL_WINDOW_DAYS" in late.json()["detail"]
    app_config(appeal_window_days=30)
    assert appeal(env, "aw-2", []).status_code == 201
    assert detail(env, "aw-1")["appeal_deadline"] > d["appeal_deadline"]
    for days in (0, 31):
        with pytest.raises(ValidationError):
            DbSettings(appeal_window_days=days)
    assert ApiConfig.from_settings(DbSettings(appeal_window_days=14)).appeal_window_days == 14
