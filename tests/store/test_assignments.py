"""Review assignment and sampling rules (抽检计划) through the real app on SQLite and PostgreSQL: a
supervisor assigns their teams' interactions to QA specialists (idempotent, audited, others' teams
404, wrong people 422), a review by anyone closes an assignment, each specialist's queue shows theirs;
sampling rules take a share of each flag per agent and week in an order fixed by a hash of rule and
interaction id, so reruns assign nothing twice; `qa-engine sample` runs them nightly. Agents see none
of it; supervisors only their teams'."""

from __future__ import annotations

import hashlib
import math

import pytest
from click.testing import CliRunner
from conftest_db import GREEN, RED, YELLOW, DbSettings, backends, bearer, fresh_database, seed_accounts
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from api.main import create_app
from qa_engine.cli import main as cli
from qa_engine.store import migrate
from qa_engine.store.db import Database
from qa_engine.store.models import ApiUser, AuditLog, Review, ReviewAssignment, SamplingRule

PASSWORD = "pass-word-for-tests"
USERS = {
    "admin": ("admin", None, ()),
    "sup1": ("supervisor", None, ("T1",)),
    "sup2": ("supervisor", None, ("T2",)),
    "qa1": ("qa_specialist", None, ()),
    "qa2": ("qa_specialist", None, ()),
    "qa3": ("qa_specialist", None, ()),
    "agent1": ("agent", "A1", ()),
    "ingest": ("ingest", None, ()),
}
AGENT_TEAMS = {"A1": "T1", "A2": "T1", "A3": "T2"}
WEEK = ("2026-11-16", "2026-11-22")  # Monday to Sunday


def _seed_items() -> list[tuple[str, str, object, str]]:
    """(interaction id, agent, turns, local date): the week of 16 Nov and two red ones the week before."""
    items = []
    for agent, flag, turns, n in (("A1", "g", GREEN, 20), ("A1", "r", RED, 2), ("A1", "y", YELLOW, 3),
                                  ("A2", "g", GREEN, 10), ("A2", "r", RED, 1), ("A3", "g", GREEN, 4),
                                  ("A3", "r", RED, 3)):  # fmt: skip
        items += [(f"{flag}-{agent}-{i:02d}", agent, turns, f"2026-11-{16 + i % 7}") for i in range(n)]
    items += [(f"old-A1-{i}", "A1", RED, "2026-11-10") for i in range(2)]
    return items


FLAG_OF = {"g": "green", "r": "red", "y": "yellow", "o": "red"}


@pytest.fixture(scope="module", params=backends())
def env(request, tmp_path_factory):
    with fresh_database(request.param, tmp_path_factory.mktemp(f"assign-{request.param}")) as url:
        migrate.upgrade(url)
        db = Database(url)
        with db.session() as session:
            key = seed_accounts(session, USERS, AGENT_TEAMS, PASSWORD)
        with TestClient(create_app(DbSettings(database_url=url, alert_poll_seconds=0))) as client:
            headers = {"ingest": {"X-API-Key": key}}
            for name in USERS:
                if name != "ingest":
                    headers[name] = bearer(client, name, PASSWORD)
            for iid, agent, turns, day in _seed_items():
                body = {"interaction_id": iid, "channel": "chat", "agent_id": agent, "team_id": AGENT_TEAMS[agent],
                        "started_at": f"{day}T10:00:00+08:00", "turns": [{"role": r, "text": t} for r, t in turns]}
                r = client.post("/v1/interactions", headers=headers["ingest"], json=body)
                assert r.status_code == 201, r.text
                assert r.json()["result"]["flag"] == FLAG_OF[iid[0]], iid
            yield client, headers, db, url
        db.dispose()


@pytest.fixture(autouse=True)
def clean(env):
    yield
    with env[2].session() as session:
        session.execute(delete(ReviewAssignment))
        session.execute(delete(SamplingRule))
        session.execute(delete(Review))
        session.execute(delete(AuditLog))
        for user in session.scalars(select(ApiUser).where(ApiUser.role == "qa_specialist")):
            user.is_active = True


