"""Predicted customer satisfaction through the API on SQLite and PostgreSQL (migration 0008's columns):
the interaction shows it, search filters by it, agent and team KPIs aggregate it, exports carry it."""

from __future__ import annotations

import pytest
from test_api import chat, clean, env, ids, ingest  # noqa: F401 - fixtures and helpers of the API tests

from qa_engine.store.models import ResultRow

OPENING = (("agent", "您好，很高兴为您服务，请问有什么可以帮您？"), ("customer", "我买的洗衣机订单显示已发货，想问下什么时候到"),
           ("agent", "亲，帮您查询了，物流显示明天送达，请您耐心等待"))  # fmt: skip
UNHAPPY = (*OPENING, ("customer", "都等了六天了还没到，太差了"), ("agent", "非常抱歉，已经帮您催促"),
           ("customer", "每次都说催促，到底什么时候能到？"), ("agent", "请您再耐心等待"), ("customer", "我要投诉，太差了"))
HAPPY = (*OPENING, ("customer", "好的，收到了"), ("agent", "请问还有其他可以帮您的吗"), ("customer", "好的谢谢，解决了"))


def seed(env) -> dict[str, dict]:
    return {
        "s-bad-a1": ingest(env, chat("s-bad-a1", UNHAPPY, agent="A1", day="2026-11-20")),
        "s-good-a1": ingest(env, chat("s-good-a1", HAPPY, agent="A1", day="2026-11-21")),
        "s-good-a2": ingest(env, chat("s-good-a2", HAPPY, agent="A2", day="2026-11-21")),
        "s-bad-a3": ingest(env, chat("s-bad-a3", UNHAPPY, agent="A3", day="2026-11-22")),
    }


def sat(created: dict) -> dict:
    return created["result"]["satisfaction"]


def test_the_interaction_shows_satisfaction_and_stores_its_columns(env):
    created = seed(env)
    bad, good = sat(created["s-bad-a1"]), sat(created["s-good-a1"])
    assert bad["dissatisfied"] >= 0.5 > good["dissatisfied"] and bad["predicted"] < 0 < good["predicted"]
    shown = env.get("/v1/interactions/s-bad-a1", "qa").json()["result"]
    assert shown["satisfaction"] == bad
    assert shown["versions"]["models"]["satisfaction"] == bad["source"]
    item = next(i for i in env.get("/v1/interactions", "qa").json()["items"] if i["interaction_id"] == "s-bad-a1")
    assert (item["satisfaction"], item["dissatisfied"]) == (bad["predicted"], bad["dissatisfied"])
    with env.db.session() as session:
        row = session.query(ResultRow).filter_by(interaction_id="s-bad-a1", is_current=True).one()
        assert (row.satisfaction_predicted, row.satisfaction_dissatisfied) == (bad["predicted"], bad["dissatisfied"])


def test_search_filters_by_predicted_satisfaction(env):
    created = seed(env)
    search = lambda q: ids(env.get(f"/v1/interactions?{q}", "qa").json())  # noqa: E731
    assert search("dissatisfied=true") == {"s-bad-a1", "s-bad-a3"}
    assert search("dissatisfied=false") == {"s-good-a1", "s-good-a2"}
    assert search("satisfaction_max=0") == {"s-bad-a1", "s-bad-a3"}
    assert search("satisfaction_min=0") == {"s-good-a1", "s-good-a2"}
    good = sat(created["s-good-a1"])["predicted"]
    assert search(f"satisfaction_min={good}&satisfaction_max={good}") == {"s-good-a1", "s-good-a2"}
    assert search("dissatisfied=true&team=T1") == {"s-bad-a1"}
    assert ids(env.get("/v1/interactions?dissatisfied=true", "sup2").json()) == {"s-bad-a3"}  # scope still applies
    assert ids(env.get("/v1/interactions?dissatisfied=true", "agent1").json()) == {"s-bad-a1"}
    queue = ids(env.get("/v1/review-queue?dissatisfied=true&include_reviewed=true", "qa").json())
    assert queue <= {"s-bad-a1", "s-bad-a3"}


@pytest.mark.parametrize("query, says", [
    ("satisfaction_max=3", "less than or equal to 2"),
    ("satisfaction_min=-2.5", "greater than or equal to -2"),
    ("satisfaction_min=1&satisfaction_max=-1", "satisfaction_min (1) is above satisfaction_max (-1)"),
    ("dissatisfied=maybe", "valid boolean"),
    ("satisfaction_max=low", "valid number"),
])  # fmt: skip
def test_bad_satisfaction_filters_are_refused_with_a_reason(env, query, says):
    r = env.get(f"/v1/interactions?{query}", "qa")
    assert r.status_code == 422 and says in r.text, r.text


def test_agent_and_team_kpis_aggregate_predicted_satisfaction(env):
    created = seed(env)
    pred = {k: sat(v)["predicted"] for k, v in created.items()}
    team = env.get("/v1/teams/T1/summary", "sup1").json()
    t1 = ["s-bad-a1", "s-good-a1", "s-good-a2"]
    assert team["satisfaction_n"] == 3
    assert team["average_satisfaction"] == pytest.approx(sum(pred[k] for k in t1) / 3, abs=1e-3)
    assert team["dissatisfied_share"] == pytest.approx(1 / 3, abs=1e-4)
    agents = {a["agent_id"]: a for a in team["agents"]}
    assert agents["A1"]["dissatisfied_share"] == 0.5 and agents["A2"]["dissatisfied_share"] == 0.0
    assert agents["A1"]["average_satisfaction"] == pytest.approx((pred["s-bad-a1"] + pred["s-good-a1"]) / 2, abs=1e-3)
    a3 = env.get("/v1/agents/A3/summary", "agent3").json()
    assert (a3["satisfaction_n"], a3["dissatisfied_share"]) == (1, 1.0)
    assert a3["average_satisfaction"] == pytest.approx(pred["s-bad-a3"], abs=1e-3)
    # a run stored without a prediction (before migration 0008, or the model off) counts in neither
    with env.db.session() as session:
        session.query(ResultRow).filter_by(interaction_id="s-good-a2").update(
            {"satisfaction": None, "satisfaction_predicted": None, "satisfaction_dissatisfied": None})
    team = env.get("/v1/teams/T1/summary", "sup1").json()
    assert (team["interactions"], team["satisfaction_n"], team["dissatisfied_share"]) == (3, 2, 0.5)
    assert {a["agent_id"]: a["satisfaction_n"] for a in team["agents"]} == {"A1": 2, "A2": 0}
    assert next(a for a in team["agents"] if a["agent_id"] == "A2")["average_satisfaction"] is None
    assert env.get("/v1/interactions/s-good-a2", "qa").json()["result"]["satisfaction"] is None
    export = env.get("/v1/teams/T1/summary/export?format=csv", "sup1")
    assert export.status_code == 200 and "predicted dissatisfied share" in export.text
