"""The API under load, through a real uvicorn server on loopback.

1. Agent summary latency: GET /v1/agents/{id}/summary for a 30-day window, random agents of a
   database filled by bench/gen_interactions.py; p50 / p95 over --requests sequential calls.
   Baseline in the same run: GET /v1/auth/me (authentication and one user lookup, no KPI work).
2. Ingestion: --ingest chat interactions (the 800 real JD chat sessions, cycled, with fresh ids)
   POSTed by --concurrency concurrent clients; interactions/s, then the stored count is checked
   (no write lost). Baseline in the same run: the engine alone scoring the same sessions in this
   process (what the API adds on top of scoring is the difference).

Run (after the generator):
  .venv/bin/python bench/api.py --url sqlite:///bench.db
  .venv/bin/python bench/api.py --url postgresql+psycopg://postgres@127.0.0.1:5432/qa_bench
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from qa_engine.store import accounts  # noqa: E402
from qa_engine.store.db import Database  # noqa: E402
from qa_engine.store.models import Agent, InteractionRow  # noqa: E402

PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ensure_users(db: Database, run: str) -> str:
    """A bench admin (password) and an ingest user; returns a fresh API key of the ingest user."""
    with db.session() as session:
        if accounts.get_user(session, "bench-admin") is None:
            accounts.create_user(session, "bench-admin", "admin", password=PASSWORD)
        ingest = accounts.get_user(session, "bench-ingest") or accounts.create_user(session, "bench-ingest", "ingest")
        _, key = accounts.create_api_key(session, ingest, f"bench-{run}")
    return key


def start_server(url: str, port: int, workers: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "QA_DATABASE_URL": url,
        "QA_JWT_SECRET": "bench-secret-" + "x" * 32,
        "OMP_NUM_THREADS": "1",
    }
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the server did not come up in 120 s")


def timed_gets(client: httpx.Client, paths: list[str], headers: dict) -> list[float]:
    out = []
    for path in paths:
        t = time.perf_counter()
        r = client.get(path, headers=headers)
        out.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"GET {path}: {r.status_code} {r.text[:200]}")
    return out


def bench_summary(base: str, db: Database, requests: int, end: date) -> dict:
    with db.session() as session:
        agents = list(session.scalars(select(Agent.id).order_by(Agent.id)))
        n = session.scalar(select(func.count()).select_from(InteractionRow))
    rng = random.Random(7)
    start = end - timedelta(days=29)
    with httpx.Client(base_url=base, timeout=60) as client:
        token = client.post("/v1/auth/token", data={"username": "bench-admin", "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        paths = [f"/v1/agents/{rng.choice(agents)}/summary?start={start}&end={end}" for _ in range(requests)]
        timed_gets(client, paths[:10], headers)  # warm-up: connections, caches
        baseline = timed_gets(client, ["/v1/auth/me"] * requests, headers)
        summary = timed_gets(client, paths, headers)
        sample = client.get(paths[0], headers=headers).json()
    return {
        "interactions": n,
        "agents": len(agents),
        "sample_interactions": sample["interactions"],
        "p50": statistics.median(summary),
        "p95": percentile(summary, 0.95),
        "base_p50": statistics.median(baseline),
        "base_p95": percentile(baseline, 0.95),
    }


def query_times(db: Database, end: date, repeat: int = 40) -> dict[str, tuple[float, float]]:
    """The summary's queries in this process (no HTTP): p50 wall and CPU ms, random agents."""
    from qa_engine.store import kpi

    start = end - timedelta(days=29)
    rng = random.Random(3)
    parts = {
        "main aggregate + dimensions + daily (kpi.summary)": lambda s, a, t: kpi.summary(s, agent_id=a, start=start, end=end),
        "team breakdown for the rank (kpi.agent_breakdown)": lambda s, a, t: kpi.agent_breakdown(s, team_id=t, start=start, end=end),
    }  # fmt: skip
    out = {}
    with db.sessionmaker() as session:
        agents = list(session.execute(select(Agent.id, Agent.team_id)).all())
        for name, fn in parts.items():
            wall, cpu = [], []
            for _ in range(repeat):
                agent, team = rng.choice(agents)
                w, c = time.perf_counter(), time.process_time()
                fn(session, agent, team)
                wall.append((time.perf_counter() - w) * 1000)
                cpu.append((time.process_time() - c) * 1000)
            out[name] = (statistics.median(wall), statistics.median(cpu))
    return out


