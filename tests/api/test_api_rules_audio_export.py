"""Issue 5's later points through the real app on SQLite and PostgreSQL: KPI files (CSV, XLSX), agent
warnings, rule pack / scorecard versions and rescoring, audio upload jobs (real faster-whisper), and
the roles of every one of these endpoints."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from datetime import date

import pytest
from conftest import SHARED
from conftest_db import GREEN, RED, YELLOW
from openpyxl import load_workbook
from sqlalchemy import func, select
from test_api import AGENT_TEAMS, Env, app_config, chat, clean, env, ingest  # noqa: F401 - fixtures used by name

from api.config import ApiConfig
from qa_engine.store import kpi
from qa_engine.store.models import AuditLog, IngestJob, ResultRow, RuleVersion

CALLS = SHARED / "audio" / "calls"


def _csv_tables(body: bytes) -> dict[str, list[list[str]]]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")  # BOM: Excel opens the Chinese labels correctly
    tables: dict[str, list[list[str]]] = {}
    name = None
    for row in csv.reader(io.StringIO(text[1:])):
        if len(row) == 1 and row[0].startswith("[") and row[0].endswith("]"):
            name = row[0][1:-1]
            tables[name] = []
        elif row:
            tables[name].append(row)
    return tables


def _kv(rows: list[list]) -> dict:
    return {r[0]: r[1] for r in rows[1:]}


# --- warnings ------------------------------------------------------------------------------------


def test_warning_rule():
    rule = kpi.WarningRule(days=3, red_below=60, yellow_below=80)
    d = [date(2026, 11, n) for n in range(1, 8)]
    days = lambda *pairs: [kpi.Day(day, avg) for day, avg in pairs]  # noqa: E731
    assert kpi.warning(days((d[0], 50), (d[1], 40), (d[2], 90), (d[3], 50)), rule)["level"] == "green"
    red = kpi.warning(days((d[0], 90), (d[1], 50), (d[2], 59.9), (d[3], 10), (d[4], 95)), rule)
    assert red["level"] == "red" and red["days"] == d[1:4] and "below 60" in red["reason"]
    yellow = kpi.warning(days((d[0], 70), (d[1], 50), (d[2], 79.9)), rule)
    assert yellow["level"] == "yellow" and yellow["days"] == d[0:3]
    latest = kpi.warning(days(*[(x, 10) for x in d[:3]], (d[3], 100), *[(x, 20) for x in d[4:7]]), rule)
    assert latest["days"] == d[4:7]  # the most recent run
    assert kpi.warning(days((d[0], 10), (d[1], 10)), kpi.WarningRule(days=2))["level"] == "red"
    assert kpi.warning([], rule) == {"level": "green", "kind": None, "below": None, "reason": None, "days": []}
    # a critical (一票否决) violation is red whatever the averages
    critical = kpi.warning([kpi.Day(d[0], 95), kpi.Day(d[1], 90, critical=2)], rule)
    assert (critical["level"], critical["kind"], critical["days"]) == ("red", "critical", [d[1]])
    assert critical["reason"] == "2 critical (一票否决) violations"


def test_warning_thresholds_come_from_settings():
    from conftest_db import DbSettings

    config = ApiConfig.from_settings(DbSettings(warning_days=5, warning_red_below=50, warning_yellow_below=70))
    assert config.warning_rule == kpi.WarningRule(days=5, red_below=50, yellow_below=70)


def _seed_warnings(env: Env) -> None:
    for n, day in enumerate(("2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20")):
        ingest(env, chat(f"w1-{n}", RED if n else GREEN, "A1", day))  # A1: red on 3 days in a row
        ingest(env, chat(f"w2-{n}a", RED, "A2", day, hour=9))  # A2: one red and one green a day,
        ingest(env, chat(f"w2-{n}b", GREEN, "A2", day, hour=15))  # a yellow daily average
    ingest(env, chat("w3-0", RED, "A3", "2026-11-18"))  # A3 (T2): red, but one day only


def test_agent_and_team_warnings(env, app_config):
    _seed_warnings(env)
    app_config(rank_min_interactions=4)  # A1 has 4, A2 8
    red_score = env.get("/v1/interactions/w1-1", "admin").json()["result"]["score"]
    green_score = env.get("/v1/interactions/w1-0", "admin").json()["result"]["score"]
    assert red_score < 60 <= (red_score + green_score) / 2 < 80  # what the levels below rely on
    a1 = env.get("/v1/agents/A1/summary?start=2026-11-17&end=2026-11-20", "sup1").json()
    assert a1["warning"]["level"] == "red"
    assert a1["warning"]["days"] == ["2026-11-18", "2026-11-19", "2026-11-20"]
    assert (a1["rank"], a1["team_agents"]) == (2, 2)  # A2's average beats A1's
    a2 = env.get("/v1/agents/A2/summary?start=2026-11-17&end=2026-11-20", "agent2").json()
    assert a2["warning"]["level"] == "yellow" and len(a2["warning"]["days"]) == 4 and a2["rank"] == 1
    # Two low days in the range are not enough.
    short = env.get("/v1/agents/A1/summary?start=2026-11-19&end=2026-11-20", "admin").json()
    assert short["warning"] == {"level": "green", "kind": None, "below": None, "reason": None, "days": []}
    assert env.get("/v1/agents/A3/summary", "sup2").json()["warning"]["level"] == "green"
    team = env.get("/v1/teams/T1/summary?start=2026-11-17&end=2026-11-20", "sup1").json()
    assert [(w["agent_id"], w["level"]) for w in team["warnings"]] == [("A1", "red"), ("A2", "yellow")]
    rows = {a["agent_id"]: a for a in team["agents"]}
    assert rows["A1"]["warning"]["level"] == "red" and rows["A1"]["rank"] == 2 and rows["A2"]["rank"] == 1
    assert env.get("/v1/teams/T2/summary", "admin").json()["warnings"] == []


# --- exports -------------------------------------------------------------------------------------


def test_agent_export_csv_and_xlsx_match_the_json(env):
    _seed_warnings(env)
    query = "start=2026-11-17&end=2026-11-20"
    s = env.get(f"/v1/agents/A1/summary?{query}", "sup1").json()
    r = env.get(f"/v1/agents/A1/summary/export?{query}", "sup1")  # csv by default
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="agent-A1-summary-2026-11-17_2026-11-20.csv"'
    tables = _csv_tables(r.content)
    assert list(tables) == ["summary", "daily"]
    head = _kv(tables["summary"])
    assert int(head["interactions"]) == s["interactions"] == 4
    assert float(head["average score"]) == s["average_score"]
    assert float(head["礼貌用语使用率 politeness rate"]) == s["politeness_rate"]
    assert head["warning"] == "red" and int(head["red"]) == s["flags"]["red"]
    assert head["rank in team"] == "" and head["rank note"] == s["rank_note"]  # 4 interactions: not ranked
    assert "QA_RANK_MIN_INTERACTIONS" in s["rank_note"] and int(head["ranking needs interactions"]) == 10
    assert [row[0] for row in tables["daily"][1:]] == [d["date"] for d in s["daily"]]
    assert [float(row[2]) for row in tables["daily"][1:]] == [d["average_score"] for d in s["daily"]]

    x = env.get(f"/v1/agents/A1/summary/export?format=xlsx&{query}", "agent1")
    assert x.status_code == 200
    assert x.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert x.headers["content-disposition"].endswith('filename="agent-A1-summary-2026-11-17_2026-11-20.xlsx"')
    book = load_workbook(io.BytesIO(x.content))
    assert book.sheetnames == ["summary", "daily"]
    values = {row[0]: row[1] for row in book["summary"].iter_rows(min_row=2, values_only=True)}
    assert values["interactions"] == 4 and values["average score"] == s["average_score"]
    assert values["pass rate"] == s["pass_rate"] and values["warning"] == "red"
    daily = list(book["daily"].iter_rows(min_row=2, values_only=True))
    assert [(d, n) for d, n, *_ in daily] == [(d["date"], d["interactions"]) for d in s["daily"]]


def test_team_export_and_bad_requests(env):
    _seed_warnings(env)
    s = env.get("/v1/teams/T1/summary", "qa").json()
    r = env.get("/v1/teams/T1/summary/export?format=xlsx", "qa")
    assert r.headers["content-disposition"] == 'attachment; filename="team-T1-summary-all_all.xlsx"'
    book = load_workbook(io.BytesIO(r.content))
    assert book.sheetnames == ["summary", "daily", "agents", "warnings"]
    agents = {row[0]: row for row in book["agents"].iter_rows(min_row=2, values_only=True)}
    assert {a: row[2] for a, row in agents.items()} == {a["agent_id"]: a["interactions"] for a in s["agents"]}
    warnings = list(book["warnings"].iter_rows(min_row=2, values_only=True))
    assert [(w[0], w[1]) for w in warnings] == [("A1", "red"), ("A2", "yellow")]
    tables = _csv_tables(env.get("/v1/teams/T1/summary/export", "qa").content)
    assert [row[0] for row in tables["agents"][1:]] == ["A1", "A2"]
    assert env.get("/v1/teams/T1/summary/export?format=pdf", "qa").status_code == 422
    assert env.get("/v1/teams/NOPE/summary/export", "admin").status_code == 404
    assert env.get("/v1/agents/A1/summary/export?start=2026-11-20&end=2026-11-01", "admin").status_code == 422


# --- rules ---------------------------------------------------------------------------------------


def _builtin(env: Env, kind: str, name: str) -> str:
    r = env.get(f"/v1/rules/{kind}/{name}", "qa")
    assert r.status_code == 200 and r.json()["version"] is None
    return r.json()["content"]


def test_list_and_read_rules(env):
    packs = {p["name"]: p for p in env.get("/v1/rules/packs", "sup1").json()}
    assert {"politeness", "forbidden", "empathy", "script"} <= set(packs)
    assert packs["forbidden"]["enabled"] and packs["forbidden"]["builtin"]["declared_version"]
    assert packs["forbidden"]["versions"] == []
    cards = {c["name"]: c for c in env.get("/v1/rules/scorecards", "qa").json()}
    assert set(cards) == {"call", "chat"}
    content = _builtin(env, "scorecards", "chat")
    assert "channel: chat" in content
    assert env.get("/v1/rules/packs/no_such_pack", "qa").status_code == 404
    assert env.get("/v1/rules/packs/forbidden?version=1", "qa").status_code == 404
    assert env.get("/v1/rules/packs/..%2Fsecrets", "qa").status_code in (404, 422)
    assert env.get("/v1/rules/other", "qa").status_code == 404  # only packs and scorecards are kinds


@pytest.mark.parametrize(
    ("kind", "name", "content", "message"),
    [
        ("packs", "forbidden", "rules: [unclosed", "invalid YAML"),
        ("packs", "forbidden", "pack: forbidden\nrules:\n  - {id: forbidden.x, dimension: forbidden_words, operator: nope}\n", "unknown operator"),
        ("packs", "forbidden", "pack: forbidden\nrules:\n  - {id: politeness.greeting, dimension: politeness, operator: keyword, words: [您好]}\n", "duplicate rule id"),
        ("packs", "forbidden", "pack: other\nrules: []\n", "declares pack"),
        ("scorecards", "chat", "name: x\nchannel: call\ndimensions: {}\n", "scorecard"),
        ("scorecards", "chat", "name: x\nchannel: chat\ndimensions: {politeness: {weight: 1}}\n", "lacks dimensions"),
        ("scorecards", "fax", "name: x\nchannel: chat\n", "per channel"),
    ],
)
def test_upload_rejects_invalid_versions(env, kind, name, content, message):
    r = env.post(f"/v1/rules/{kind}/{name}", "qa", json={"content": content})
    assert r.status_code == 422 and message in r.json()["detail"], r.text
    with env.db.session() as session:
        assert session.scalar(select(func.count()).select_from(RuleVersion)) == 0


def test_upload_versions_and_rescore_with_diff(env):
    ingest(env, chat("s-green", GREEN, "A1", "2026-11-20"))
    ingest(env, chat("s-yellow", YELLOW, "A1", "2026-11-20"))
    ingest(env, chat("s-red", RED, "A2", "2026-11-21"))
    ingest(env, chat("s-out", YELLOW, "A1", "2026-11-25"))  # outside the range
    before = {i: env.get(f"/v1/interactions/{i}", "admin").json()["result"] for i in ("s-green", "s-yellow", "s-red")}

    card = _builtin(env, "scorecards", "chat")
    lenient = card.replace("forbidden.deflect: {deduct: 40}", "forbidden.deflect: {deduct: 0}")
    lenient = lenient.replace("forbidden.deflect_pattern: {deduct: 40}", "forbidden.deflect_pattern: {deduct: 0}")
    assert lenient != card
    v1 = env.post("/v1/rules/scorecards/chat", "qa", json={"content": lenient, "comment": "推诿不扣分"})
    assert v1.status_code == 201 and v1.json()["version"] == 1 and v1.json()["uploaded_by"] == "qa"
    v2 = env.post("/v1/rules/scorecards/chat", "admin", json={"content": card})
    assert v2.json()["version"] == 2
    assert env.get("/v1/rules/scorecards/chat?version=1", "sup1").json()["content"] == lenient
    listed = {c["name"]: c for c in env.get("/v1/rules/scorecards", "qa").json()}
    assert [v["version"] for v in listed["chat"]["versions"]] == [1, 2]
    pack = env.post("/v1/rules/packs/forbidden", "qa", json={"content": _builtin(env, "packs", "forbidden")})
    assert pack.status_code == 201 and pack.json()["version"] == 1

    body = {"start": "2026-11-20", "end": "2026-11-21", "scorecards": {"chat": 1}, "packs": {"forbidden": 1}}
    dry = env.post("/v1/rules/rescore", "qa", json={**body, "dry_run": True})
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["dry_run"] and [i["interaction_id"] for i in report["items"]] == ["s-green", "s-red", "s-yellow"]
    items = {i["interaction_id"]: i for i in report["items"]}
    for iid, old in before.items():
        assert (items[iid]["old_score"], items[iid]["old_flag"], items[iid]["old_result_id"]) == (
            old["score"], old["flag"], old["id"],
        )  # fmt: skip
        assert items[iid]["new_result_id"] is None
        assert items[iid]["delta"] == round(items[iid]["new_score"] - old["score"], 1)
    assert items["s-green"]["delta"] == 0
    assert items["s-yellow"]["delta"] > 0 and items["s-red"]["delta"] > 0  # deflection no longer costs points
    summary = report["summary"]
    assert (summary["interactions"], summary["improved"], summary["worsened"], summary["unchanged"]) == (3, 2, 0, 1)
    assert summary["old_flags"] == dict(Counter(old["flag"] for old in before.values()))
    assert sum(summary["flag_transitions"].values()) == summary["flag_changed"]
    assert env.get("/v1/interactions/s-yellow", "admin").json()["result"]["id"] == before["s-yellow"]["id"]

    done = env.post("/v1/rules/rescore", "qa", json=body).json()
    assert not done["dry_run"] and done["summary"] == summary and done["rule_versions"]["scorecards"] == {"chat": 1}
    detail = env.get("/v1/interactions/s-yellow", "admin").json()
    new = items["s-yellow"]
    assert detail["result"]["score"] == new["new_score"] and detail["result"]["flag"] == new["new_flag"]
    assert detail["result"]["versions"]["rule_versions"] == {"packs": {"forbidden": 1}, "scorecards": {"chat": 1}}
    assert [h["current"] for h in detail["history"]] == [False, True]  # the automatic run is kept
    assert detail["history"][0]["id"] == before["s-yellow"]["id"]
    assert len(env.get("/v1/interactions/s-out", "admin").json()["history"]) == 1
    # The same content again is recognised as stored and answers with the current (rescored) run.
    again = env.post("/v1/interactions", "ingest", json=chat("s-yellow", YELLOW, "A1", "2026-11-20"))
    assert again.status_code == 200 and again.json()["result"]["id"] == detail["result"]["id"]
    agent = env.post("/v1/rules/rescore", "admin", json={**body, "agent_id": "A2", "dry_run": True}).json()
    assert [i["interaction_id"] for i in agent["items"]] == ["s-red"]
    assert env.post("/v1/rules/rescore", "admin", json={**body, "team_id": "T2", "dry_run": True}).json()["items"] == []
    with env.db.session() as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "rules.rescore")).one()
        assert audit.actor == "qa" and audit.detail["summary"]["interactions"] == 3
        assert session.scalar(select(func.count()).select_from(ResultRow)) == 4 + 3


def test_rescore_bad_requests(env):
    ingest(env, chat("b-1", GREEN))
    assert env.post("/v1/rules/rescore", "qa", json={"start": "2026-11-20", "end": "2026-11-01"}).status_code == 422
    missing = env.post("/v1/rules/rescore", "qa", json={"start": "2026-11-20", "end": "2026-11-20", "packs": {"forbidden": 7}})
    assert missing.status_code == 422 and "no version 7" in missing.json()["detail"]
    # A pack without a rule the built-in scorecards use does not load with them.
    slim = env.post("/v1/rules/packs/politeness", "qa", json={"content": "pack: politeness\nrules: []\n"})
    assert slim.status_code == 201
    clash = env.post(
        "/v1/rules/rescore", "qa", json={"start": "2026-11-20", "end": "2026-11-20", "packs": {"politeness": 1}}
    )
    assert clash.status_code == 422 and "unknown rules" in clash.json()["detail"]
    empty = env.post("/v1/rules/rescore", "qa", json={"start": "2030-01-01", "end": "2030-01-02"}).json()
    assert empty["summary"]["interactions"] == 0 and empty["items"] == []


# --- audio upload ----------------------------------------------------------------------------------


def _wait(env: Env, job_id: str, who: str = "ingest", timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = env.get(f"/v1/jobs/{job_id}", who).json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def test_audio_upload_of_a_bad_file_fails_its_job(env):
    files = {"file": ("note.wav", b"this is not audio at all", "audio/wav")}
    r = env.post("/v1/interactions/audio", "ingest", data={"interaction_id": "bad-audio"}, files=files)
    assert r.status_code == 202, r.text
    job = _wait(env, r.json()["job_id"], timeout=60)
    assert job["status"] == "failed" and job["error"] and job["result_id"] is None
    assert env.get("/v1/interactions/bad-audio", "admin").status_code == 404
    empty = env.post(
        "/v1/interactions/audio", "ingest", data={"interaction_id": "e"}, files={"file": ("e.wav", b"", "audio/wav")}
    )
    assert empty.status_code == 422
    bad_meta = env.post(
        "/v1/interactions/audio", "ingest", data={"interaction_id": "m", "metadata": "[1]"}, files=files
    )
    assert bad_meta.status_code == 422 and "metadata" in bad_meta.json()["detail"]
    assert env.post("/v1/interactions/audio", "ingest", data={}, files=files).status_code == 422
    assert env.get("/v1/jobs/nope", "ingest").status_code == 404


def test_an_audio_job_runs_only_under_its_own_claim(env, tmp_path):
    """With `--workers N` every process resumes the same queued audio jobs: a job another worker has
    claimed is left alone, and a worker whose claim was taken over stores nothing."""
    from qa_engine.store import queue

    bad = tmp_path / "not-audio.wav"
    bad.write_bytes(b"not audio")
    with env.db.session() as session:
        session.add(IngestJob(id="claim-job", kind="audio", interaction_id="claim-1", status="queued",
                              content_hash="x", audio_file=str(bad), fields={}, created_by="ingest"))  # fmt: skip
    with env.db.session() as session:
        other = queue.claim_job(session, "claim-job")  # another worker got there first
    assert other is not None
    jobs = env.client.app.state.jobs
    jobs.run("claim-job")  # this worker: not queued any more, so nothing happens
    with env.db.session() as session:
        job = session.get(IngestJob, "claim-job")
        assert (job.status, job.claimed_by, job.error) == ("running", other, None)
        assert queue.claim_job(session, "claim-job") is None
    assert jobs.resume() >= 1  # a restart takes the running job over and runs it: a bad file fails it
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with env.db.session() as session:
            job = session.get(IngestJob, "claim-job")
            if job.status != "running" and job.status != "queued":
                break
        time.sleep(0.2)
    assert job.status == "failed" and "not a readable audio file" in job.error and job.claimed_by != other
    with env.db.session() as session:  # the first worker's claim is gone: it cannot finish the job
        assert not queue.take(session, "claim-job", other, status="done")


@pytest.mark.slow
def test_audio_upload_transcribes_scores_and_is_idempotent(env):
    wav = (CALLS / "call_bad.stereo.wav").read_bytes()
    data = {"interaction_id": "call-up-1", "agent_id": "A1", "team_id": "T1", "started_at": "2026-11-20T10:00:00+08:00",
            "metadata": '{"queue": "after-sales"}'}  # fmt: skip
    r = env.post("/v1/interactions/audio", "ingest", data=data, files={"file": ("call_bad.wav", wav, "audio/wav")})
    assert r.status_code == 202, r.text
    assert r.json()["status"] in ("queued", "running", "done")
    job = _wait(env, r.json()["job_id"])
    assert job["status"] == "done", job
    detail = env.get("/v1/interactions/call-up-1", "sup1").json()
    assert detail["channel"] == "call" and detail["agent_id"] == "A1" and detail["metadata"]["queue"] == "after-sales"
    assert detail["metadata"]["asr"]["mode"] == "stereo"
    assert {t["role"] for t in detail["turns"]} == {"agent", "customer"}
    assert all(t["start"] is not None for t in detail["turns"])
    assert detail["result"]["id"] == job["result_id"] and job["flag"] == detail["result"]["flag"]
    # call_bad's agent uses forbidden phrases (see its script): found in the transcript.
    assert any(h["dimension"] == "forbidden_words" for h in detail["result"]["hits"])
    assert job["score"] == detail["result"]["score"] < 80
    # The same recording again: the same job, nothing new stored.
    again = env.post("/v1/interactions/audio", "ingest", data=data, files={"file": ("x.wav", wav, "audio/wav")})
    assert again.status_code == 200 and again.json()["job_id"] == job["job_id"] and again.json()["status"] == "done"
    assert len(env.get("/v1/interactions/call-up-1", "admin").json()["history"]) == 1
    assert env.get(f"/v1/jobs/{job['job_id']}", "admin").json()["status"] == "done"
    with env.db.session() as session:
        # (the database may hold other tests' jobs: count this interaction's)
        assert session.scalar(select(func.count()).select_from(IngestJob).where(IngestJob.interaction_id == "call-up-1")) == 1
        assert session.get(IngestJob, job["job_id"]).fields == {}  # a finished job keeps no payload
        assert session.scalar(select(func.count()).where(
            AuditLog.action == "interaction.ingest_audio", AuditLog.object_id == "call-up-1")) == 1


# --- access --------------------------------------------------------------------------------------

ROLE_USERS = ("admin", "qa", "sup1", "agent1", "ingest")
READERS = {"admin", "qa", "sup1", "agent1"}
REVIEWERS = {"admin", "qa", "sup1"}


def test_new_endpoints_refuse_wrong_roles_and_anonymous(env):
    ingest(env, chat("m-1", RED))
    files = {"file": ("a.wav", b"not audio", "audio/wav")}
    job_id = env.post("/v1/interactions/audio", "ingest", data={"interaction_id": "m-audio"}, files=files).json()["job_id"]
    upload = {"content": "pack: politeness_extra\nrules: []\n"}
    rescore = {"start": "2026-11-20", "end": "2026-11-20", "dry_run": True}
    endpoints = [
        ("GET", "/v1/agents/A1/summary/export", {}, READERS),
        ("GET", "/v1/agents/A1/summary/export?format=xlsx", {}, READERS),
        ("GET", "/v1/teams/T1/summary/export", {}, REVIEWERS),
        ("GET", "/v1/rules/packs", {}, REVIEWERS),
        ("GET", "/v1/rules/scorecards/chat", {}, REVIEWERS),
        ("POST", "/v1/rules/packs/politeness_extra", {"json": upload}, {"admin", "qa"}),
        ("POST", "/v1/rules/rescore", {"json": rescore}, {"admin", "qa"}),
        ("POST", "/v1/interactions/audio", {"data": {"interaction_id": "m-a2"}, "files": files}, {"admin", "ingest"}),
        ("GET", f"/v1/jobs/{job_id}", {}, {"admin", "ingest"}),
    ]
    for method, path, kw, allowed in endpoints:
        anonymous = env.client.request(method, path, **kw)
        assert anonymous.status_code == 401, (method, path)
        for bad in ({"Authorization": "Bearer not-a-token"}, {"X-API-Key": "qak_wrong"}):
            assert env.client.request(method, path, headers=bad, **kw).status_code == 401, (method, path, bad)
        for who in ROLE_USERS:
            status = env.client.request(method, path, headers=env.as_(who), **kw).status_code
            if who in allowed:
                assert status not in (401, 403), (method, path, who, status)
            else:
                assert status == 403, (method, path, who, status)


def test_agents_and_supervisors_export_only_their_own(env):
    _seed_warnings(env)
    assert env.get("/v1/agents/A2/summary/export", "agent1").status_code == 403
    assert env.get("/v1/agents/A1/summary/export?format=xlsx", "agent2").status_code == 403
    assert env.get("/v1/agents/A3/summary/export", "sup1").status_code == 403
    assert env.get("/v1/teams/T2/summary/export", "sup1").status_code == 403
    assert env.get("/v1/teams/T1/summary/export", "agent1").status_code == 403
    own = _csv_tables(env.get("/v1/agents/A1/summary/export", "agent1").content)
    assert _kv(own["summary"])["agent"] == "A1" and int(_kv(own["summary"])["interactions"]) == 4
