"""The review UI end to end: Playwright drives Debian's Chromium (headless) against the real app,
started with uvicorn on loopback over a SQLite database seeded through the API with interactions
the engine scores (JDDC chats, written chats, a real call transcribed by faster-whisper).

Screenshots of the queue, an interaction and the dashboards go to a temporary folder, or to
docs/screenshots/ (the README's) with `pytest tests/web/test_web.py --update-screenshots`. The
render time of a 30-minute, 400-turn call is measured and printed (not pass/fail).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import wave
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import openpyxl
import pytest
from conftest import REPO, SHARED, free_port, live_app
from conftest_db import CRITICAL, GREEN, RED, YELLOW
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import select

from qa_datasets.jddc import load_sessions
from qa_engine.store import accounts, migrate
from qa_engine.store.db import Database
from qa_engine.store.models import Agent, ResultRow, Team

CHROMIUM = "/usr/bin/chromium"
CALLS = SHARED / "audio" / "calls"
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
    database_url: str

    def token(self, user: str) -> dict[str, str]:
        r = httpx.post(f"{self.url}/v1/auth/token", data={"username": user, "password": PASSWORD})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def get(self, path: str, user: str = "qa", **params):
        r = httpx.get(f"{self.url}{path}", headers=self.token(user), params=params, timeout=30)
        r.raise_for_status()
        return r.json()


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
    env = {
        "QA_DATABASE_URL": url,
        "QA_JWT_SECRET": "web-test-secret-" + "x" * 32,
        "QA_AUDIO_DIR": str(audio_dir),
        "OMP_NUM_THREADS": "2",
    }
    with live_app(env, tmp / "server.log") as base:
        _seed(base, key)
        yield Server(base, audio_dir, url)


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


def rule_names(server: Server) -> dict[str, dict]:
    return {r["rule_id"]: r for r in server.get("/v1/rule-names")}


CJK = re.compile(r"[\u4e00-\u9fff]")


def rule_row(page: Page, rule_id: str) -> dict[str, int]:
    row = page.locator(f'#rules-table tr[data-rule="{rule_id}"]')
    return {c: int(row.locator(f'td[data-col="{c}"]').inner_text()) for c in ("hits", "reviewed", "confirmed", "dismissed")}


# --- tests ----------------------------------------------------------------------------------------


def fmt_sat(value: float | None) -> str:
    """As the UI shows a predicted satisfaction (dom.js fmtSat)."""
    return "–" if value is None else f"{'+' if value > 0 else ''}{value:.2f}"


def test_review_a_flagged_call(server: Server, page: Page, screenshots: Path):
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
    # Each row says why it is flagged: hit count, the top rules by name (not id), missing script steps.
    names = rule_names(server)
    item = next(it for it in api_queue["items"] if it["interaction_id"] == CALL_ID)
    why = page.locator(f'#queue-table tr[data-id="{CALL_ID}"] td.why')
    expect(why.locator(".why-count")).to_have_text(f'{item["findings"]} 条命中')
    assert why.locator(".rule-name").all_inner_texts() == [
        names[r["rule_id"]]["name_zh"] + (f' ×{r["hits"]}' if r["hits"] > 1 else "") for r in item["top_rules"]
    ]
    assert "forbidden." not in why.inner_text()
    for m in item["missing_steps"]:
        expect(why.locator(".why-missing")).to_contain_text(names[m["rule_id"]]["name_zh"])
    page.screenshot(path=str(screenshots / "queue.png"), full_page=False)

    # Keyboard: j moves down, k up, Enter opens the selected one.
    page.keyboard.press("j")
    page.keyboard.press("k")
    for _ in range(ids.index(CALL_ID)):
        page.keyboard.press("j")
    expect(page.locator("#queue-table tr.selected")).to_have_attribute("data-id", CALL_ID)
    page.keyboard.press("Enter")
    page.wait_for_selector("#transcript .turn")
    assert page.locator("#transcript .turn").count() == len(call["turns"])
    # No developer timing in the header; the hits come before the override table, on screen at once.
    assert not re.search(r"\d+ ms|渲染", page.locator(".ia-head").inner_text())
    hits_box, scores_box = page.locator("#hits").bounding_box(), page.locator("#scores").bounding_box()
    assert hits_box["y"] < scores_box["y"]
    expect(page.locator("#hits .hit-card").first).to_be_in_viewport()
    # Rules by name (also the rules a combined rule cites); missing required script steps are findings of their own.
    assert not re.search(r"[a-z_]+\.[a-z_]+@\d", page.locator("#hits").inner_text())
    card = page.locator(f'#hit-{to_dismiss["id"]}')
    expect(card.locator(".rule-name")).to_have_text(names[to_dismiss["rule_id"]]["name_zh"])
    expect(card.locator(".rule-name")).to_have_attribute("data-rule-id", to_dismiss["rule_id"])
    assert call["missing_steps"], "the bad call lacks required script steps"
    for m in call["missing_steps"]:
        expect(page.locator(f'#hits .missing-step[data-step="{m["step"]}"]')).to_contain_text(
            f'缺少话术环节：{names[m["rule_id"]]["name_zh"]}')
    # Hit to hit in transcript order: n / p and the buttons; the hit's turn is brought into view.
    findings = sorted((h for h in call["result"]["hits"] if h["severity"] != "info"),
                      key=lambda h: (h["turn"] if h["turn"] is not None else 1e9, h["start"] or 0))  # fmt: skip
    page.keyboard.press("n")
    expect(page.locator("#hit-pos")).to_have_text(f"1/{len(findings)}")
    expect(page.locator(f'#hit-{findings[0]["id"]}')).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("n")
    expect(page.locator(f'#hit-{findings[1]["id"]}')).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator(f'#turn-{findings[1]["turn"]}')).to_be_in_viewport()
    page.keyboard.press("p")
    expect(page.locator("#hit-pos")).to_have_text(f"1/{len(findings)}")
    page.click("#prev-hit")  # wraps to the last
    expect(page.locator("#hit-pos")).to_have_text(f"{len(findings)}/{len(findings)}")
    page.click("#next-hit")
    expect(page.locator(f'#hit-{findings[0]["id"]}')).to_have_class(re.compile(r"\bcurrent\b"))

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
    expect(page.locator("#reviewed-by")).to_contain_text("qa 复核于 ")
    assert page.locator("#score-auto .big").inner_text() == f'{call["result"]["score"]:.1f}'
    decisions = {h["id"]: h["decision"] for h in after_call["result"]["hits"]}
    assert decisions[to_dismiss["id"]] == "dismiss" and decisions[to_confirm["id"]] == "confirm"
    page.screenshot(path=str(screenshots / "interaction.png"), full_page=False)

    # The queue leaves the reviewed call out (and shows it with its reviewed score when asked).
    page.goto(f"{server.url}/ui/#/queue")
    page.wait_for_selector("#queue-table")
    assert CALL_ID not in page.locator("#queue-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    page.goto(f"{server.url}/ui/#/queue?include_reviewed=true&team=T1&flag=red")
    row = page.locator(f'#queue-table tr[data-id="{CALL_ID}"]')
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(8)).to_contain_text(f'{final["score"]:.1f}')
    expect(row.locator(".reviewed-by")).to_have_text(re.compile(r"^qa 复核于 \d{4}-\d{2}-\d{2} \d{2}:\d{2}$"))

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
    page.screenshot(path=str(screenshots / "rules.png"), full_page=False)


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
    # Predicted dissatisfied only: the same interactions as the API's filter, each with its prediction.
    page.goto(f"{server.url}/ui/#/queue?dissatisfied=true&include_reviewed=true")
    items = server.get("/v1/review-queue", dissatisfied="true", include_reviewed="true")["items"]
    expected = [it["interaction_id"] for it in items]
    assert queue_rows(page, expected) == expected
    assert page.locator('input[name="dissatisfied"]').is_checked()
    shown = page.locator('#queue-table tbody td[data-col="satisfaction"]').all_inner_texts() if expected else []
    assert shown == [fmt_sat(it["satisfaction"]) for it in items]

    page.goto(f"{server.url}/ui/#/queue?rule=forbidden.mock_insult")
    expected = [it["interaction_id"] for it in server.get("/v1/review-queue", rule="forbidden.mock_insult")["items"]]
    assert "chat-critical" in expected
    assert queue_rows(page, expected) == expected

    expect(page.locator("h1")).to_have_text("待复核")
    page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("To review")
    expect(page.locator("#nav")).to_contain_text("Rule quality")
    # English mode: no Chinese in the chrome, the role named, rule names and reasons in English.
    expect(page.locator("#whoami")).to_have_text("qa · QA specialist")
    assert not CJK.search(" ".join(page.locator("#brand, #nav, #whoami, #logout").all_inner_texts()))  # the switch says 中文
    assert not CJK.search(page.locator("#queue-table").inner_text()), page.locator("#queue-table").inner_text()
    expect(page.locator("#queue-table td.why .rule-name").first).to_have_text(re.compile(r"^[ -~×]+$"))
    page.goto(f"{server.url}/ui/#/i/chat-critical")
    page.wait_for_selector("#transcript .turn")
    chrome = page.locator("#hits .hits-head, #hits .hit-top, #hits .missing-step, #hits .decide").all_inner_texts()
    assert chrome and not CJK.search(" ".join(chrome)), chrome
    assert not CJK.search(page.locator("#scores thead").inner_text())
    page.click("#lang-switch")
    page.goto(f"{server.url}/ui/#/queue")
    expect(page.locator("h1")).to_have_text("待复核")


def test_back_keeps_filters_and_submit_and_next(server: Server, page: Page):
    """From a filtered queue: open an item, back keeps the filters; review it with "submit and
    next", which opens the next item of that queue; the reviewed one shows who reviewed it, when."""
    login(page, server, "qa")
    expected = [it["interaction_id"] for it in server.get("/v1/review-queue", team="T2")["items"]]
    assert len(expected) >= 2
    page.goto(f"{server.url}/ui/#/queue?team=T2")
    assert queue_rows(page, expected) == expected
    page.click(f'#queue-table tr[data-id="{expected[0]}"] a')
    page.wait_for_selector("#transcript .turn")
    page.click("#back")
    page.wait_for_url("**/queue?team=T2")
    assert queue_rows(page, expected) == expected
    expect(page.locator("select[name=team]")).to_have_value("T2")
    page.click(f'#queue-table tr[data-id="{expected[0]}"] a')
    first = page.locator("#hits .hit-card[data-hit]").first
    first.locator('button[data-decision="confirm"]').click()
    page.click("#submit-next")
    expect(page.locator("#ia-title")).to_have_text(expected[1])
    done = server.get(f"/v1/interactions/{expected[0]}")
    assert done["final"] and done["final"]["reviewer"] == "qa"
    page.goto(f"{server.url}/ui/#/queue?team=T2&include_reviewed=true")
    row = page.locator(f'#queue-table tr[data-id="{expected[0]}"]')
    expect(row.locator(".reviewed-by")).to_contain_text("qa 复核于")