def _assign(env, user: str, ids: list[str], assignee: str, status: int = 200) -> dict:
    client, headers, *_ = env
    r = client.post("/v1/assignments", headers=headers[user], json={"interaction_ids": ids, "assignee": assignee})
    assert r.status_code == status, r.text
    return r.json()


def _queue(env, user: str, **params) -> list[dict]:
    client, headers, *_ = env
    r = client.get("/v1/review-queue", headers=headers[user], params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _review(env, user: str, iid: str) -> None:
    client, headers, *_ = env
    body = {"overrides": [{"dimension": "empathy", "score": 90, "reason": "抽检复核"}]}
    r = client.post(f"/v1/interactions/{iid}/reviews", headers=headers[user], json=body)
    assert r.status_code == 201, r.text


def _audit(env, action: str) -> list[AuditLog]:
    with env[2].session() as session:
        rows = list(session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))
        session.expunge_all()
        return rows


# --- manual assignment ---------------------------------------------------------------------------------


def test_a_supervisor_assigns_their_teams_interactions_to_a_specialist(env):
    client, headers, *_ = env
    ids = ["r-A1-00", "y-A1-01", "g-A1-05"]
    out = _assign(env, "sup1", ids, "qa1")
    assert (out["assigned"], out["reassigned"], out["unchanged"]) == (3, 0, 0)
    assert [i["interaction_id"] for i in out["items"]] == ids
    again = _assign(env, "sup1", ids, "qa1")  # the same request again changes nothing
    assert (again["assigned"], again["reassigned"], again["unchanged"]) == (0, 0, 3)
    assert [a.object_id for a in _audit(env, "assignment.create")] == ids
    assert all(a.actor == "sup1" and a.detail["assignee"] == "qa1" for a in _audit(env, "assignment.create"))

    # The specialist's queue: their assignments, the sampled green one too, red then yellow then green.
    mine = _queue(env, "qa1", assignee="me")
    assert [(i["interaction_id"], i["assigned_to"], i["assignment_status"]) for i in mine] == [
        ("r-A1-00", "qa1", "open"), ("y-A1-01", "qa1", "open"), ("g-A1-05", "qa1", "open")]  # fmt: skip
    assert _queue(env, "qa2", assignee="me") == []
    # Every queue row says to whom it is assigned.
    rows = {i["interaction_id"]: i for i in _queue(env, "qa2")}
    assert rows["r-A1-00"]["assigned_to"] == "qa1" and rows["r-A1-01"]["assigned_to"] is None
    assert [i["interaction_id"] for i in _queue(env, "sup1", assignee="qa1")] == [i["interaction_id"] for i in mine]

    # A review by anyone closes it: it leaves the open queue and is listed as done, by whom.
    _review(env, "qa2", "y-A1-01")
    assert [i["interaction_id"] for i in _queue(env, "qa1", assignee="me")] == ["r-A1-00", "g-A1-05"]
    done = {i["interaction_id"]: i for i in _queue(env, "qa1", assignee="me", include_reviewed="true")}
    assert done["y-A1-01"]["assignment_status"] == "done"
    r = client.get("/v1/assignments", headers=headers["qa1"], params={"status": "done"})
    [listed] = r.json()["items"]
    assert (listed["interaction_id"], listed["status"], listed["reviewed_by"]) == ("y-A1-01", "done", "qa2")
    r = client.get("/v1/assignments", headers=headers["sup1"], params={"assignee": "qa1", "status": "all"})
    assert r.json()["total"] == 3

    # Assigning a done one again opens it again (a second look); another specialist takes it over.
    moved = _assign(env, "sup1", ["y-A1-01", "r-A1-00"], "qa2")
    assert [(i["outcome"], i["previous_assignee"]) for i in moved["items"]] == [("reassigned", "qa1")] * 2
    assert [i["interaction_id"] for i in _queue(env, "qa2", assignee="me")] == ["r-A1-00", "y-A1-01"]
    assert [a.detail["previous"] for a in _audit(env, "assignment.reassign")] == ["qa1", "qa1"]


