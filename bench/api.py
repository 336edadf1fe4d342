"""The API under load, through a real uvicorn server on loopback.

1. Agent summary latency: GET /v1/agents/{id}/summary for a 30-day window, random agents of a
   database filled by bench/gen_interactions.py; p50 / p95 over --requests sequential calls.
   Baseline in the same run: GET /v1/auth/me (authentication and one user lookup, no KPI work).
2. Ingestion: --ingest chat interactions (the 800 real JD chat sessions, cycled, with fresh ids)
   sent by --concurrency concurrent clients, in each of --modes:
   - sync: POST /v1/interactions, scored inline (201 with the result); interactions/s;
   - queued: POST /v1/interactions?wait=false, one interaction a request (202 with a job);
   - bulk: POST /v1/interactions/bulk, --bulk-size interactions a request (202 with jobs).
   For queued and bulk two rates: accepted (every request answered, the raw interactions stored:
   the job rows are counted) and scored end to end (from the first request until the background
   scorers stored the last result: the drain); then the stored interactions are counted (no write
   lost). Baseline in the same run: the engine alone scoring the same sessions in this process.

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

from qa_engine.store import accounts, migrate  # noqa: E402
from qa_engine.store.db import Database  # noqa: E402
from qa_engine.store.models import Agent, IngestJob, InteractionRow  # noqa: E402

PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> str:
    """The load average now (1, 5, 15 min), printed next to each figure."""
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


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
           "--port", str(port), "--workers", str(workers), "--http", "api.server:H11NoDelay",
           "--log-level", "warning", "--no-access-log"]  # fmt: skip
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


def payloads(count: int, prefix: str) -> list[dict]:
    from qa_datasets.jddc import load_sessions

    sessions = load_sessions()
    out = []
    for i in range(count):
        item = copy.deepcopy(sessions[i % len(sessions)])
        item.update(interaction_id=f"{prefix}{i:06d}", agent_id=f"GA{i % 500:05d}", started_at="2026-11-22T10:00:00+08:00")
        out.append(item)
    return out


async def post_all(
    base: str, key: str, items: list[dict], concurrency: int, mode: str = "sync", bulk_size: int = 100
) -> tuple[float, dict[int, int]]:
    """POST every item (mode sync, queued) or every `bulk_size` items (bulk); codes count items."""
    queue: asyncio.Queue = asyncio.Queue()
    if mode == "bulk":
        for start in range(0, len(items), bulk_size):
            queue.put_nowait(items[start : start + bulk_size])
    else:
        for item in items:
            queue.put_nowait(item)
    path = {"sync": "/v1/interactions", "queued": "/v1/interactions?wait=false", "bulk": "/v1/interactions/bulk"}[mode]
    codes: dict[int, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits, headers={"X-API-Key": key}) as client:

        async def worker():
            while not queue.empty():
                item = queue.get_nowait()
                body = {"interactions": item} if mode == "bulk" else item
                r = await client.post(path, json=body)
                n = len(item) if mode == "bulk" else 1
                codes[r.status_code] = codes.get(r.status_code, 0) + n

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, codes


def _count(db: Database, stmt) -> int:
    with db.session() as session:
        return int(session.scalar(stmt) or 0)


def ingest_run(base: str, key: str, db: Database, items: list[dict], prefix: str, mode: str, a) -> float | None:
    """One ingestion mode; prints its figures, returns the end-to-end scored rate (None: a check failed)."""
    n = len(items)
    like = f"{prefix}%"
    stored = select(func.count()).select_from(InteractionRow).where(InteractionRow.id.like(like))
    jobs = select(func.count()).select_from(IngestJob).where(IngestJob.interaction_id.like(like))
    started = time.perf_counter()
    seconds, codes = asyncio.run(post_all(base, key, items, a.concurrency, mode, a.bulk_size))
    ok_code = {"sync": 201, "queued": 202, "bulk": 202}[mode]
    how = f"{a.concurrency} concurrent clients, {a.workers} workers" + (f", {a.bulk_size} a request" if mode == "bulk" else "")
    if mode == "sync":
        count = _count(db, stored)
        print(f"ingestion {mode}: {n} chat interactions, {how}: {seconds:.1f} s, {n / seconds:.0f}/s scored and stored; "
              f"responses {dict(sorted(codes.items()))} [{load()}]")  # fmt: skip
        print(f"  stored after the run: {count} of {n} ({'no write lost' if count == n else 'LOST WRITES'})")
        return n / seconds if count == n and codes.get(ok_code, 0) == n else None
    accepted = _count(db, jobs)
    print(f"ingestion {mode}: {n} chat interactions, {how}: accepted and stored in {seconds:.1f} s = "
          f"{n / seconds:.0f}/s; responses {dict(sorted(codes.items()))}; job rows stored: {accepted} of {n} [{load()}]")  # fmt: skip
    pending = select(func.count()).select_from(IngestJob).where(
        IngestJob.interaction_id.like(like), IngestJob.status.in_(("queued", "running"))
    )
    deadline = time.monotonic() + 3600
    while _count(db, pending) and time.monotonic() < deadline:
        time.sleep(0.25)
    drained = time.perf_counter() - started
    count = _count(db, stored)
    failed = _count(db, jobs.where(IngestJob.status == "failed"))
    print(f"  scored end to end (first request to last result stored): {drained:.1f} s = {n / drained:.0f}/s; "
          f"stored {count} of {n} ({'no write lost' if count == n else 'LOST WRITES'}), failed jobs {failed} [{load()}]")  # fmt: skip
    return n / drained if count == n and accepted == n and codes.get(ok_code, 0) == n else None


def engine_baseline(items: list[dict]) -> float:
    """Interactions/s of the engine alone on the same payloads (redaction and inspection, one thread)."""
    from qa_engine.config import Settings
    from qa_engine.engine import Inspector
    from qa_engine.schema import Interaction
    from qa_engine.text.redact import redact_interaction

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
    p.add_argument("--modes", default="sync,queued,bulk", help="ingestion modes to run, in order")
    p.add_argument("--bulk-size", type=int, default=100, help="interactions per bulk request")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    a = p.parse_args()

    run = uuid.uuid4().hex[:6]
    migrate.upgrade(a.url)  # a database generated before the newest migration
    db = Database(a.url)
    for name, (wall, cpu) in query_times(db, a.end).items():
        print(f"in process, {name}: p50 {wall:.1f} ms wall, {cpu:.1f} ms CPU [{load()}]")
    key = ensure_users(db, run)
    port = free_port()
    server = start_server(a.url, port, a.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        s = bench_summary(base, db, a.requests, a.end)
        print(f"database: {db.engine.dialect.name}, {s['interactions']:,} interactions, {s['agents']} agents "
              f"(a 30-day summary covers ~{s['sample_interactions']} interactions)")  # fmt: skip
        print(f"agent 30-day summary: p50 {s['p50']:.1f} ms, p95 {s['p95']:.1f} ms over {a.requests} requests [{load()}]")
        print(f"baseline GET /v1/auth/me: p50 {s['base_p50']:.1f} ms, p95 {s['base_p95']:.1f} ms; "
              f"summary / baseline p95 = {s['p95'] / s['base_p95']:.1f}x [{load()}]")  # fmt: skip
        rates = {}
        for mode in [m for m in a.modes.split(",") if m] if a.ingest else []:
            prefix = f"ingest-{run}-{mode}-"
            items = payloads(a.ingest, prefix)
            rates[mode] = ingest_run(base, key, db, items, prefix, mode, a)
        if rates:
            server.terminate()
            server.wait(30)
            base_rate = engine_baseline(payloads(800, "baseline-"))
            print(f"baseline engine alone in this process (1 thread): {base_rate:.0f}/s; "
                  + "; ".join(f"{m}: {(r or 0) / base_rate:.2f}x" for m, r in rates.items()) + f" [{load()}]")  # fmt: skip
        if any(r is None for r in rates.values()):
            raise SystemExit(1)
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(30)
        with db.session() as session:  # leave the generated data as it was
            session.execute(text("DELETE FROM interactions WHERE id LIKE :p"), {"p": f"ingest-{run}-%"})
            session.execute(text("DELETE FROM ingest_jobs WHERE interaction_id LIKE :p"), {"p": f"ingest-{run}-%"})
        db.dispose()


if __name__ == "__main__":
    main()