def test_team_dashboard_and_agent_page(server: Server, page: Page, screenshots: Path):
    login(page, server, "sup1")
    page.goto(f"{server.url}/ui/#/team/T1")
    page.wait_for_selector("#agents-table")
    summary = server.get("/v1/teams/T1/summary", "sup1")
    rows = page.locator("#agents-table tbody tr")
    shown = rows.evaluate_all("rs => rs.map(r => [r.dataset.agent, r.dataset.warning])")
    ranked = sorted(summary["agents"], key=lambda a: (a["rank"] or 1e9, -(a["average_score"] or -1)))
    assert shown == [[a["agent_id"], (a["warning"] or {}).get("level", "green")] for a in ranked]
    assert dict(shown)["A5"] == "red" and dict(shown)["A6"] == "yellow"
    # A critical (一票否决) violation is a red warning; agents below the minimum volume are not ranked.
    assert dict(shown)["A1"] == "red"  # chat-critical2
    assert next(a for a in summary["agents"] if a["agent_id"] == "A1")["warning"]["kind"] == "critical"
    expect(page.locator("#rank-rule")).to_contain_text(str(summary["rank_min_interactions"]))
    few = [a["agent_id"] for a in summary["agents"] if a["interactions"] < summary["rank_min_interactions"]]
    assert "A5" in few and all(a["rank"] is None for a in summary["agents"] if a["agent_id"] in few)
    expect(page.locator('#agents-table tr[data-agent="A5"] td.rank')).to_have_text("未排名")
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
    # The score trend is the daily average score (final where reviewed), beside the automatic one.
    trend = page.evaluate("() => Chart.getChart(document.querySelector('#team-trend')).data.datasets.map(d => d.data)")
    assert trend == [[d["average_score"] for d in summary["daily"]], [d["automatic_average_score"] for d in summary["daily"]]]
    page.screenshot(path=str(screenshots / "team.png"), full_page=True)

    # A date range, kept in the URL; the figures and both exports follow it (downloads with the login token).
    page.fill("#range input[name=start]", "2026-11-16")
    page.fill("#range input[name=end]", "2026-11-18")
    page.click("#range button[type=submit]")
    page.wait_for_url("**/team/T1?start=2026-11-16&end=2026-11-18")
    ranged = server.get("/v1/teams/T1/summary", "sup1", start="2026-11-16", end="2026-11-18")
    assert 0 < ranged["interactions"] < summary["interactions"]
    expect(page.locator('.kpi[data-kpi="interactions"] .value')).to_have_text(str(ranged["interactions"]))
    with page.expect_download() as dl:
        page.click("#export-csv")
    assert dl.value.suggested_filename == "team-T1-summary-2026-11-16_2026-11-18.csv"
    text = Path(dl.value.path()).read_text(encoding="utf-8-sig")
    assert "interactions" in text and "2026-11-17" in text and "2026-11-20" not in text
    with page.expect_download() as dl:
        page.click("#export-xlsx")
    assert dl.value.suggested_filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes()))
    assert {"summary", "daily", "agents"} <= set(book.sheetnames)
    days = [row[0] for row in book["daily"].iter_rows(min_row=2, values_only=True)]
    assert days and all("2026-11-16" <= str(d)[:10] <= "2026-11-18" for d in days)
    # A range with nothing in it: empty states, not blank cards.
    page.goto(f"{server.url}/ui/#/team/T1?start=2020-01-01&end=2020-01-31")
    for empty in ("#agents-empty", "#dist-empty", "#trend-empty"):
        expect(page.locator(empty)).to_be_visible()
    # A favicon, served by the app.
    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert httpx.get(f"{server.url}/ui/{icon}").headers["content-type"].startswith("image/svg")

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
    assert page.locator("#top-rules tbody tr").evaluate_all("rs => rs.map(r => r.dataset.rule)") == [r["rule_id"] for r in top]
    names = rule_names(server)
    assert page.locator("#top-rules tbody tr .rule-name").all_inner_texts() == [names[r["rule_id"]]["name_zh"] for r in top]
    agent_summary = server.get("/v1/agents/A1/summary", "sup1")
    expect(page.locator("#standing")).to_have_attribute("data-warning", agent_summary["warning"]["level"])
    trend = page.evaluate("() => Chart.getChart(document.querySelector('#trend-chart')).data.datasets[0].data")
    assert trend == [d["average_score"] for d in agent_summary["daily"]]
    # Every result, not only flagged ones (newest first, as the API lists them).
    listed = server.get("/v1/interactions", "sup1", agent="A1", limit=20)
    shown = page.locator("#agent-results tbody tr").evaluate_all("rs => rs.map(r => r.dataset.id)")
    assert shown == [it["interaction_id"] for it in listed["items"]]
    assert "green" in {it["flag"] for it in server.get("/v1/interactions", "sup1", agent="A1", limit=500)["items"]}
    page.screenshot(path=str(screenshots / "agent.png"), full_page=True)