def test_wrong_people_and_other_teams_are_refused(env):
    client, headers, *_ = env
    # Another team's interaction is not found, like one that does not exist; nothing is assigned.
    for ids in (["r-A3-00"], ["r-A1-00", "r-A3-00"], ["nope"]):
        r = client.post("/v1/assignments", headers=headers["sup1"], json={"interaction_ids": ids, "assignee": "qa1"})
        assert r.status_code == 404 and "no interaction" in r.json()["detail"]
    assert _queue(env, "qa1", assignee="me") == []
    for assignee, why in (("ghost", "no user 'ghost'"), ("agent1", "not a qa_specialist"), ("sup1", "not a qa_specialist")):
        r = client.post("/v1/assignments", headers=headers["admin"],
                        json={"interaction_ids": ["r-A1-00"], "assignee": assignee})  # fmt: skip
        assert r.status_code == 422 and why in r.json()["detail"], r.text
    with env[2].session() as session:
        session.scalar(select(ApiUser).where(ApiUser.username == "qa3")).is_active = False
    r = client.post("/v1/assignments", headers=headers["admin"], json={"interaction_ids": ["r-A1-00"], "assignee": "qa3"})
    assert r.status_code == 422 and "deactivated" in r.json()["detail"]
    for user in ("qa1", "agent1", "ingest"):  # only supervisors and admins assign
        r = client.post("/v1/assignments", headers=headers[user], json={"interaction_ids": ["r-A1-00"], "assignee": "qa1"})
        assert r.status_code == 403
    # The admin assigns any team's.
    assert _assign(env, "admin", ["r-A3-00", "r-A1-00"], "qa1")["assigned"] == 2


def test_assignments_are_seen_only_by_whom_they_concern(env):
    client, headers, *_ = env
    _assign(env, "admin", ["r-A1-00", "r-A3-00"], "qa1")
    _assign(env, "admin", ["r-A1-01"], "qa2")
    listed = lambda user, **p: client.get("/v1/assignments", headers=headers[user], params=p)  # noqa: E731
    assert {i["interaction_id"] for i in listed("sup1").json()["items"]} == {"r-A1-00", "r-A1-01"}
    assert {i["interaction_id"] for i in listed("sup2").json()["items"]} == {"r-A3-00"}
    assert {i["interaction_id"] for i in listed("qa1").json()["items"]} == {"r-A1-00", "r-A3-00"}
    assert listed("qa1", assignee="qa2").status_code == 403  # specialists see their own
    assert listed("agent1").status_code == 403 and listed("ingest").status_code == 403
    assert client.get("/v1/review-queue", headers=headers["agent1"]).status_code == 403
    assert client.get("/v1/qa-specialists", headers=headers["agent1"]).status_code == 403
    own = client.get("/v1/interactions/r-A1-00", headers=headers["agent1"]).json()
    assert "qa1" not in str(own) and "assign" not in str(own)  # the agent's view says nothing of it
    # A supervisor's queue of a specialist holds only their teams' interactions.
    assert [i["interaction_id"] for i in _queue(env, "sup2", assignee="qa1")] == ["r-A3-00"]
    # Removing: another team's assignment is not found; one's own team's is removed and audited.
    [a3] = listed("sup2").json()["items"]
    [a1] = [i for i in listed("sup1").json()["items"] if i["interaction_id"] == "r-A1-00"]
    assert client.delete(f"/v1/assignments/{a3['id']}", headers=headers["sup1"]).status_code == 404
    assert client.delete(f"/v1/assignments/{a1['id']}", headers=headers["qa1"]).status_code == 403
    assert client.delete(f"/v1/assignments/{a1['id']}", headers=headers["sup1"]).status_code == 204
    assert client.delete(f"/v1/assignments/{a1['id']}", headers=headers["sup1"]).status_code == 404
    assert [i["interaction_id"] for i in _queue(env, "qa1", assignee="me")] == ["r-A3-00"]
    assert [(a.actor, a.object_id) for a in _audit(env, "assignment.delete")] == [("sup1", "r-A1-00")]
    loads = client.get("/v1/qa-specialists", headers=headers["sup1"]).json()
    assert {s["username"]: s["open_assignments"] for s in loads} == {"qa1": 1, "qa2": 1, "qa3": 0}


