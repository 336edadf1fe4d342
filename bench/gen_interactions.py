"""Fill a database with N synthetic scored interactions for the API benchmark (bench/api.py).

What a stored interaction costs the KPI queries is kept: one interaction row, its current result
with the KPI columns (and the agent, team and date the write path copies onto it), and one row per
scorecard dimension. Turns and hits are left out (the summary
never reads them), so a million interactions is 1 M + 1 M + 6 M rows. Scores follow a per-agent
quality level, so agents differ and some cross the warning thresholds.

Bulk paths: PostgreSQL `COPY ... FROM STDIN`; SQLite `executemany` in one transaction with
journalling off while loading. Both in primary-key order.

Run:
  .venv/bin/python bench/gen_interactions.py --url sqlite:///bench.db --n 1000000
  createdb -h 127.0.0.1 -U postgres qa_bench
  .venv/bin/python bench/gen_interactions.py --url postgresql+psycopg://postgres@127.0.0.1:5432/qa_bench --n 1000000
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import make_url, text  # noqa: E402

from qa_engine.store import migrate  # noqa: E402
from qa_engine.store.db import Database  # noqa: E402

DIMENSIONS = {  # the chat scorecard's weights
    "politeness": 0.20,
    "forbidden_words": 0.30,
    "empathy": 0.15,
    "script_compliance": 0.20,
    "emotion": 0.10,
    "call_signals": 0.05,
}
CHUNK = 50_000
LOCAL = timedelta(hours=8)  # Asia/Shanghai, the default report time zone
ID_PREFIX = "gen-"


def agent_ids(n_agents: int) -> list[str]:
    return [f"GA{i:05d}" for i in range(n_agents)]


def team_of(agent_index: int, n_teams: int) -> str:
    return f"GT{agent_index % n_teams:03d}"


def chunks(n: int, n_agents: int, n_teams: int, days: int, end: date, seed: int):
    """Column arrays for interactions [start, start + CHUNK), reproducible per chunk."""
    quality = np.random.default_rng(seed).normal(82, 8, n_agents)  # an agent's typical score
    first_day = end - timedelta(days=days - 1)
    epoch = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) - LOCAL
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        rng = np.random.default_rng(seed + 1 + start)
        agent = rng.integers(0, n_agents, size)
        day = rng.integers(0, days, size)
        second = rng.integers(9 * 3600, 21 * 3600, size)  # local working hours
        score = np.clip(rng.normal(quality[agent], 12), 0, 100).round(1)
        critical = rng.random(size) < 0.005
        score[critical] = 0.0
        dims = np.clip(rng.normal(score[:, None] + 5, 10, (size, len(DIMENSIONS))), 0, 100).round(1)
        yield {
            "start": start,
            "agent": agent,
            "day": day,
            "second": second,
            "score": score,
            "critical": critical,
            "dims": dims,
            "agent_turns": rng.integers(2, 12, size),
            "polite": rng.random(size),
            "empathy": rng.random(size),
            "forbidden": rng.poisson(0.15, size),
            "negative_start": rng.random(size) < 0.3,
            "deescalated": rng.random(size) < 0.6,
            "epoch": epoch,
            "first_day": first_day,
        }


def columns(c: dict, n_teams: int, agents: list[str]) -> dict[str, list]:
    """The chunk as plain Python lists, one per column (numpy scalars are slow to index one by one)."""
    size = len(c["agent"])
    keys = list(range(c["start"] + 1, c["start"] + size + 1))
    agent = c["agent"].tolist()
    seconds = (c["day"].astype(np.int64) * 86400 + c["second"]).astype("timedelta64[s]")
    occurred = np.datetime64(c["epoch"].replace(tzinfo=None), "s") + seconds  # UTC
    local_day = np.datetime64(c["first_day"], "D") + c["day"].astype("timedelta64[D]")
    score = c["score"]
    flag = np.where(c["critical"] | (score < 60), "red", np.where(score < 80, "yellow", "green"))
    turns = c["agent_turns"]
    negative = c["negative_start"]
    return {
        "key": keys,
        "id": [f"{ID_PREFIX}{k:08d}" for k in keys],
        "agent": [agents[a] for a in agent],
        "team": [team_of(a, n_teams) for a in agent],
        "occurred": np.datetime_as_string(occurred, unit="us").tolist(),  # "2026-11-20T02:00:00.000000"
        "day": np.datetime_as_string(local_day).tolist(),
        "score": score.tolist(),
        "flag": flag.tolist(),
        "turns": turns.tolist(),
        "polite": (turns * c["polite"]).astype(int).tolist(),
        "empathy": (turns * c["empathy"] * 0.5).astype(int).tolist(),
        "forbidden": c["forbidden"].tolist(),
        "customer_start": np.where(negative, "negative", "neutral").tolist(),
        "deescalated": [bool(d) if n else None for d, n in zip(c["deescalated"].tolist(), negative.tolist())],
        "script_ok": (c["dims"][:, 3] >= 100).tolist(),
        "dims": c["dims"].tolist(),
    }


# --- PostgreSQL: COPY ---------------------------------------------------------------------------


def _pg(value) -> str:
    if value is None:
        return r"\N"
    if value is True or value is False:
        return "t" if value else "f"
    return str(value)


def _tsv(records) -> str:
    return "".join("\t".join(_pg(v) for v in rec) + "\n" for rec in records)


INTERACTION_COLS = (
    "id, channel, agent_id, team_id, started_at, received_at, occurred_at, occurred_date, "
    "metadata, extra, content_hash, updated_at"
)
RESULT_COLS = (
    "id, interaction_id, is_current, content_hash, created_at, score, flag, critical, script, emotion, stats, "
    "versions, ruleset_version, agent_turns, polite_turns, empathy_turns, forbidden_hits, customer_start, "
    "deescalated, script_ok, agent_id, team_id, occurred_date"
)
DIM_COLS = "result_id, dimension, position, score, weight, deductions"


def _records(c, n_teams, agents, now, timestamp):
    """Rows for the three tables; `timestamp` turns "YYYY-MM-DDTHH:MM:SS.ffffff" (UTC) into the backend's text."""
    col = columns(c, n_teams, agents)
    occurred = [timestamp(t) for t in col["occurred"]]
    inters = [
        (iid, "chat", agent, team, ts, ts, ts, day, "{}", "{}", "0" * 64, now)
        for iid, agent, team, ts, day in zip(col["id"], col["agent"], col["team"], occurred, col["day"])
    ]
    results = [
        (k, iid, True, "0" * 64, now, score, flag, "[]", "{}", "{}", "{}", "{}", "bench", turns, polite, empathy,
         forbidden, cstart, deesc, ok, agent, team, day)
        for k, iid, score, flag, turns, polite, empathy, forbidden, cstart, deesc, ok, agent, team, day in zip(
            col["key"], col["id"], col["score"], col["flag"], col["turns"], col["polite"], col["empathy"],
            col["forbidden"], col["customer_start"], col["deescalated"], col["script_ok"], col["agent"], col["team"],
            col["day"],
        )
    ]  # fmt: skip
    names = list(DIMENSIONS.items())
    dims = [
        (k, name, p, scores[p], w, "[]") for k, scores in zip(col["key"], col["dims"]) for p, (name, w) in enumerate(names)
    ]
    return inters, results, dims