def test_agent_sees_only_their_own(server: Server, page: Page):
    login(page, server, "agent1")
    expect(page.locator("h1")).to_contain_text("A1")  # an agent lands on their own page
    expect(page.locator("#nav")).not_to_contain_text("复核队列")
    own = server.get("/v1/interactions", "agent1")["items"]
    assert own and all(it["agent_id"] == "A1" for it in own)
    # All their results are on their page (green ones too), so they can open and appeal any.
    page.wait_for_selector("#agent-results")
    total = server.get("/v1/interactions", "agent1", limit=1)["total"]
    expect(page.locator("#results-total")).to_have_text(str(total))
    rows = page.locator("#agent-results tbody tr")
    expect(rows).to_have_count(min(20, total))
    if total > 20:
        page.click("#more-results")
        expect(rows).to_have_count(min(40, total))
    # A green result opens with its appeal form like any other (and says when nothing was found).
    green = next(it for it in server.get("/v1/interactions", "agent1", limit=500)["items"] if it["flag"] == "green")
    page.goto(f"{server.url}/ui/#/i/{green['interaction_id']}")
    expect(page.locator("#appeal-form")).to_be_visible()
    expect(page.locator("#no-findings")).to_have_count(1 if green["findings"] == 0 else 0)
    page.goto(f"{server.url}/ui/#/i/{own[0]['interaction_id']}")
    page.wait_for_selector("#transcript .turn")
    expect(page.locator(".decide")).to_have_count(0)  # agents do not review
    expect(page.locator("#appeal-form")).to_be_visible()

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