# --- sampling rules ------------------------------------------------------------------------------------


def _rule(env, user: str, status: int = 201, **fields) -> dict:
    client, headers, *_ = env
    body = {"name": "周抽检", "team_id": "T1", "rates": {"green": 0.1, "red": 1.0}, "assignees": ["qa1", "qa2"], **fields}
    r = client.post("/v1/sampling-rules", headers=headers[user], json=body)
    assert r.status_code == status, r.text
    return r.json()


def _run(env, user: str, rule_id: int, start: str, end: str, status: int = 200) -> dict:
    client, headers, *_ = env
    r = client.post(f"/v1/sampling-rules/{rule_id}/run", headers=headers[user], json={"start": start, "end": end})
    assert r.status_code == status, r.text
    return r.json()


def _expected_picks(rule_id: int, ids: list[str], rate: float, covered: set[str] = frozenset()) -> set[str]:
    need = math.ceil(rate * len(ids) - 1e-9) - len(covered & set(ids))
    free = sorted(set(ids) - covered, key=lambda i: hashlib.sha256(f"{rule_id}:{i}".encode()).hexdigest())
    return set(free[: max(0, need)])


def test_a_sampling_rule_takes_its_share_per_agent_and_week_and_reruns_assign_nothing(env):
    _assign(env, "sup1", ["r-A1-00"], "qa3")  # already assigned by hand: counts as covered
    rule = _rule(env, "sup1")
    assert (rule["rates"], rule["period"], rule["assignees"]) == ({"green": 0.1, "yellow": 0, "red": 1.0}, "week",
                                                                  ["qa1", "qa2"])  # fmt: skip
    run = _run(env, "sup1", rule["id"], *WEEK)
    buckets = {(b["agent_id"], b["flag"]): b for b in run["buckets"]}
    assert {k: (b["candidates"], b["target"], b["covered"], b["assigned"]) for k, b in buckets.items()} == {
        ("A1", "green"): (20, 2, 0, 2), ("A1", "red"): (2, 2, 1, 1),
        ("A2", "green"): (10, 1, 0, 1), ("A2", "red"): (1, 1, 0, 1),
    }  # fmt: skip  (yellow rate 0; T2 and the week before are not this rule's)
    assert all(b["period_start"] == WEEK[0] for b in run["buckets"])
    a1_green = [f"g-A1-{i:02d}" for i in range(20)]
    a2_green = [f"g-A2-{i:02d}" for i in range(10)]
    expected = _expected_picks(rule["id"], a1_green, 0.1) | _expected_picks(rule["id"], a2_green, 0.1)
    expected |= {"r-A1-01", "r-A2-00"}
    assert {a["interaction_id"] for a in run["assigned"]} == expected
    assert all(a["source"] == "sampling" and a["rule_id"] == rule["id"] for a in run["assigned"])
    # Spread by least open load: 5 new ones, 3 and 2.
    per = sorted(sum(a["assignee"] == who for a in run["assigned"]) for who in ("qa1", "qa2"))
    assert per == [2, 3]
    # Deterministic and idempotent: the same run again assigns nothing.
    again = _run(env, "sup1", rule["id"], *WEEK)
    assert again["assigned"] == [] and all(b["assigned"] == 0 for b in again["buckets"])
    # The specialists' queues show the sampled ones, green included.
    mine = {i["interaction_id"] for w in ("qa1", "qa2") for i in _queue(env, w, assignee="me")}
    assert mine == expected
    [entry, _] = _audit(env, "sampling_rule.run")
    assert entry.actor == "sup1" and entry.detail["assigned"] == 5