def payloads(count: int, run: str) -> list[dict]:
    from qa_datasets.jddc import load_sessions

    sessions = load_sessions()
    out = []
    for i in range(count):
        item = copy.deepcopy(sessions[i % len(sessions)])
        item.update(interaction_id=f"ingest-{run}-{i:06d}", agent_id=f"GA{i % 500:05d}", started_at="2026-11-22T10:00:00+08:00")
        out.append(item)
    return out


async def post_all(base: str, key: str, items: list[dict], concurrency: int) -> tuple[float, dict[int, int]]:
    queue: asyncio.Queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    codes: dict[int, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits, headers={"X-API-Key": key}) as client:

        async def worker():
            while not queue.empty():
                item = queue.get_nowait()
                r = await client.post("/v1/interactions", json=item)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, codes


def engine_baseline(items: list[dict]) -> float:
    """Interactions/s of the engine alone on the same payloads (redaction and inspection, one thread)."""
    from qa_engine.config import Settings
    from qa_engine.engine import Inspector
    from qa_engine.redact import redact_interaction
    from qa_engine.schema import Interaction

    inspector = Inspector(Settings())
    parsed = [Interaction.model_validate(i) for i in items]
    started = time.perf_counter()
    for item in parsed:
        inspector.inspect(redact_interaction(item))
    return len(parsed) / (time.perf_counter() - started)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--requests", type=int, default=300, help="summary requests")
    p.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 22), help="last day of the 30-day window")
    p.add_argument("--ingest", type=int, default=3000, help="chat interactions to POST (0: skip)")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    a = p.parse_args()

    run = uuid.uuid4().hex[:6]
    db = Database(a.url)
    for name, (wall, cpu) in query_times(db, a.end).items():
        print(f"in process, {name}: p50 {wall:.1f} ms wall, {cpu:.1f} ms CPU")
    key = ensure_users(db, run)
    port = free_port()
    server = start_server(a.url, port, a.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        s = bench_summary(base, db, a.requests, a.end)
        print(f"database: {db.engine.dialect.name}, {s['interactions']:,} interactions, {s['agents']} agents "
              f"(a 30-day summary covers ~{s['sample_interactions']} interactions)")  # fmt: skip
        print(f"agent 30-day summary: p50 {s['p50']:.1f} ms, p95 {s['p95']:.1f} ms over {a.requests} requests")
        print(f"baseline GET /v1/auth/me: p50 {s['base_p50']:.1f} ms, p95 {s['base_p95']:.1f} ms; "
              f"summary / baseline p95 = {s['p95'] / s['base_p95']:.1f}x")  # fmt: skip
        if a.ingest:
            items = payloads(a.ingest, run)
            seconds, codes = asyncio.run(post_all(base, key, items, a.concurrency))
            with db.session() as session:
                stored = session.scalar(
                    select(func.count()).select_from(InteractionRow).where(InteractionRow.id.like(f"ingest-{run}-%"))
                )
            rate = a.ingest / seconds
            print(f"ingestion: {a.ingest} chat interactions, {a.concurrency} concurrent clients, {a.workers} workers: "
                  f"{seconds:.1f} s, {rate:.0f}/s; responses {dict(sorted(codes.items()))}")  # fmt: skip
            print(f"stored after the run: {stored} of {a.ingest} ({'no write lost' if stored == a.ingest else 'LOST WRITES'})")
            server.terminate()
            server.wait(30)
            base_rate = engine_baseline(items[:800])
            print(f"baseline engine alone in this process (1 thread): {base_rate:.0f}/s; API / engine = {rate / base_rate:.2f}x")
            if stored != a.ingest or codes.get(201, 0) != a.ingest:
                raise SystemExit(1)
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(30)
        with db.session() as session:  # leave the generated data as it was
            session.execute(text("DELETE FROM interactions WHERE id LIKE :p"), {"p": f"ingest-{run}-%"})
        db.dispose()


if __name__ == "__main__":
    main()