def test_appeal_naming_a_hit_accepted_from_the_inbox_changes_the_final_score_and_kpis(server: Server, page: Page):
    appealed = "chat-critical2"  # A1 (T1): a critical insult, score 0, red
    d = server.get(f"/v1/interactions/{appealed}", "agent1")
    insult = next(h for h in d["result"]["hits"] if h["rule_id"] == "forbidden.mock_insult")
    assert d["result"]["score"] == 0 and d["final"] is None and d["appeals"] == []
    team_before = {a["agent_id"]: a for a in server.get("/v1/teams/T1/summary", "sup1")["agents"]}
    a1_before = server.get("/v1/agents/A1/summary", "agent1")

    # The agent ticks the contested hit in the page and appeals.
    login(page, server, "agent1")
    page.goto(f"{server.url}/ui/#/i/{appealed}")
    form = page.locator("#appeal-form")
    expect(form).to_be_visible()
    expect(form.locator(".hint")).to_contain_text("申诉截止")
    form.locator(f'input[name=hit][value="{insult["id"]}"]').check()
    form.locator("input[name=reason]").fill("客户先骂人，我只是复述")
    form.locator("button[type=submit]").click()
    opened = page.locator('#appeals .appeal[data-status="open"]')
    expect(opened).to_contain_text("客户先骂人，我只是复述")
    expect(opened.locator(".contested .rule-name")).to_have_text(["禁语·嘲讽辱骂"])
    expect(opened.locator(".contested .rule-name")).to_have_attribute("data-rule-id", "forbidden.mock_insult")
    expect(page.locator("#appeal-form")).to_have_count(0)
    assert server.get(f"/v1/interactions/{appealed}", "agent1")["appeals"][0]["hit_ids"] == [insult["id"]]

    # The QA specialist finds it in the inbox (oldest first, by team) and in the queue (marked).
    page.click("#logout")
    login(page, server, "qa")
    page.click('#nav a[href="#/appeals"]')
    page.wait_for_selector("#appeals-table")
    inbox = server.get("/v1/appeals", status="open")["items"]
    assert [a["interaction_id"] for a in inbox] == page.locator("#appeals-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)") and appealed in [a["interaction_id"] for a in inbox]  # fmt: skip
    page.click("#lang-switch")  # the inbox in English
    expect(page.locator("h1")).to_have_text("Appeals (oldest first)")
    assert not re.search(r"[\u4e00-\u9fff]", page.locator("#appeals-table thead").inner_text())
    page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("申诉处理（最早的在前）")
    page.select_option("#appeal-filters select[name=team]", "T2")
    page.click("#appeal-filters button[type=submit]")
    page.wait_for_url("**team=T2**")
    expect(page.locator(f'#appeals-table tr[data-id="{appealed}"]')).to_have_count(0)
    page.goto(f"{server.url}/ui/#/queue?team=T1&flag=red")
    marker = page.locator(f'#queue-table tr[data-id="{appealed}"] .appeal-marker')
    expect(marker).to_have_attribute("data-appeal-status", "open")
    page.goto(f"{server.url}/ui/#/appeals?status=open&team=T1")
    page.click(f'#appeals-table tr[data-id="{appealed}"] a')

    # The decision: the contested hit is ticked to be dismissed; accept.
    li = page.locator('#appeals .appeal[data-status="open"]')
    expect(li.locator(f'input[name=dismiss][value="{insult["id"]}"]')).to_be_checked()
    li.locator(".decision-reason").fill("录音核实，属实")
    li.locator('[data-appeal-decision="accepted"]').click()
    expect(page.locator('#appeals .appeal[data-status="accepted"]')).to_contain_text("录音核实，属实")
    after = server.get(f"/v1/interactions/{appealed}")
    assert after["final"]["score"] > 0 and after["final"]["flag"] != "red"
    assert next(h for h in after["result"]["hits"] if h["id"] == insult["id"])["decision"] == "dismiss"
    expect(page.locator("#score-final .big")).to_have_text(f'{after["final"]["score"]:.1f}')
    expect(page.locator("#appeal-form")).to_have_count(0)  # not again, for anyone
    page.goto(f"{server.url}/ui/#/queue")
    page.wait_for_selector("#queue-table, #queue-empty")
    assert appealed not in page.locator("#queue-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")

    # KPIs follow the final score: the team dashboard's A1 row, the agent's average and warning.
    a1 = server.get("/v1/agents/A1/summary", "agent1")
    assert a1["average_score"] > a1_before["average_score"] and a1["critical"] == a1_before["critical"] - 1
    assert a1["automatic"] == a1_before["automatic"] and a1["reviewed"] == a1_before["reviewed"] + 1
    page.goto(f"{server.url}/ui/#/team/T1")
    row = page.locator('#agents-table tr[data-agent="A1"]')
    expect(row.locator("td").nth(3)).to_contain_text(f'{a1["average_score"]:.1f}')
    expect(row.locator("td").nth(3)).to_contain_text(f'自动 {team_before["A1"]["automatic"]["average_score"]:.1f}')

    # Past the appeal window (QA_APPEAL_WINDOW_DAYS, 7 days after scoring) the page says so, the API refuses.
    late = "chat-red"  # A1's, not appealed
    db = Database(server.database_url)
    with db.session() as session:
        res = session.scalar(select(ResultRow).where(ResultRow.interaction_id == late, ResultRow.is_current.is_(True)))
        res.created_at -= timedelta(days=8)
        session.commit()
    db.dispose()

    # The agent sees the outcome on their page and on the interaction.
    page.click("#logout")
    login(page, server, "agent1")
    outcome = page.locator('#my-appeals tr[data-status="accepted"]')
    expect(outcome).to_contain_text(appealed)
    expect(outcome.locator("td.final")).to_contain_text(f'{after["final"]["score"]:.1f}')
    expect(outcome).to_contain_text("录音核实，属实")
    expect(page.locator('.kpi[data-kpi="averageScore"] .value')).to_have_text(f'{a1["average_score"]:.1f}')
    page.goto(f"{server.url}/ui/#/i/{appealed}")
    expect(page.locator("#appeals .outcome")).to_contain_text(f'{after["final"]["score"]:.1f}')
    expect(page.locator("#appeal-form")).to_have_count(0)
    page.goto(f"{server.url}/ui/#/i/{late}")
    expect(page.locator("#appeal-closed")).to_contain_text("申诉期已过")
    expect(page.locator("#appeal-form")).to_have_count(0)
    r = httpx.post(f"{server.url}/v1/interactions/{late}/appeals", headers=server.token("agent1"), json={"reason": "晚了"})
    assert r.status_code == 409 and "QA_APPEAL_WINDOW_DAYS" in r.json()["detail"]