def load_postgres(db: Database, n, n_agents, n_teams, days, end, seed) -> None:
    agents = agent_ids(n_agents)
    now = datetime.now(UTC).isoformat()
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for c in chunks(n, n_agents, n_teams, days, end, seed):
            inters, results, dims = _records(c, n_teams, agents, now, lambda t: t + "+00")
            for table, cols, recs in (
                ("interactions", INTERACTION_COLS, inters),
                ("results", RESULT_COLS, results),
                ("result_dimensions", DIM_COLS, dims),
            ):
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    copy.write(_tsv(recs))
            raw.commit()
            progress(c["start"] + len(c["agent"]), n)
        cur.execute("SELECT setval(pg_get_serial_sequence('results', 'id'), (SELECT max(id) FROM results))")
        raw.commit()
    finally:
        raw.close()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


# --- SQLite: executemany ------------------------------------------------------------------------


def _sqlite_ts(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def load_sqlite(db: Database, n, n_agents, n_teams, days, end, seed) -> None:
    agents = agent_ids(n_agents)
    now = _sqlite_ts(datetime.now(UTC))
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA journal_mode=OFF")
        cur.execute("PRAGMA synchronous=OFF")
        for c in chunks(n, n_agents, n_teams, days, end, seed):
            inters, results, dims = _records(c, n_teams, agents, now, lambda t: t.replace("T", " "))
            cur.executemany(f"INSERT INTO interactions ({INTERACTION_COLS}) VALUES ({', '.join('?' * 12)})", inters)
            cur.executemany(f"INSERT INTO results ({RESULT_COLS}) VALUES ({', '.join('?' * 23)})", results)
            cur.executemany(f"INSERT INTO result_dimensions ({DIM_COLS}) VALUES (?, ?, ?, ?, ?, ?)", dims)
            raw.commit()
            progress(c["start"] + len(c["agent"]), n)
        cur.execute("PRAGMA journal_mode=DELETE")
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def progress(done: int, total: int) -> None:
    print(f"\r{done:,}/{total:,}", end="", file=sys.stderr, flush=True)
    if done == total:
        print(file=sys.stderr)


def generate(url: str, n: int, n_agents: int, n_teams: int, days: int, end: date, seed: int) -> float:
    """Migrate, add teams and agents, bulk-load `n` interactions; returns the seconds it took."""
    started = time.perf_counter()
    migrate.upgrade(url)
    db = Database(url)
    try:
        with db.session() as session:
            if session.execute(text("SELECT count(*) FROM interactions")).scalar():
                raise SystemExit("the database already holds interactions; use an empty one")
            now = datetime.now(UTC)
            if db.url.startswith("sqlite"):
                now = now.replace(tzinfo=None)  # as UTCDateTime stores it there
            teams = [{"id": f"GT{t:03d}", "now": now} for t in range(n_teams)]
            session.execute(text("INSERT INTO teams (id, created_at) VALUES (:id, :now)"), teams)
            agents = [{"id": a, "team": team_of(i, n_teams), "now": now} for i, a in enumerate(agent_ids(n_agents))]
            session.execute(text("INSERT INTO agents (id, team_id, created_at) VALUES (:id, :team, :now)"), agents)
        load = load_sqlite if make_url(url).get_backend_name() == "sqlite" else load_postgres
        load(db, n, n_agents, n_teams, days, end, seed)
    finally:
        db.dispose()
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="SQLAlchemy URL of an empty database")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--agents", type=int, default=500)
    p.add_argument("--teams", type=int, default=50)
    p.add_argument("--days", type=int, default=180)
    p.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 22), help="last local date")
    p.add_argument("--seed", type=int, default=5)
    a = p.parse_args()
    seconds = generate(a.url, a.n, a.agents, a.teams, a.days, a.end, a.seed)
    print(f"{a.n:,} interactions in {seconds:.1f} s ({a.n / seconds:,.0f}/s)")


if __name__ == "__main__":
    main()