def test_a_nightly_run_tops_up_the_week_as_it_fills(env):
    rule = _rule(env, "admin", team_id=None, rates={"green": 0.25}, assignees=["qa1"])
    monday = _run(env, "admin", rule["id"], "2026-11-16", "2026-11-16")
    # Monday alone: A1 has 3 green (ids 00, 07, 14), A2 2, A3 1: each rounded up to 1.
    assert {(b["agent_id"], b["candidates"], b["assigned"]) for b in monday["buckets"]} == {
        ("A1", 3, 1), ("A2", 2, 1), ("A3", 1, 1)}  # fmt: skip
    week = _run(env, "admin", rule["id"], "2026-11-17", "2026-11-22")  # the rest of the week, its whole week counted
    assert {(b["agent_id"], b["candidates"], b["target"], b["covered"], b["assigned"]) for b in week["buckets"]} == {
        ("A1", 20, 5, 1, 4), ("A2", 10, 3, 1, 2), ("A3", 4, 1, 1, 0)}  # fmt: skip
    assert _run(env, "admin", rule["id"], *WEEK)["assigned"] == []


def test_sampling_rules_belong_to_their_teams_and_refuse_bad_input(env):
    client, headers, *_ = env
    _rule(env, "sup1", status=403, team_id="T2")
    _rule(env, "sup1", status=403, team_id=None)  # every team: admins only
    _rule(env, "admin", status=422, team_id="T9")
    for people, why in ((["ghost"], "no user 'ghost'"), (["agent1"], "not a qa_specialist"), ([], "assignees")):
        r = client.post("/v1/sampling-rules", headers=headers["admin"],
                        json={"name": "x", "team_id": "T1", "rates": {"red": 1}, "assignees": people})  # fmt: skip
        assert r.status_code == 422 and why in r.text, r.text
    for rates in ({"green": 1.5}, {"green": "0.1"}, {"blue": 0.1}, {}):
        r = client.post("/v1/sampling-rules", headers=headers["admin"],
                        json={"name": "x", "team_id": "T1", "rates": rates, "assignees": ["qa1"]})  # fmt: skip
        assert r.status_code == 422, (rates, r.text)
    assert client.post("/v1/sampling-rules", headers=headers["qa1"],
                       json={"name": "x", "rates": {"red": 1}, "assignees": ["qa1"]}).status_code == 403  # fmt: skip
    t1 = _rule(env, "sup1")
    t2 = _rule(env, "sup2", team_id="T2")
    every = _rule(env, "admin", team_id=None)
    listed = lambda user: [r["id"] for r in client.get("/v1/sampling-rules", headers=headers[user]).json()]  # noqa: E731
    assert listed("sup1") == [t1["id"]] and listed("sup2") == [t2["id"]]
    assert listed("admin") == [t1["id"], t2["id"], every["id"]]
    for rule_id in (t2["id"], every["id"], 999_999):  # others' rules are not found
        assert client.get(f"/v1/sampling-rules/{rule_id}", headers=headers["sup1"]).status_code == 404
        _run(env, "sup1", rule_id, *WEEK, status=404)
        assert client.delete(f"/v1/sampling-rules/{rule_id}", headers=headers["sup1"]).status_code == 404
    assert "end is before start" in _run(env, "sup1", t1["id"], "2026-11-22", "2026-11-16", status=422)["detail"]
    assert "366 days" in _run(env, "sup1", t1["id"], "2025-01-01", "2026-11-16", status=422)["detail"]
    with env[2].session() as session:
        for user in session.scalars(select(ApiUser).where(ApiUser.username.in_(["qa1", "qa2"]))):
            user.is_active = False
    assert "no active qa_specialist" in _run(env, "sup1", t1["id"], *WEEK, status=422)["detail"]
    # Changing a rule: checked as when added; another team's rule is not found, nor moved to another team.
    with env[2].session() as session:
        for user in session.scalars(select(ApiUser).where(ApiUser.username.in_(["qa1", "qa2"]))):
            user.is_active = True
    change = {"name": "暂停", "team_id": "T1", "rates": {"yellow": 0.5}, "period": "day", "assignees": ["qa3"],
              "active": False}  # fmt: skip
    r = client.put(f"/v1/sampling-rules/{t1['id']}", headers=headers["sup1"], json=change)
    assert r.status_code == 200, r.text
    assert (r.json()["rates"], r.json()["period"], r.json()["assignees"], r.json()["active"]) == (
        {"green": 0, "yellow": 0.5, "red": 0}, "day", ["qa3"], False)  # fmt: skip
    assert client.get(f"/v1/sampling-rules/{t1['id']}", headers=headers["sup1"]).json() == r.json()
    [update] = _audit(env, "sampling_rule.update")
    assert update.detail["before"]["assignees"] == ["qa1", "qa2"] and update.detail["after"]["active"] is False
    assert client.put(f"/v1/sampling-rules/{t1['id']}", headers=headers["sup1"],
                      json={**change, "team_id": "T2"}).status_code == 403  # fmt: skip
    assert client.put(f"/v1/sampling-rules/{t2['id']}", headers=headers["sup1"], json=change).status_code == 404
    r = client.put(f"/v1/sampling-rules/{t1['id']}", headers=headers["sup1"], json={**change, "assignees": ["agent1"]})
    assert r.status_code == 422 and client.get(f"/v1/sampling-rules/{t1['id']}", headers=headers["sup1"]).json()[
        "assignees"] == ["qa3"]  # fmt: skip
    assert client.delete(f"/v1/sampling-rules/{t1['id']}", headers=headers["sup1"]).status_code == 204
    assert [a.object_id for a in _audit(env, "sampling_rule.delete")] == [str(t1["id"])]