def test_the_decision_picks_which_contested_hits_to_dismiss(server: Server, page: Page):
    """A supervisor appeals for their agent, contesting two hits; the QA specialist unticks one of
    them: accepted, the ticked hit is dismissed and the unticked one kept (confirmed)."""
    iid = "chat-red2"  # A2 (T1)
    d = server.get(f"/v1/interactions/{iid}")
    # the phrase hit on turn 1 and the forbidden model's hit on turn 3 (你爱找谁找谁: its category is the model's call)
    deflect = next(h for h in d["result"]["hits"] if h["rule_id"] == "forbidden.deflect")
    model = next(h for h in d["result"]["hits"] if h["rule_id"].startswith("forbidden.model_") and h["turn"] == 3)
    login(page, server, "sup1")
    page.goto(f"{server.url}/ui/#/i/{iid}")
    for h in (deflect, model):
        page.locator(f'#appeal-form input[name=hit][value="{h["id"]}"]').check()
    page.fill("#appeal-form input[name=reason]", "两处都是复述客户")
    page.click("#appeal-form button[type=submit]")
    li = page.locator('#appeals .appeal[data-status="open"]')
    expect(li.locator(".contested .rule-name")).to_have_count(2)
    page.click("#logout")
    login(page, server, "qa")
    page.goto(f"{server.url}/ui/#/i/{iid}")
    # The model's hit reads as words, with a link to its turn (not the model's file name and probability).
    card = page.locator(f'#hit-{model["id"]}')
    name = rule_names(server)[model["rule_id"]]["name_zh"]  # e.g. 疑似推诿, 疑似指责客户: the model picks the category
    expect(card.locator(".model-evidence")).to_have_text(
        f'模型判断：{name}，置信度 {model["score"]:.2f} · 轮次 {model["turn"] + 1}')
    assert "forbidden_ngram" not in card.inner_text()
    card.locator(".model-evidence .goto").click()
    expect(page.locator(f'#turn-{model["turn"]}')).to_be_in_viewport()
    li = page.locator('#appeals .appeal[data-status="open"]')
    expect(li.locator(f'input[name=dismiss][value="{deflect["id"]}"]')).to_be_checked()
    li.locator(f'input[name=dismiss][value="{model["id"]}"]').uncheck()
    li.locator(".decision-reason").fill("第一处属实，第二处确为坐席所说")
    li.locator('[data-appeal-decision="accepted"]').click()
    expect(page.locator('#appeals .appeal[data-status="accepted"]')).to_have_count(1)
    decisions = {h["id"]: h["decision"] for h in server.get(f"/v1/interactions/{iid}")["result"]["hits"]}
    assert (decisions[deflect["id"]], decisions[model["id"]]) == ("dismiss", "confirm")
    expect(page.locator(f'#hit-{deflect["id"]}')).to_have_class(re.compile(r"decided-dismiss"))


