"""The endpoints behind the review UI (review-queue filters, teams, score distribution, top rules,
rule quality, audio links) on SQLite and PostgreSQL, with the real engine scoring the chats."""

from __future__ import annotations

from conftest_db import CRITICAL, GREEN, RED, YELLOW
from test_api import chat, clean, env, ids, ingest  # noqa: F401 - fixtures and helpers of the API tests


def hits_of(env, interaction_id: str) -> list[dict]:
    return env.get(f"/v1/interactions/{interaction_id}", "qa").json()["result"]["hits"]


def quality(env, who: str = "qa") -> dict[str, dict]:
    r = env.get("/v1/rule-quality", who)
    assert r.status_code == 200, r.text
    return {q["rule_id"]: q for q in r.json()}


def seed(env) -> None:
    ingest(env, chat("d-red", RED, agent="A1", day="2026-11-20"))
    ingest(env, chat("d-crit", CRITICAL, agent="A3", day="2026-11-21"))
    ingest(env, chat("d-yellow", YELLOW, agent="A2", day="2026-11-22"))
    ingest(env, chat("d-green", GREEN, agent="A1", day="2026-11-22"))


def test_review_queue_filters(env):
    seed(env)
    queue = lambda q="": ids(env.get(f"/v1/review-queue{q}", "qa").json())  # noqa: E731
    assert queue() == {"d-red", "d-crit", "d-yellow"}
    assert queue("?team=T1") == {"d-red", "d-yellow"}
    assert queue("?agent=A3") == {"d-crit"}
    assert queue("?flag=yellow") == {"d-yellow"}
    assert queue("?start=2026-11-21") == {"d-crit", "d-yellow"}
    assert queue("?end=2026-11-20") == {"d-red"}
    assert queue("?rule=forbidden.mock_insult") == {"d-crit"}
    assert queue("?dimension=forbidden_words") == {"d-red", "d-crit", "d-yellow"}
    assert ids(env.get("/v1/review-queue?team=T1", "sup2").json()) == set()  # scope still applies
    r = env.get("/v1/review-queue?flag=green", "qa")
    assert r.status_code == 422 and "red" in r.text


def test_rule_quality_counts_the_latest_decision_per_hit(env):
    seed(env)
    before = quality(env)
    deflect = next(h for h in hits_of(env, "d-red") if h["rule_id"] == "forbidden.deflect")
    insult = next(h for h in hits_of(env, "d-crit") if h["rule_id"] == "forbidden.mock_insult")
    assert before["forbidden.deflect"]["reviewed"] == 0 and before["forbidden.deflect"]["precision"] is None
    review = lambda iid, hit, decision: env.post(  # noqa: E731
        f"/v1/interactions/{iid}/reviews", "qa", json={"hits": [{"hit_id": hit["id"], "decision": decision}]}
    )
    assert review("d-red", deflect, "dismiss").status_code == 201
    assert review("d-crit", insult, "confirm").status_code == 201
    after = quality(env)
    assert after["forbidden.deflect"]["dismissed"] == 1 and after["forbidden.deflect"]["precision"] == 0.0
    assert after["forbidden.mock_insult"]["confirmed"] == 1 and after["forbidden.mock_insult"]["precision"] == 1.0
    assert review("d-red", deflect, "confirm").status_code == 201  # a later review changes its mind
    again = quality(env)["forbidden.deflect"]
    assert (again["confirmed"], again["dismissed"], again["reviewed"]) == (1, 0, 1)
    assert again["hits"] == before["forbidden.deflect"]["hits"]
    rows = env.get("/v1/rule-quality", "qa").json()
    reviewed = [q["precision"] for q in rows if q["precision"] is not None]
    assert reviewed == sorted(reviewed) and rows[-1]["precision"] is None  # worst first, unreviewed last
    # A supervisor sees their teams' figures only; agents do not see rule quality.
    t2 = quality(env, "sup2")
    assert "forbidden.deflect" not in t2 and t2["forbidden.mock_insult"]["confirmed"] == 1
    assert env.get("/v1/rule-quality", "agent1").status_code == 403
    assert env.get("/v1/rule-quality?start=2026-11-22&end=2026-11-01", "qa").status_code == 422


def test_top_rules_and_score_distribution(env):
    seed(env)
    ingest(env, chat("d-red-2", RED, agent="A1", day="2026-11-23"))
    top = env.get("/v1/agents/A1/top-rules", "agent1").json()
    expected: dict[str, int] = {}
    for iid in ("d-red", "d-red-2", "d-green"):
        for h in hits_of(env, iid):
            if h["severity"] != "info":
                expected[h["rule_id"]] = expected.get(h["rule_id"], 0) + 1
    assert {r["rule_id"]: r["hits"] for r in top} == expected
    assert [r["hits"] for r in top] == sorted((r["hits"] for r in top), reverse=True)
    assert next(r for r in top if r["rule_id"] == "forbidden.deflect")["interactions"] == 2
    assert env.get("/v1/agents/A1/top-rules", "agent2").status_code == 403
    assert env.get("/v1/agents/A3/top-rules", "sup1").status_code == 403
    assert env.get("/v1/agents/nobody/top-rules", "qa").status_code == 404

    dist = env.get("/v1/teams/T1/score-distribution", "sup1").json()
    scores = [i["score"] for i in env.get("/v1/interactions?team=T1", "qa").json()["items"]]
    assert sum(b["count"] for b in dist["bands"]) == len(scores) == 4
    for band in dist["bands"]:
        inside = [s for s in scores if band["from"] <= s < band["to"] or (band["to"] == 100 and s == 100)]
        assert band["count"] == len(inside), band
    assert env.get("/v1/teams/T2/score-distribution", "sup1").status_code == 403
    assert env.get("/v1/teams/T9/score-distribution", "qa").status_code == 404


def test_teams_in_scope(env):
    everyone = {t["team_id"]: t["agents"] for t in env.get("/v1/teams", "qa").json()}
    assert everyone == {"T1": ["A1", "A2"], "T2": ["A3"]}
    assert [t["team_id"] for t in env.get("/v1/teams", "sup1").json()] == ["T1"]
    assert env.get("/v1/teams", "agent1").status_code == 403


def test_audio_link_needs_audio_and_a_valid_link(env):
    ingest(env, chat("d-chat", GREEN, agent="A1"))
    r = env.get("/v1/interactions/d-chat/audio-link", "qa")
    assert r.status_code == 404 and "no audio" in r.json()["detail"]
    assert env.get("/v1/interactions/d-chat/audio-link", "agent2").status_code == 404  # not theirs
    assert env.get("/v1/interactions/d-chat/audio?token=forged", None).status_code == 401
    assert env.get("/v1/interactions/d-chat/audio", None).status_code == 422


def test_ui_is_served(env):
    assert env.get("/", None, follow_redirects=False).headers["location"] == "/ui/"
    page = env.get("/ui/", None)
    assert page.status_code == 200 and '<script type="module" src="js/app.js">' in page.text
    for asset in ("js/app.js", "js/pages/interaction.js", "css/app.css", "vendor/chart.umd.min.js"):
        assert env.get(f"/ui/{asset}", None).status_code == 200, asset