def test_the_nightly_cli_runs_every_active_rule_and_prints_what_it_assigned(env):
    client, headers, db, url = env
    rule = _rule(env, "sup2", team_id="T2", rates={"red": 1.0}, assignees=["qa2"])
    _rule(env, "sup1", active=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["sample", "--since", WEEK[0], "--until", WEEK[1], "--url", url])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == f"rule {rule['id']} (周抽检, T2) {WEEK[0]}..{WEEK[1]}: 3 assigned"
    assert sorted(lines[1:]) == [f"  r-A3-{i:02d} -> qa2 (red, agent A3, week of {WEEK[0]})" for i in range(3)]
    again = runner.invoke(cli, ["sample", "--since", WEEK[0], "--until", WEEK[1], "--url", url])
    assert again.exit_code == 0 and again.output.strip().splitlines() == [lines[0].replace(": 3", ": 0")]
    bad = runner.invoke(cli, ["sample", "--since", "2026-11-22", "--until", "2026-11-16", "--url", url])
    assert bad.exit_code == 2 and "end is before start" in bad.output
    assert runner.invoke(cli, ["sample", "--since", "someday", "--url", url]).exit_code == 2
    assert _audit(env, "sampling_rule.run")[0].actor == "qa-engine sample"
    # A rule that cannot run (no active specialist) is reported, the others still run: exit 1.
    broken = _rule(env, "admin", team_id="T1", rates={"red": 1.0}, assignees=["qa3"])
    with db.session() as session:
        session.scalar(select(ApiUser).where(ApiUser.username == "qa3")).is_active = False
    result = runner.invoke(cli, ["sample", "--since", WEEK[0], "--until", WEEK[1], "--url", url])
    assert result.exit_code == 1
    assert f"rule {broken['id']} (周抽检): sampling rule {broken['id']} has no active qa_specialist" in result.output
    assert f"rule {rule['id']} (周抽检, T2)" in result.output


def test_the_cli_on_a_database_without_the_tables_says_so_in_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["sample", "--url", f"sqlite:///{tmp_path / 'empty.db'}"])
    assert result.exit_code == 1 and "no such table" in result.output and "Traceback" not in result.output