# What people or the engine wrote (transcripts, quoted hit text, appeal and review text, team names):
# content, not the page's chrome.
CONTENT = (".said, .bubble, blockquote, .expl, .hit-pick .muted, .thread p, .reply p, .team-list a, "
           "select[name=team], #lang-switch, .ia-head h1")


def chinese_in_chrome(page: Page) -> list[str]:
    return page.evaluate(
        """sel => { const view = document.body.cloneNode(true); view.querySelectorAll(sel).forEach(e => e.remove());
        const texts = [], walk = document.createTreeWalker(view, NodeFilter.SHOW_TEXT);
        while (walk.nextNode()) texts.push(walk.currentNode.textContent.trim());
        const attrs = [...view.querySelectorAll('[title], [placeholder], [aria-label]')]
          .flatMap(e => [e.title, e.placeholder, e.getAttribute('aria-label')]).filter(Boolean);
        return texts.concat(attrs).filter(t => /[\u4e00-\u9fff]/.test(t)); }""",
        CONTENT,
    )


def test_english_mode_has_no_chinese_in_the_chrome(server: Server, page: Page):
    login(page, server, "sup1")
    page.click("#lang-switch")
    expect(page.locator("#whoami")).to_have_text("sup1 · Supervisor")
    for route, ready in (("#/queue", "#queue-table"), ("#/i/chat-critical2", "#transcript .turn"),
                         (f"#/i/{CALL_ID}", "#transcript .turn"), ("#/team/T1", "#agents-table"),
                         ("#/agent/A1", "#agent-results"), ("#/rules", "#rules-table"),
                         ("#/appeals?status=", "#appeals-table, #appeals-empty")):  # fmt: skip
        page.goto(f"{server.url}/ui/{route}")
        page.wait_for_selector(ready)
        found = chinese_in_chrome(page)
        assert found == [], (route, found)
    page.click("#lang-switch")


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


