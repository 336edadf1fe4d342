"""The review UI end to end: Playwright drives Debian's Chromium (headless) against the real app,
started with uvicorn on loopback over a SQLite database seeded through the API with interactions
the engine scores (JDDC chats, written chats, a real call transcribed by faster-whisper).

Screenshots of the queue, an interaction and the team dashboard go to docs/screenshots/. The
render time of a 30-minute, 400-turn call is measured and printed (not pass/fail).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import REPO, SHARED
from conftest_db import CRITICAL, GREEN, RED, YELLOW
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from qa_datasets.jddc import load_sessions
from qa_engine.store import accounts, migrate
from qa_engine.store.db import Database
from qa_engine.store.models import Agent, Team

CHROMIUM = "/usr/bin/chromium"
CALLS = SHARED / "audio" / "calls"
SCREENSHOTS = REPO / "docs" / "screenshots"
PASSWORD = "pass-word-for-tests"
USERS = {  # username -> (role, agent_id, team_ids)
    "qa": ("qa_specialist", None, ()),
    "sup1": ("supervisor", None, ("T1",)),
    "agent1": ("agent", "A1", ()),
    "ingest": ("ingest", None, ()),
}
AGENT_TEAMS = {"A1": "T1", "A2": "T1", "A2048": "T1", "A5": "T1", "A6": "T1", "A3": "T2", "A4": "T2"}
CALL_ID = "call-bad-0001"  # call_bad.stereo.wav, transcribed by the server
LONG_CALL_ID = "call-long-30min"
LOW_ASR = 0.6  # the engine's default QA_ASR_LOW_CONFIDENCE


@dataclass
class Server:
    url: str
    audio_dir: Path

    def token(self, user: str) -> dict[str, str]:
        r = httpx.post(f"{self.url}/v1/auth/token", data={"username": user, "password": PASSWORD})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def get(self, path: str, user: str = "qa", **params):
        r = httpx.get(f"{self.url}{path}", headers=self.token(user), params=params, timeout=30)
        r.raise_for_status()
        return r.json()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _long_call_audio(path: Path, seconds: int) -> None:
    """A 30-minute 8 kHz mono WAV made of the real test call repeated (the player needs a real file)."""
    with wave.open(str(CALLS / "call_good.mono.wav")) as src:
        rate, frames = src.getframerate(), np.frombuffer(src.readframes(src.getnframes()), dtype=np.int16)
    reps = seconds * rate // len(frames) + 1
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.tile(frames, reps)[: seconds * rate].tobytes())


def _long_call(n_turns: int = 400, seconds: float = 1800.0) -> dict:
    """400 turns over 30 minutes, texts from JDDC chats (with the forbidden phrases they contain)."""
    texts = [(t["role"], t["text"].strip()) for s in load_sessions()[:200] for t in s["turns"] if t["text"].strip()]
    step = seconds / n_turns
    turns = []
    for i in range(n_turns):
        role = "agent" if i % 2 == 0 else "customer"
        text = next(x for r, x in texts[i * 3 :] if r == role)[:120]
        if i % 37 == 10:
            text = "这个不归我管，" + text  # a few hits in place across the call
        turns.append({"role": role, "text": text, "start": round(i * step, 2), "end": round(i * step + step - 0.5, 2)})
    return {
        "interaction_id": LONG_CALL_ID,
        "channel": "call",
        "agent_id": "A2",
        "team_id": "T1",
        "started_at": "2026-11-19T15:00:00+08:00",
        "audio_path": "long.wav",
        "turns": turns,
    }


def _seed(url: str, key: str) -> None:
    headers = {"X-API-Key": key}
    items = []
    sessions = load_sessions()[:36]
    agents = ["A1", "A2", "A3", "A4"]
    for i, s in enumerate(sessions):
        agent = agents[i % 4]
        day = 10 + i % 10
        items.append({**s, "agent_id": agent, "team_id": AGENT_TEAMS[agent], "started_at": f"2026-11-{day}T{9 + i % 8:02d}:00:00+08:00"})
    written = [("red", RED, "A1"), ("critical", CRITICAL, "A3"), ("yellow", YELLOW, "A2"), ("green", GREEN, "A4"),
               ("red2", RED, "A2"), ("critical2", CRITICAL, "A1")]
    for i, (name, turns, agent) in enumerate(written):
        items.append({
            "interaction_id": f"chat-{name}", "channel": "chat", "agent_id": agent, "team_id": AGENT_TEAMS[agent],
            "started_at": f"2026-11-{12 + i}T11:00:00+08:00", "turns": [{"role": r, "text": t} for r, t in turns],
        })
    # Three consecutive working days (Mon 16 – Wed 18 Nov) low: A5 red, A6 yellow on the dashboard.
    for agent, turns in (("A5", RED), ("A6", YELLOW)):
        for day in (16, 17, 18):
            items.append({
                "interaction_id": f"chat-{agent}-{day}", "channel": "chat", "agent_id": agent, "team_id": "T1",
                "started_at": f"2026-11-{day}T14:00:00+08:00", "turns": [{"role": r, "text": t} for r, t in turns],
            })
    items.append({
        "interaction_id": CALL_ID, "channel": "call", "agent_id": "A2048", "team_id": "T1",
        "started_at": "2026-11-11T10:00:00+08:00", "audio_path": "call_bad.stereo.wav",
    })
    items.append(_long_call())
    with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
        for item in items:
            r = client.post("/v1/interactions", json=item)
            assert r.status_code == 201, (item["interaction_id"], r.text)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    tmp = tmp_path_factory.mktemp("web")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    audio_dir = tmp / "audio"
    audio_dir.mkdir()
    shutil.copy(CALLS / "call_bad.stereo.wav", audio_dir)
    _long_call_audio(audio_dir / "long.wav", 1800)
    url = f"sqlite:///{tmp / 'web.db'}"
    migrate.upgrade(url)
    db = Database(url)
    with db.session() as session:
        session.add_all([Team(id="T1", name="售后一组"), Team(id="T2", name="售后二组")])
        session.add_all([Agent(id=a, team_id=t) for a, t in AGENT_TEAMS.items()])
        session.flush()
        for name, (role, agent_id, teams) in USERS.items():
            user = accounts.create_user(
                session, name, role, password=None if role == "ingest" else PASSWORD, agent_id=agent_id, team_ids=teams
            )
            if role == "ingest":
                _, key = accounts.create_api_key(session, user, "seed")
    db.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "QA_DATABASE_URL": url,
        "QA_JWT_SECRET": "web-test-secret-" + "x" * 32,
        "QA_AUDIO_DIR": str(audio_dir),
        "OMP_NUM_THREADS": "2",
    }
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail(f"the app did not start; log: {(tmp / 'server.log').read_text()[-2000:]}")
        _seed(base, key)
        yield Server(base, audio_dir)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Browser:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    pg = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("request", lambda req: None if req.url.startswith("http://127.0.0.1:") else outside.append(req.url))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not outside, f"the pages asked for something the app does not serve: {outside}"


def login(page: Page, server: Server, user: str) -> None:
    page.goto(f"{server.url}/ui/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#whoami")).to_contain_text(user)


def rule_row(page: Page, rule_id: str) -> dict[str, int]:
    row = page.locator(f'#rules-table tr[data-rule="{rule_id}"]')
    return {c: int(row.locator(f'td[data-col="{c}"]').inner_text()) for c in ("hits", "reviewed", "confirmed", "dismissed")}


# --- tests ----------------------------------------------------------------------------------------


def fmt_sat(value: float | None) -> str:
    """As the UI shows a predicted satisfaction (dom.js fmtSat)."""
    return "–" if value is None else f"{'+' if value > 0 else ''}{value:.2f}"


def test_review_a_flagged_call(server: Server, page: Page):
    call = server.get(f"/v1/interactions/{CALL_ID}")
    assert call["result"]["flag"] == "red" and call["turns"], "the seeded call is transcribed and flagged"
    placed = [h for h in call["result"]["hits"] if h["severity"] != "info" and h["start"] is not None]
    assert len(placed) >= 2, call["result"]["hits"]
    # Dismiss the call's critical hit (its 一票否决 is lifted, so the reviewed score differs) and
    # confirm a hit of another rule.
    to_dismiss = next((h for h in placed if h["severity"] == "critical"), placed[0])
    to_confirm = next(h for h in placed if h["rule_id"] != to_dismiss["rule_id"])

    login(page, server, "qa")
    page.goto(f"{server.url}/ui/#/rules")
    page.wait_for_selector("#rules-table")
    before = {r: rule_row(page, r) for r in {to_dismiss["rule_id"], to_confirm["rule_id"]}}

    # The queue: red before yellow, oldest first within a flag, as the API orders it.
    page.goto(f"{server.url}/ui/#/queue")
    page.wait_for_selector("#queue-table")
    ids = page.locator("#queue-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    api_queue = server.get("/v1/review-queue", limit=50)
    assert ids == [it["interaction_id"] for it in api_queue["items"]]
    flags = page.locator("#queue-table tbody tr .flag").evaluate_all("els => els.map(e => e.dataset.flag)")
    assert flags == sorted(flags, key=lambda f: f != "red") and CALL_ID in ids
    page.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=False)

    # Keyboard: j moves down, k up, Enter opens the selected one.
    page.keyboard.press("j")
    page.keyboard.press("k")
    for _ in range(ids.index(CALL_ID)):
        page.keyboard.press("j")
    expect(page.locator("#queue-table tr.selected")).to_have_attribute("data-id", CALL_ID)
    page.keyboard.press("Enter")
    page.wait_for_selector("#transcript .turn")
    assert page.locator("#transcript .turn").count() == len(call["turns"])

    # Predicted customer satisfaction beside the scores; the customer turns that drove it marked.
    sat = call["result"]["satisfaction"]
    assert sat is not None and sat["source"].startswith("satisfaction_ridge@sha256:")
    expect(page.locator("#sat-predicted .big")).to_have_text(fmt_sat(sat["predicted"]))
    expect(page.locator("#sat-dissatisfied .big")).to_have_text(f"{100 * sat['dissatisfied']:.1f}%")
    assert page.locator(".turn.sat-evidence").evaluate_all("els => els.map(e => +e.dataset.index)") == sat["evidence"]

    # Every placed hit is highlighted in place: the marked characters are the hit's own text.
    for h in placed:
        mark = page.locator(f'#turn-{h["turn"]} mark.hit[data-hits~="{h["id"]}"]')
        assert "".join(mark.all_inner_texts()) == call["turns"][h["turn"]]["text"][h["start"] : h["end"]]
    low = [t["index"] for t in call["turns"] if t["asr_confidence"] is not None and t["asr_confidence"] < LOW_ASR]
    assert page.locator(".turn.low-asr").evaluate_all("els => els.map(e => +e.dataset.index)") == low

    # Audio: the call plays from the clicked turn, and that turn is highlighted as playing.
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1")
    duration = page.evaluate("() => document.querySelector('#player').duration")
    assert duration == pytest.approx(30.31, abs=0.05)
    turn = next(t for t in call["turns"] if t["start"] and t["start"] > 5)
    page.click(f'#turn-{turn["index"]} .turn-head')
    page.wait_for_function(
        "start => { const p = document.querySelector('#player'); return !p.paused && p.currentTime > start + 0.3; }",
        arg=turn["start"],
    )
    expect(page.locator(f'#turn-{turn["index"]}')).to_have_class(re.compile(r"\bplaying\b"))
    page.evaluate("() => document.querySelector('#player').pause()")

    # Dismiss one hit, confirm another; a manual score without a reason is refused, then given one.
    page.click(f'#hit-{to_dismiss["id"]} button[data-decision="dismiss"]')
    page.click(f'#hit-{to_confirm["id"]} button[data-decision="confirm"]')
    expect(page.locator(f'#turn-{to_dismiss["turn"]} mark.hit.dismissed[data-hits~="{to_dismiss["id"]}"]')).to_have_count(1)
    page.fill('#scores tr[data-dimension="empathy"] .ov-score', "70")
    page.click("#submit-review")
    expect(page.locator("#review-msg")).to_contain_text("理由")
    page.fill('#scores tr[data-dimension="empathy"] .ov-reason', "安抚不足但有致歉")
    page.click("#submit-review")
    expect(page.locator("#score-final .big")).not_to_have_text("–")
    after_call = server.get(f"/v1/interactions/{CALL_ID}")
    final = after_call["final"]
    assert final["dimensions"]["empathy"] == 70
    still_critical = {h["rule_id"] for h in placed if h["severity"] == "critical" and h["id"] != to_dismiss["id"]}
    if to_dismiss["severity"] == "critical" and not still_critical:
        assert final["score"] > call["result"]["score"] == 0
    assert page.locator("#score-final .big").inner_text() == f'{final["score"]:.1f}'
    assert page.locator("#score-auto .big").inner_text() == f'{call["result"]["score"]:.1f}'
    decisions = {h["id"]: h["decision"] for h in after_call["result"]["hits"]}
    assert decisions[to_dismiss["id"]] == "dismiss" and decisions[to_confirm["id"]] == "confirm"
    page.screenshot(path=str(SCREENSHOTS / "interaction.png"), full_page=False)

    # The queue leaves the reviewed call out (and shows it with its reviewed score when asked).
    page.goto(f"{server.url}/ui/#/queue")
    page.wait_for_selector("#queue-table")
    assert CALL_ID not in page.locator("#queue-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    page.goto(f"{server.url}/ui/#/queue?include_reviewed=true&team=T1&flag=red")
    row = page.locator(f'#queue-table tr[data-id="{CALL_ID}"]')
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(8)).to_contain_text(f'{final["score"]:.1f}')

    # Rule quality moves by exactly these decisions.
    page.goto(f"{server.url}/ui/#/rules")
    page.wait_for_selector("#rules-table")
    after = {r: rule_row(page, r) for r in before}
    expected = {r: dict(v) for r, v in before.items()}
    expected[to_dismiss["rule_id"]]["dismissed"] += 1
    expected[to_dismiss["rule_id"]]["reviewed"] += 1
    expected[to_confirm["rule_id"]]["confirmed"] += 1
    expected[to_confirm["rule_id"]]["reviewed"] += 1
    assert after == expected
    for rule_id, counts in after.items():
        cell = page.locator(f'#rules-table tr[data-rule="{rule_id}"] td[data-col="precision"]').inner_text()
        assert cell.strip() == f'{100 * counts["confirmed"] / counts["reviewed"]:.1f}%'
    page.screenshot(path=str(SCREENSHOTS / "rules.png"), full_page=False)


def queue_rows(page: Page, expected: list[str]) -> list[str]:
    """The queue's rows once they show `expected` (or what they show after 10 s). The previous
    filter's table stays in the page until the new answer is rendered, so reading the rows as soon
    as a table exists can read the old one, or none while it is replaced."""
    script = "() => [...document.querySelectorAll('#queue-table tbody tr')].map(r => r.dataset.id)"
    try:
        page.wait_for_function(f"ids => JSON.stringify(({script})()) === JSON.stringify(ids)", arg=expected,
                               timeout=10_000)
    except PlaywrightTimeout:
        pass  # the caller's assertion shows what is there instead
    return page.evaluate(script)


def test_queue_filters_and_language(server: Server, page: Page):
    login(page, server, "qa")
    page.goto(f"{server.url}/ui/#/queue")
    page.wait_for_selector("#queue-table")
    page.select_option("select[name=team]", "T2")
    page.select_option("select[name=flag]", "red")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**team=T2**")
    expected = [it["interaction_id"] for it in server.get("/v1/review-queue", team="T2", flag="red")["items"]]
    assert expected, "T2 has red interactions (chat-critical)"
    assert queue_rows(page, expected) == expected
    assert all(it["team_id"] == "T2" for it in server.get("/v1/review-queue", team="T2")["items"])
    page.goto(f"{server.url}/ui/#/queue?rule=forbidden.mock_insult")
    expected = [it["interaction_id"] for it in server.get("/v1/review-queue", rule="forbidden.mock_insult")["items"]]
    assert "chat-critical" in expected
    assert queue_rows(page, expected) == expected

    # Predicted dissatisfied only: the same interactions as the API's filter, each with its prediction.
    page.goto(f"{server.url}/ui/#/queue?dissatisfied=true&include_reviewed=true")
    items = server.get("/v1/review-queue", dissatisfied="true", include_reviewed="true")["items"]
    expected = [it["interaction_id"] for it in items]
    assert queue_rows(page, expected) == expected
    assert page.locator('input[name="dissatisfied"]').is_checked()
    shown = page.locator('#queue-table tbody td[data-col="satisfaction"]').all_inner_texts() if expected else []
    assert shown == [fmt_sat(it["satisfaction"]) for it in items]

    expect(page.locator("h1")).to_have_text("待复核")
    page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("To review")
    expect(page.locator("#nav")).to_contain_text("Rule quality")
    page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("待复核")


def test_team_dashboard_and_agent_page(server: Server, page: Page):
    login(page, server, "sup1")
    page.goto(f"{server.url}/ui/#/team/T1")
    page.wait_for_selector("#agents-table")
    summary = server.get("/v1/teams/T1/summary", "sup1")
    rows = page.locator("#agents-table tbody tr")
    shown = rows.evaluate_all("rs => rs.map(r => [r.dataset.agent, r.dataset.warning])")
    ranked = sorted(summary["agents"], key=lambda a: a["rank"])
    assert shown == [[a["agent_id"], (a["warning"] or {}).get("level", "green")] for a in ranked]
    assert dict(shown)["A5"] == "red" and dict(shown)["A6"] == "yellow"
    # predicted customer satisfaction: the team's KPI cards and each agent's figures
    assert summary["satisfaction_n"] == summary["interactions"]
    expect(page.locator('.kpi[data-kpi="averageSatisfaction"] .value')).to_have_text(fmt_sat(summary["average_satisfaction"]))
    expect(page.locator('.kpi[data-kpi="dissatisfiedShare"] .value')).to_have_text(f"{100 * summary['dissatisfied_share']:.1f}%")
    sats = page.locator('#agents-table tbody td[data-col="satisfaction"]').all_inner_texts()
    assert sats == [fmt_sat(a["average_satisfaction"]) for a in ranked]
    bands = server.get("/v1/teams/T1/score-distribution", "sup1")["bands"]
    assert sum(b["count"] for b in bands) == summary["interactions"]
    drawn = page.evaluate("() => Chart.getChart(document.querySelector('#dist-chart')).data.datasets[0].data")
    assert drawn == [b["count"] for b in bands]
    page.screenshot(path=str(SCREENSHOTS / "team.png"), full_page=True)

    # A supervisor's queue holds only their teams' interactions.
    page.goto(f"{server.url}/ui/#/queue?include_reviewed=true")
    page.wait_for_selector("#queue-table")
    teams = page.locator("#queue-table tbody tr td:nth-child(6)").all_inner_texts()
    assert teams and set(teams) == {"T1"}
    assert page.locator("select[name=team] option").all_inner_texts()[1:] == ["T1"]

    # A supervisor cannot open another team's dashboard.
    page.goto(f"{server.url}/ui/#/team/T2")
    expect(page.locator("#team-body .msg-error")).to_be_visible()

    page.goto(f"{server.url}/ui/#/agent/A1")
    page.wait_for_selector("#top-rules")
    top = server.get("/v1/agents/A1/top-rules", "sup1")
    assert top, "A1 has rule hits"
    assert page.locator("#top-rules tbody tr code").all_inner_texts() == [r["rule_id"] for r in top]
    agent_summary = server.get("/v1/agents/A1/summary", "sup1")
    expect(page.locator("#standing")).to_have_attribute("data-warning", agent_summary["warning"]["level"])
    trend = page.evaluate("() => Chart.getChart(document.querySelector('#trend-chart')).data.datasets[0].data")
    assert trend == [d["average_score"] for d in agent_summary["daily"]]
    page.screenshot(path=str(SCREENSHOTS / "agent.png"), full_page=True)


def test_agent_sees_only_their_own(server: Server, page: Page):
    login(page, server, "agent1")
    expect(page.locator("h1")).to_contain_text("A1")  # an agent lands on their own page
    expect(page.locator("#nav")).not_to_contain_text("复核队列")
    own = server.get("/v1/interactions", "agent1")["items"]
    assert own and all(it["agent_id"] == "A1" for it in own)
    page.goto(f"{server.url}/ui/#/i/{own[0]['interaction_id']}")
    page.wait_for_selector("#transcript .turn")
    expect(page.locator(".decide")).to_have_count(0)  # agents do not review
    expect(page.locator("#appeal-form")).to_be_visible()

    # The appeal thread: the agent appeals, a QA specialist accepts, the agent sees the answer.
    appealed = own[0]["interaction_id"]
    page.fill("#appeal-form input[name=reason]", "客户先骂人，我只是复述")
    page.click("#appeal-form button[type=submit]")
    expect(page.locator('#appeals .appeal[data-status="open"]')).to_contain_text("客户先骂人，我只是复述")
    expect(page.locator("#appeal-form")).to_have_count(0)  # one open appeal at a time

    page.goto(f"{server.url}/ui/#/i/{CALL_ID}")
    expect(page.locator("#ia-error")).to_contain_text("无权查看")
    expect(page.locator("#transcript")).to_have_count(0)
    page.goto(f"{server.url}/ui/#/agent/A2")
    expect(page.locator("#agent-body .msg-error")).to_be_visible()

    # The API behind it: not found for the agent; an audio link of another interaction does not play it.
    agent = server.token("agent1")
    assert httpx.get(f"{server.url}/v1/interactions/{CALL_ID}", headers=agent).status_code == 404
    assert httpx.get(f"{server.url}/v1/interactions/{CALL_ID}/audio-link", headers=agent).status_code == 404
    link = server.get(f"/v1/interactions/{LONG_CALL_ID}/audio-link")["url"]
    assert httpx.get(f"{server.url}{link}", headers={"Range": "bytes=0-99"}).status_code == 206
    stolen = link.replace(LONG_CALL_ID, CALL_ID, 1)
    assert httpx.get(f"{server.url}{stolen}").status_code == 401

    page.click("#logout")
    login(page, server, "qa")
    page.goto(f"{server.url}/ui/#/i/{appealed}")
    page.fill('#appeals .appeal[data-status="open"] .decision-reason', "核实属实")
    page.click('#appeals [data-appeal-decision="accepted"]')
    expect(page.locator('#appeals .appeal[data-status="accepted"]')).to_contain_text("核实属实")
    appeals = server.get(f"/v1/interactions/{appealed}", "agent1")["appeals"]
    assert [(a["status"], a["decided_by"], a["decision_reason"]) for a in appeals] == [("accepted", "qa", "核实属实")]


def test_long_call_render_time(server: Server, page: Page):
    """A 30-minute call with 400 turns: time from opening the page to usable (reported, not asserted)."""
    login(page, server, "qa")

    def open_times(interaction_id: str, turns: int) -> list[dict]:
        runs = []
        for _ in range(5):
            page.goto(f"{server.url}/ui/#/queue")
            page.wait_for_selector("#queue-table, #queue-empty")
            page.goto(f"{server.url}/ui/#/i/{interaction_id}")
            page.wait_for_function(f"() => window.qaTimings && window.qaTimings.turns === {turns}")
            runs.append(page.evaluate("() => window.qaTimings"))
            page.evaluate("() => { window.qaTimings = null; }")
        return runs

    short_turns = len(server.get(f"/v1/interactions/{CALL_ID}")["turns"])
    baseline = open_times(CALL_ID, short_turns)  # the 30-second call, same browser, same server
    runs = open_times(LONG_CALL_ID, 400)
    assert page.locator("#transcript .turn").count() == 400
    assert page.locator("#transcript mark.hit").count() >= 10
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1")
    assert page.evaluate("() => document.querySelector('#player').duration") == pytest.approx(1800, abs=1)
    keys = ("fetch_ms", "render_ms", "total_ms")
    med = {k: statistics.median(r[k] for r in runs) for k in keys}
    base = {k: statistics.median(r[k] for r in baseline) for k in keys}
    print(
        f"\n400-turn 30-min call, median of {len(runs)} loads: fetch {med['fetch_ms']:.0f} ms, "
        f"render {med['render_ms']:.0f} ms, open-to-usable {med['total_ms']:.0f} ms "
        f"(hits {runs[0]['hits']}; all totals: {[round(r['total_ms']) for r in runs]})\n"
        f"baseline {short_turns}-turn 30-s call: fetch {base['fetch_ms']:.0f} ms, render {base['render_ms']:.0f} ms, "
        f"open-to-usable {base['total_ms']:.0f} ms; ratio long/short open-to-usable {med['total_ms'] / base['total_ms']:.1f}x"
    )