def test_supervisor_assigns_rows_and_the_specialist_sees_them_first(server: Server, page: Page, screenshots: Path):
    """A supervisor ticks queue rows and assigns them to a QA specialist; the specialist's queue opens
    on their assignments (a tab with the count), the other tab holds the whole queue, each row saying
    to whom it is assigned."""
    login(page, server, "sup1")
    page.goto(f"{server.url}/ui/#/queue")
    page.wait_for_selector("#queue-table")
    ids = page.locator("#queue-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    chosen = ids[:2]
    assert len(chosen) == 2 and all(server.get(f"/v1/interactions/{i}", "sup1")["team_id"] == "T1" for i in chosen)
    expect(page.locator("#assign-selected")).to_be_disabled()
    for iid in chosen:
        page.check(f'#queue-table tr[data-id="{iid}"] input.pick')
    expect(page.locator("#assign-selected")).to_have_text("分配所选（2）")
    page.select_option("#assign-to", "qa")
    page.click("#assign-selected")
    for iid in chosen:
        expect(page.locator(f'#queue-table tr[data-id="{iid}"] td[data-col="assignee"]')).to_have_text("qa")
    mine = server.get("/v1/review-queue", "qa", assignee="me")["items"]
    assert sorted(it["interaction_id"] for it in mine) == sorted(chosen)
    expect(page.locator("#assign-to option")).to_have_text(["qa（待办 0）"])  # rendered before the assignment
    # The supervisor's filter by specialist shows that specialist's load and rows.
    page.goto(f"{server.url}/ui/#/queue?assignee=qa")
    assert queue_rows(page, [it["interaction_id"] for it in mine]) == [it["interaction_id"] for it in mine]
    expect(page.locator("select[name=assignee] option:checked")).to_have_text("qa（待办 2）")

    page.click("#logout")
    login(page, server, "qa")
    page.goto(f"{server.url}/ui/#/queue")
    expect(page.locator('#queue-tabs a[data-tab="mine"]')).to_have_class(re.compile(r"\bactive\b"))
    expect(page.locator("#mine-count")).to_have_text("2")
    assert queue_rows(page, [it["interaction_id"] for it in mine]) == [it["interaction_id"] for it in mine]
    page.screenshot(path=str(screenshots / "queue-assigned.png"), full_page=False)
    page.click('#queue-tabs a[data-tab="all"]')
    everything = [it["interaction_id"] for it in server.get("/v1/review-queue", "qa")["items"]]
    assert queue_rows(page, everything) == everything
    for iid in chosen:
        expect(page.locator(f'#queue-table tr[data-id="{iid}"] td[data-col="assignee"]')).to_have_text("qa")
    expect(page.locator("#queue-table input.pick")).to_have_count(0)  # specialists do not assign
    page.click("#lang-switch")
    expect(page.locator('#queue-tabs a[data-tab="mine"]')).to_contain_text("Assigned to me")
    expect(page.locator("#queue-table thead")).to_contain_text("Assigned to")
    page.click("#lang-switch")

    # Left as found: the assignments are removed.
    sup = server.token("sup1")
    for a in httpx.get(f"{server.url}/v1/assignments", headers=sup).json()["items"]:
        assert httpx.delete(f"{server.url}/v1/assignments/{a['id']}", headers=sup).status_code == 204


# --- a new install: the README's first-run steps --------------------------------------------------


def _readme_first_run() -> list[list[str]]:
    """The commands of the README's first-run block (comments dropped)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("### First run", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].split() for line in block.splitlines() if line.strip()]


def test_fresh_folder_first_admin_login_and_an_uploaded_call_plays(tmp_path, browser: Browser):
    home, first, other = tmp_path / "home", tmp_path / "first", tmp_path / "other"
    for d in (home, first, other):
        d.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}  # a new user's environment
    env |= {"HOME": str(home), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2",
            "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))}  # the Whisper model, built once
    commands = _readme_first_run()
    assert [c[:3] for c in commands] == [["qa-engine", "users", "create"], ["qa-engine", "users", "create"],
                                         ["qa-engine", "users", "api-key"], ["qa-engine", "serve"]]

    def cli(args: list[str], cwd: Path, stdin: str = "") -> str:
        proc = subprocess.run([sys.executable, "-m", "qa_engine", *args[1:]], cwd=cwd, env=env, input=stdin,
                              capture_output=True, text=True, timeout=300, start_new_session=True)  # no tty: the prompt reads stdin
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr and "INFO" not in proc.stderr, proc.stderr
        return proc.stdout

    cli(commands[0], first, stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert list(first.iterdir()) == [], "nothing is written in the working folder"
    database = home / ".local" / "share" / "qa-engine" / "qa_engine.db"
    assert database.stat().st_size > 0
    cli(commands[1], other)  # from another folder: the same database
    key = cli(commands[2], first).strip()

    port = free_port()
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "qa_engine", *commands[3][1:], "--port", str(port)], cwd=other,
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail(f"qa-engine serve did not start: {(tmp_path / 'serve.log').read_text()[-2000:]}")
        assert f"review UI at {base}/ui/" in (tmp_path / "serve.log").read_text()

        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
        page = context.new_page()
        page.goto(f"{base}/ui/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#whoami")).to_contain_text("admin")
        expect(page.locator("#queue-empty")).to_contain_text("qa-engine batch")  # an empty install says how to load data
        expect(page.locator("#queue-empty")).to_contain_text("qa-engine demo --load")

        wav = CALLS / "call_bad.stereo.wav"
        with httpx.Client(base_url=base, timeout=60) as client:
            r = client.post("/v1/interactions/audio", headers={"X-API-Key": key},
                            files={"file": (wav.name, wav.read_bytes(), "audio/wav")}, data={"interaction_id": "first-call"})
            assert r.status_code == 202, r.text
            job = r.json()
            for _ in range(600):
                job = client.get(f"/v1/jobs/{job['job_id']}", headers={"X-API-Key": key}).json()
                if job["status"] in ("done", "failed"):
                    break
                time.sleep(0.5)
            assert job["status"] == "done", job
            token = client.post("/v1/auth/token", data={"username": "admin", "password": PASSWORD}).json()["access_token"]
            link = client.get("/v1/interactions/first-call/audio-link", headers={"Authorization": f"Bearer {token}"})
            assert link.status_code == 200, link.text
            played = client.get(link.json()["url"])
            assert played.status_code == 200 and played.content == wav.read_bytes()
        assert list((database.parent / "uploads").iterdir()), "the upload is kept in the data folder"
        page.goto(f"{base}/ui/#/i/first-call")
        expect(page.locator("#player")).to_have_attribute("src", re.compile(r"/v1/interactions/first-call/audio\?token="))
        context.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


# --- phone width ----------------------------------------------------------------------------------

PHONE_PAGES = (  # (user, route, what shows when it has rendered)
    (None, "#/login", "input[name=username]"),
    ("qa", "#/queue", "#queue-table"),
    ("qa", f"#/i/{CALL_ID}", "#transcript .turn"),
    ("qa", "#/i/chat-critical2", "#transcript .turn"),
    ("qa", "#/appeals?status=", "#appeals-table, #appeals-empty"),
    ("qa", "#/rules", "#rules-table"),
    ("qa", "#/team", "#view h1, #view h2"),
    ("sup1", "#/queue", "#queue-table"),
    ("sup1", "#/team/T1", "#agents-table"),
    ("sup1", "#/agent/A1", "#agent-results"),
    ("agent1", "#/agent/A1", "#agent-results"),
    ("agent1", "#/i/chat-red", "#transcript .turn"),
)
OVERFLOW = """() => {
  const root = document.documentElement, width = root.clientWidth;
  const wide = [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.right <= width + 1) return false;
    for (let p = e.parentElement; p; p = p.parentElement) {  // inside a box that scrolls sideways: fine
      const s = getComputedStyle(p);
      if (['auto', 'scroll', 'hidden'].includes(s.overflowX) && p.getBoundingClientRect().right <= width + 1) return false;
    }
    return true;
  }).slice(0, 5).map(e => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${[...e.classList].join('.')} ${Math.round(e.getBoundingClientRect().right)}px`);
  return {scroll: root.scrollWidth, client: width, wide};
}"""


@pytest.mark.parametrize("lang", ["zh-CN", "en-US"])
def test_every_page_fits_a_phone_without_sideways_scrolling(server: Server, browser: Browser, screenshots: Path, lang: str):
    """390 x 844 (a phone held upright): no page scrolls sideways; wide tables scroll inside their card."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale=lang, timezone_id="Asia/Shanghai",
                                  is_mobile=True, has_touch=True, device_scale_factor=2)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    who = None
    wide = []
    try:
        for user, route, ready in PHONE_PAGES:
            if user != who:
                page.goto(f"{server.url}/ui/")
                page.evaluate(f"localStorage.clear(); sessionStorage.clear(); localStorage.setItem('qa.lang', '{lang[:2]}')")
                if user is not None:
                    login(page, server, user)
                who = user
            page.goto(f"{server.url}/ui/{route}")
            page.wait_for_selector(ready)
            page.wait_for_timeout(300)  # charts and late cards
            seen = page.evaluate(OVERFLOW)
            name = f"phone-{lang}-{user or 'anon'}-{route.strip('#/').split('?')[0].replace('/', '-')}.png"
            page.screenshot(path=str(screenshots / name), full_page=True)
            if seen["scroll"] > seen["client"]:
                wide.append((user, route, seen))
    finally:
        context.close()
    assert wide == [], f"pages wider than the phone ({lang}): {wide}"
    assert not errors, errors
