"""`qa-engine batch`: real files, a real database, real subprocesses killed with SIGKILL, a real
Celery worker on the local Redis, real Whisper on the test calls.

Chat-only batches where audio adds nothing; the recordings are the short synthetic test calls.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import pytest
from conftest import SHARED
from conftest_db import fresh_database
from sqlalchemy import create_engine, func, select, text

from qa_engine.batch.runner import BatchConfig, run_batch
from qa_engine.batch.sources import BatchItem
from qa_engine.batch.worker import BatchOptions, BatchWorker, _Scored
from qa_engine.config import Settings
from qa_engine.schema import Interaction
from qa_engine.store import migrate
from qa_engine.store.db import Database
from qa_engine.store.models import Agent, AuditLog, BatchItemRow, InteractionRow, ResultRow

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "datasets" / "examples" / "interactions.jsonl"
CALLS = SHARED / "audio" / "calls"
EXAMPLE_IDS = {json.loads(line)["interaction_id"] for line in EXAMPLES.read_text("utf-8").splitlines() if line.strip()}


def _chat_folder(root: Path) -> Path:
    """The 5 example interactions plus 3 bad records: a line that is not JSON, a record without
    turns or audio, and a .json file that does not parse."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES, root / "interactions.jsonl")
    (root / "bad.jsonl").write_text('{"interaction_id": "x", oops\n{"interaction_id": "y", "channel": "chat"}\n', "utf-8")
    (root / "broken.json").write_text("{not json", "utf-8")
    return root


def _counts(url: str) -> dict:
    db = Database(url)
    try:
        with db.sessionmaker() as s:
            per_interaction = s.execute(
                select(ResultRow.interaction_id, func.count()).group_by(ResultRow.interaction_id)
            ).all()
            return {
                "interactions": set(s.scalars(select(InteractionRow.id))),
                "results": s.scalar(select(func.count()).select_from(ResultRow)),
                "results_per_interaction": dict(per_interaction),
                "current": s.scalar(select(func.count()).select_from(ResultRow).where(ResultRow.is_current.is_(True))),
                "done": {r.item_key: r for r in s.scalars(select(BatchItemRow).where(BatchItemRow.status == "done"))},
                "failed": {r.item_key: r for r in s.scalars(select(BatchItemRow).where(BatchItemRow.status == "failed"))},
                "ledger_rows": s.scalar(select(func.count()).select_from(BatchItemRow)),
            }
    finally:
        db.dispose()


def _run(source: Path, url: str, **kw):
    stream = io.StringIO()
    report = run_batch(BatchConfig(source=source, database_url=url, **kw), Settings(), progress_stream=stream, tty=False)
    return report, stream.getvalue()


def _cli(*args: str, timeout: float = 600, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa_engine", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, **popen)


# --- chat batches ----------------------------------------------------------------------------------


def test_chat_batch_run_rerun_rescore_and_change(tmp_path):
    source = _chat_folder(tmp_path / "in")
    url = f"sqlite:///{tmp_path / 'qa.db'}"

    report, log = _run(source, url)
    assert (report.items, report.processed, report.skipped, report.failed) == (8, 5, 0, 3)
    assert (report.flagged_red, report.flagged_yellow) == (2, 1)
    assert "items/s, ETA" in log and "failed bad.jsonl:1: invalid JSON" in log
    c = _counts(url)
    assert c["interactions"] == EXAMPLE_IDS
    assert c["results"] == 5 and c["current"] == 5
    assert set(c["done"]) == EXAMPLE_IDS
    assert set(c["failed"]) == {"bad.jsonl:1", "bad.jsonl:2", "broken.json:1"}
    assert "invalid JSON" in c["failed"]["bad.jsonl:1"].reason
    assert "no turns and no audio_path" in c["failed"]["bad.jsonl:2"].reason
    assert "invalid JSON" in c["failed"]["broken.json:1"].reason
    done = c["done"]["example-call-bad"]
    assert done.result_id is not None and done.flag == "red" and done.ruleset_version
    assert done.versions["models"]["emotion"]

    # Rerun: every good item skipped, every bad one tried again and still recorded once.
    report, _ = _run(source, url)
    assert (report.processed, report.skipped, report.failed) == (0, 5, 3)
    c = _counts(url)
    assert c["results"] == 5 and c["ledger_rows"] == 8
    assert {r.attempts for r in c["failed"].values()} == {2}

    # --rescore: a new current result per interaction, the old ones kept.
    report, _ = _run(source, url, rescore=True)
    assert (report.processed, report.skipped, report.failed) == (5, 0, 3)
    c = _counts(url)
    assert c["results"] == 10 and c["current"] == 5 and set(c["results_per_interaction"].values()) == {2}
    assert c["ledger_rows"] == 8  # same items, same versions: the same ledger rows

    # A changed interaction is scored again; the others are not.
    lines = (source / "interactions.jsonl").read_text("utf-8").splitlines()
    first = json.loads(lines[0])
    first["turns"][0]["text"] += "请问您贵姓？"
    (source / "interactions.jsonl").write_text("\n".join([json.dumps(first, ensure_ascii=False), *lines[1:]]) + "\n", "utf-8")
    report, _ = _run(source, url)
    assert (report.processed, report.skipped, report.failed) == (1, 4, 3)
    c = _counts(url)
    assert c["results_per_interaction"][first["interaction_id"]] == 3
    assert c["ledger_rows"] == 9  # the changed content is a new ledger item

    db = Database(url)
    with db.sessionmaker() as s:
        runs = s.scalars(select(AuditLog).where(AuditLog.action == "batch.run")).all()
    db.dispose()
    assert [r.detail["processed"] for r in runs] == [5, 0, 5, 1]


@pytest.mark.slow
def test_cli_exit_codes_json_report_and_dry_run(tmp_path):
    source = _chat_folder(tmp_path / "in")
    url = f"sqlite:///{tmp_path / 'qa.db'}"

    dry = _cli("batch", str(source), "--database-url", url, "--dry-run")
    assert dry.returncode == 1, dry.stderr  # the unreadable records are known failures already
    plan = json.loads(dry.stdout)
    assert plan["dry_run"] and (plan["processed"], plan["failed"]) == (5, 3)
    assert not (tmp_path / "qa.db").exists()  # a dry run writes nothing, not even the schema

    out = _cli("batch", str(source), "--database-url", url, "--report", str(tmp_path / "report.json"))
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert (report["processed"], report["failed"]) == (5, 3)
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert "failed                    3" in out.stderr and "3 items failed" in out.stderr
    assert "Traceback" not in out.stderr

    good = tmp_path / "good"
    good.mkdir()
    shutil.copy(EXAMPLES, good / "chats.jsonl")
    ok = _cli("batch", str(good), "--database-url", url)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["skipped"] == 5  # stored by the run before, from another folder

    missing = _cli("batch", str(tmp_path / "nope"), "--database-url", url)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith("qa-engine: error: source not found")
    assert "Traceback" not in missing.stderr

    no_redis = {**os.environ, "QA_CELERY_BROKER_URL": "redis://127.0.0.1:1/0", "QA_CELERY_RESULT_BACKEND": "redis://127.0.0.1:1/0"}
    down = _cli("batch", str(good), "--executor", "celery", "--database-url", url, env=no_redis, timeout=120)
    assert down.returncode == 2
    assert down.stderr.strip().splitlines()[-1].startswith("qa-engine: error: cannot reach the Celery broker")
    assert "Traceback" not in down.stderr


def test_manifest_dates_channels_and_known_agents(tmp_path):
    files = tmp_path / "chats"
    files.mkdir()
    rows = ["path,interaction_id,agent_id,team_id,started_at,queue"]
    days = ["2026-11-20", "2026-11-21", "2026-11-21", "2026-11-22", "2026-11-22"]
    for (line, day) in zip(EXAMPLES.read_text("utf-8").splitlines(), days, strict=True):
        record = json.loads(line)
        record.pop("started_at", None)
        (files / f"{record['interaction_id']}.json").write_text(json.dumps(record, ensure_ascii=False), "utf-8")
        rows.append(f"chats/{record['interaction_id']}.json,m-{record['interaction_id']},{record['agent_id']},T-m,{day}T10:00:00+08:00,vip")
    rows.append("chats/missing.wav,m-missing,A1024,T-m,2026-11-21T11:00:00+08:00,vip")
    rows.append(",m-nopath,A1024,T-m,2026-11-21T11:00:00+08:00,vip")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n", "utf-8")
    url = f"sqlite:///{tmp_path / 'qa.db'}"

    report, _ = _run(manifest, url, since=date(2026, 11, 21), until=date(2026, 11, 21))
    # 2 chats of 11-21, the missing recording of 11-21, the row without a path (no date: kept).
    assert (report.items, report.processed, report.failed) == (4, 2, 2)
    c = _counts(url)
    assert c["interactions"] == {"m-example-call-bad", "m-example-chat-slow"}
    assert "file not found" in c["failed"]["m-missing"].reason
    assert "no path" in next(r.reason for k, r in c["failed"].items() if k.startswith("manifest.csv:"))
    db = Database(url)
    with db.sessionmaker() as s:
        row = s.get(InteractionRow, "m-example-chat-slow")
        assert row.team_id == "T-m" and row.meta["queue"] == "vip"
        assert str(row.occurred_date) == "2026-11-21"
    db.dispose()

    # --known-agents: agents must already be in the agents table.
    report, _ = _run(manifest, url, known_agents=True, since=date(2026, 11, 22))
    assert (report.processed, report.failed) == (0, 4)
    assert any("unknown agent 'A3002'" in f["reason"] for f in report.failures)
    db = Database(url)
    with db.session() as s:
        s.add(Agent(id="A3002"))
    db.dispose()
    report, _ = _run(manifest, url, known_agents=True, since=date(2026, 11, 22))
    assert (report.processed, report.failed) == (1, 3)  # A3002's chat; A3003 still unknown
    assert "m-example-chat-soothed" in _counts(url)["done"]


def test_two_workers_storing_the_same_item_store_it_once(tmp_path, inspector):
    """The race a rerun or a redelivered Celery task can cause: both score, one stores."""
    url = f"sqlite:///{tmp_path / 'qa.db'}"
    migrate.upgrade(url)
    record = json.loads(EXAMPLES.read_text("utf-8").splitlines()[0])
    item = BatchItem(key=record["interaction_id"], source="test", record=record)
    options = BatchOptions(url, "race")
    a, b = (BatchWorker(Settings(), inspector=inspector) for _ in range(2))
    from qa_engine.batch.sources import item_content_hash
    from qa_engine.io import parse_record
    from qa_engine.store.ledger import versions_hash

    interaction = parse_record(record, Settings())
    digest = item_content_hash(item, interaction)
    versions = a.versions(False)
    scored = [w.inspector.inspect(w.preparer.prepare(interaction)) for w in (a, b)]
    for r in scored:
        r.versions = versions
    prepared = a.preparer.prepare(interaction)
    vdigest = versions_hash(versions)
    (first,) = a._store([_Scored(item, prepared, scored[0], digest, versions, vdigest, None)], options)
    (second,) = b._store([_Scored(item, prepared, scored[1], digest, versions, vdigest, None)], options)
    assert (first.status, second.status) == ("done", "skipped")
    c = _counts(url)
    assert c["results"] == 1 and len(c["done"]) == 1
    updated = c["done"][item.key].updated_at
    # Inside a chunk: the item stored meanwhile is skipped, left as it was (attempts, updated_at),
    # and the other item of the chunk is stored in the same transaction.
    other = parse_record({**record, "interaction_id": "race-other"}, Settings())
    other_item = BatchItem(key="race-other", source="test", record={**record, "interaction_id": "race-other"})
    other_scored = b.inspector.inspect(b.preparer.prepare(other))
    other_scored.versions = versions
    chunk = [_Scored(item, prepared, scored[1], digest, versions, vdigest, None),
             _Scored(other_item, b.preparer.prepare(other), other_scored, item_content_hash(other_item, other), versions, vdigest, None)]
    assert [o.status for o in b._store(chunk, options)] == ["skipped", "done"]
    c = _counts(url)
    assert c["results_per_interaction"] == {item.key: 1, "race-other": 1}
    assert (c["done"][item.key].attempts, c["done"][item.key].updated_at) == (1, updated)
    assert c["done"]["race-other"].attempts == 1
    a.close()
    b.close()


def test_a_chunk_scored_together_gives_each_item_the_outcome_it_gets_alone(tmp_path, inspector, monkeypatch):
    """BatchWorker.run_many (the local executors' chunks) against run() item by item, into two
    databases: the same statuses, reasons, scores and flags, an unreadable record and an unknown
    agent failing only themselves; and an engine failure inside the chunk stays with its item."""
    records = [json.loads(line) for line in EXAMPLES.read_text("utf-8").splitlines() if line.strip()]
    items = [BatchItem(key=r["interaction_id"], source=f"ex:{n}", record=r) for n, r in enumerate(records, 1)]
    items.insert(2, BatchItem(key="bad:1", source="bad:1", error="invalid JSON: Expecting value"))
    items.insert(4, BatchItem(key="nt", source="nt:1", record={"interaction_id": "nt", "channel": "chat"}))

    def outcomes(url: str, chunked: bool):
        migrate.upgrade(url)
        worker = BatchWorker(Settings(), inspector=inspector)
        options = BatchOptions(url, "chunk")
        got = worker.run_many(items, options) if chunked else [worker.run(i, options) for i in items]
        worker.close()
        return [(o.key, o.status, o.reason, o.flag, o.score) for o in got]

    alone = outcomes(f"sqlite:///{tmp_path / 'alone.db'}", chunked=False)
    together = outcomes(f"sqlite:///{tmp_path / 'together.db'}", chunked=True)
    assert together == alone
    assert [s for _, s, *_ in together] == ["done", "done", "failed", "done", "failed", "done", "done"]
    assert {r: c["results"] for r, c in ((r, _counts(f"sqlite:///{tmp_path / r}.db")) for r in ("alone", "together"))} \
        == {"alone": 5, "together": 5}

    # the engine failing on one interaction of the chunk: that item fails, the others are stored
    real = inspector.inspect

    def inspect(item):
        if item.interaction_id == records[1]["interaction_id"]:
            raise RuntimeError("model crashed")
        return real(item)

    monkeypatch.setattr(inspector, "inspect_many", lambda items: (_ for _ in ()).throw(RuntimeError("chunk failed")))
    monkeypatch.setattr(inspector, "inspect", inspect)
    url = f"sqlite:///{tmp_path / 'broken.db'}"
    migrate.upgrade(url)
    worker = BatchWorker(Settings(), inspector=inspector)
    got = worker.run_many(items, BatchOptions(url, "broken"))
    worker.close()
    assert [(o.key, o.status) for o in got if o.status == "failed"] == [
        (records[1]["interaction_id"], "failed"), ("bad:1", "failed"), ("nt", "failed")]
    assert [o.reason for o in got if o.key == records[1]["interaction_id"]] == ["internal error: RuntimeError: model crashed"]
    assert _counts(url)["results"] == 4


def test_progress_bar_on_a_terminal(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(EXAMPLES, source / "chats.jsonl")
    stream = io.StringIO()
    run_batch(BatchConfig(source=source, database_url=f"sqlite:///{tmp_path / 'qa.db'}"), Settings(), progress_stream=stream, tty=True)
    out = stream.getvalue()
    assert "5/5" in out and "item/s" in out and "ok=5" in out


def test_postgresql_pool_of_two(tmp_path):
    source = _chat_folder(tmp_path / "in")
    with fresh_database("postgresql", tmp_path) as url:
        report, _ = _run(source, url, workers=2)
        assert (report.processed, report.skipped, report.failed) == (5, 0, 3)
        report, _ = _run(source, url, workers=2)
        assert (report.processed, report.skipped, report.failed) == (0, 5, 3)
        c = _counts(url)
        assert c["interactions"] == EXAMPLE_IDS and c["results"] == 5 and c["ledger_rows"] == 8
        assert set(c["failed"]) == {"bad.jsonl:1", "bad.jsonl:2", "broken.json:1"}


def test_pool_that_cannot_load_the_models_stops_the_batch(tmp_path):
    """A setup problem in the pool processes aborts the run; it does not mark every item failed. The
    processes load what the run's settings name (passed to them, not read again from the environment):
    here a Whisper folder whose model.bin is not a model, which only the pool processes load."""
    from qa_engine.batch.plan import ExecutorUnavailable

    source = _chat_folder(tmp_path / "in")
    shutil.copy(CALLS / "call_mixed.mono.wav", source / "call.wav")
    broken = tmp_path / "whisper"
    broken.mkdir()
    (broken / "model.bin").write_bytes(b"not a CTranslate2 model")
    url = f"sqlite:///{tmp_path / 'qa.db'}"
    settings = Settings(whisper_model_dir=broken)
    with pytest.raises(ExecutorUnavailable, match="worker process failed to start"):
        run_batch(BatchConfig(source=source, database_url=url, workers=2), settings, progress_stream=io.StringIO(), tty=False)
    assert _counts(url)["ledger_rows"] == 0


# --- recordings ------------------------------------------------------------------------------------


def _audio_folder(root: Path, copies: int) -> tuple[Path, set[str], set[str]]:
    """`copies` recordings (the 21 s test call, mono and stereo in turn), a corrupt one, an empty
    one and a broken chat file. Returns the folder, the good ids and the bad keys."""
    root.mkdir(parents=True)
    good = set()
    for i in range(copies):
        mode = "mono" if i % 2 == 0 else "stereo"
        shutil.copy(CALLS / f"call_mixed.{mode}.wav", root / f"call-{i:02d}.wav")
        good.add(f"call-{i:02d}")
    (root / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(4000))
    (root / "empty.wav").write_bytes(b"")
    (root / "notes.json").write_text('{"interaction_id": "n1", "channel": ', "utf-8")
    return root, good, {"corrupt", "empty", "notes.json:1"}


def _ledger(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not conn.dialect.has_table(conn, "batch_items"):
                return 0, 0
            done = conn.execute(text("SELECT count(*) FROM batch_items WHERE status = 'done'")).scalar()
            failed = conn.execute(text("SELECT count(*) FROM batch_items WHERE status = 'failed'")).scalar()
            return done, failed
    except Exception:  # noqa: BLE001 - the database is being created by the run
        return 0, 0
    finally:
        engine.dispose()


@pytest.mark.slow
def test_audio_batch_killed_with_sigkill_then_rerun(tmp_path):
    source, good, bad = _audio_folder(tmp_path / "calls", copies=4)
    url = f"sqlite:///{tmp_path / 'qa.db'}"
    args = [sys.executable, "-m", "qa_engine", "batch", str(source), "--workers", "2", "--database-url", url]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 400
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            done, _ = _ledger(url)
            if done >= 1:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the batch ended before it could be killed: " + proc.stderr.read().decode()[-2000:]
        os.killpg(proc.pid, signal.SIGKILL)  # the batch and its pool processes, mid-item
        proc.wait(timeout=30)
        time.sleep(1)  # let the kernel finish tearing down the pool processes before counting
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    done_at_kill, _ = _ledger(url)
    assert 1 <= done_at_kill < len(good), f"kill did not land in the middle (done {done_at_kill})"

    rerun = _cli("batch", str(source), "--database-url", url, "--workers", "1")
    assert rerun.returncode == 1, rerun.stderr[-3000:]
    report = json.loads(rerun.stdout)
    assert report["skipped"] == done_at_kill
    assert report["processed"] == len(good) - done_at_kill
    assert report["failed"] == len(bad)
    assert report["audio_hours"] > 0 and report["real_time_factor"] > 0

    c = _counts(url)
    assert c["interactions"] == good  # every good item, nothing else
    assert c["results_per_interaction"] == {i: 1 for i in good}  # exactly once
    assert set(c["done"]) == good and set(c["failed"]) == bad
    assert "not a readable audio file" in c["failed"]["corrupt"].reason
    assert "empty file" in c["failed"]["empty"].reason
    assert "invalid JSON" in c["failed"]["notes.json:1"].reason
    for row in c["done"].values():
        assert row.audio_seconds == pytest.approx(21.02, abs=0.1)
        assert row.versions["models"]["asr"].startswith("faster-whisper:")
    db = Database(url)
    with db.sessionmaker() as s:
        stored = s.get(InteractionRow, "call-01")
        assert stored.channel == "call" and len(stored.turns) >= 4
        assert stored.meta["asr"]["mode"] == "stereo"
        assert any("您好" in t.text for t in stored.turns if t.role == "agent")
    db.dispose()

    again = _cli("batch", str(source), "--database-url", url)
    assert json.loads(again.stdout)["skipped"] == len(good)


# --- Celery ----------------------------------------------------------------------------------------


class Worker:
    """A real `qa-engine worker` subprocess (its own process group) on a queue of the local Redis."""

    def __init__(self, tmp_path: Path, queue: str, name: str, *, concurrency: int = 1, env: dict | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.queue, self.log = queue, tmp_path / f"worker-{name}.log"
        self.node = f"{queue}-{name}@"  # the node name starts so (%h: the host)
        with self.log.open("w") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "qa_engine", "worker", "-Q", queue, "-c", str(concurrency), "-n", f"{queue}-{name}@%h",
                 *args],
                cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **(env or {})},
            )
        deadline = time.monotonic() + 120
        while " ready." not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("the Celery worker did not start:\n" + self.text()[-3000:])
            time.sleep(0.3)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def _kill_mid_item(worker: Worker, *, whole_group: bool = False) -> str:
    """SIGKILL a worker while its pool process is in the middle of an item (not between two: then it
    would hold nothing to lose): freeze it, find a task it started and has not finished (its Celery
    state is STARTED), kill; else let it go on a moment and look again. Returns the task id."""
    r = _redis()
    for _ in range(200):
        os.killpg(worker.proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 5  # the signal lands a moment later: wait until every process is stopped
        while not all(st.startswith("T") for st in subprocess.run(
                ["ps", "-o", "stat=", "-g", str(worker.proc.pid)], capture_output=True, text=True).stdout.split()):
            assert time.monotonic() < deadline, "the worker did not stop"
            time.sleep(0.005)
        received = re.findall(r"score_item\[([0-9a-f]+)\] received", worker.text())
        for task_id in reversed(received[-3:]):
            raw = r.get(f"celery-task-meta-{task_id}")
            if raw is not None and json.loads(raw).get("status") == "STARTED":
                if whole_group:
                    os.killpg(worker.proc.pid, signal.SIGKILL)  # a machine's power loss
                else:
                    os.kill(worker.proc.pid, signal.SIGKILL)  # the main process only, as the OOM killer would
                worker.proc.wait(timeout=10)  # dead before anything of it may run again
                try:
                    os.killpg(worker.proc.pid, signal.SIGCONT)  # (its pool process died with it: PDEATHSIG)
                except ProcessLookupError:
                    pass
                return task_id
        os.killpg(worker.proc.pid, signal.SIGCONT)
        time.sleep(0.02)
    pytest.fail("never caught the worker in the middle of an item")


def _queue() -> str:
    return f"qa-test-{uuid.uuid4().hex[:10]}"


def _redis():
    import redis

    return redis.Redis.from_url(Settings().celery_result_backend)


def _drop_queue(queue: str) -> None:
    """Leave nothing of a test queue in the shared Redis: the list, kombu's bindings, and the messages
    a killed worker left unacknowledged (kombu would put them back in the list after the visibility
    timeout)."""
    r = _redis()
    for tag, raw in r.hgetall("unacked").items():
        try:
            routing_key = json.loads(raw)[2]
        except (ValueError, IndexError, TypeError):
            continue
        if routing_key == queue:
            r.hdel("unacked", tag)
            r.zrem("unacked_index", tag)
    r.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


@pytest.fixture
def celery_worker(tmp_path):
    """A real `qa-engine worker` on its own queue of the local Redis."""
    worker = Worker(tmp_path, _queue(), "w")
    yield worker.queue, worker.log
    worker.stop()
    _drop_queue(worker.queue)


def _long_chats(root: Path, n: int) -> set[str]:
    """`n` chats with distinct ids, each the example's turns 40 times (~0.1 s to score here), so a run
    of a couple of dozen lasts long enough to kill something in the middle of it."""
    root.mkdir(parents=True)
    examples = [json.loads(line) for line in EXAMPLES.read_text("utf-8").splitlines() if line.strip()]
    ids, lines = set(), []
    for i in range(n):
        record = dict(examples[i % len(examples)])
        record["interaction_id"] = f"long-{i:03d}"
        record["turns"] = record["turns"] * 40
        ids.add(record["interaction_id"])
        lines.append(json.dumps(record, ensure_ascii=False))
    (root / "chats.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    return ids


def _driver(tmp_path: Path, name: str, source: Path, url: str, queue: str, *extra: str, env: dict | None = None):
    """`qa-engine batch --executor celery` as a subprocess, stdout and stderr to files."""
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa_engine", "batch", str(source), "--executor", "celery", "--queue", queue,
         "--database-url", url, *extra],
        cwd=REPO, stdout=out.open("w"), stderr=err.open("w"), start_new_session=True,
        env={**os.environ, "QA_BATCH_HEARTBEAT_S": "1", "QA_BATCH_CHUNK": "1", **(env or {})},
    )
    return proc, out, err


def _wait_for(predicate, timeout: float, what: str, proc=None, err: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline or (proc is not None and proc.poll() is not None):
            tail = err.read_text(errors="replace")[-3000:] if err is not None else ""
            pytest.fail(f"{what}: not reached (exit {proc.poll() if proc else None})\n{tail}")
        time.sleep(0.1)


@pytest.mark.slow
def test_celery_executor_with_a_real_worker(tmp_path, celery_worker):
    queue, log = celery_worker
    source = _chat_folder(tmp_path / "in")
    shutil.copy(CALLS / "call_mixed.stereo.wav", source / "call-x.wav")
    (source / "corrupt.wav").write_bytes(b"RIFF" + os.urandom(2000))
    url = f"sqlite:///{tmp_path / 'qa.db'}"

    report, _ = _run(source, url, executor="celery", queue=queue)
    assert (report.processed, report.skipped, report.failed) == (6, 0, 4), report.failures
    assert report.audio_seconds == pytest.approx(21.02, abs=0.1)
    # The report names the worker that took part and what it did (before: "workers": 1, no names).
    assert report.workers == 1 and len(report.worker_stats) == 1
    (node, stats), = report.worker_stats.items()
    assert node.startswith(f"{queue}-w@") and (stats["done"], stats["failed"]) == (6, 4) and stats["item_seconds"] > 0
    assert "celery, 1 worker)" in report.table() and node in report.table()
    c = _counts(url)
    assert c["interactions"] == EXAMPLE_IDS | {"call-x"} and c["results"] == 6
    assert set(c["failed"]) == {"bad.jsonl:1", "bad.jsonl:2", "broken.json:1", "corrupt"}
    assert c["done"]["call-x"].versions["models"]["asr"].startswith("faster-whisper:")
    worker_log = log.read_text(errors="replace")
    # the worker did the work, not this process: a task per chunk (the 3 bad records, each
    # recording alone, the 5 chats)
    assert worker_log.count("succeeded in") == 4

    report, _ = _run(source, url, executor="celery", queue=queue)
    assert (report.processed, report.skipped, report.failed) == (0, 6, 4)
    assert _counts(url)["results"] == 6


# --- Celery: never waiting silently (issue 17) ---------------------------------------------------------


def test_celery_no_worker_says_so_at_once_or_waits_saying_so(tmp_path):
    queue = _queue()  # nobody consumes it
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(EXAMPLES, source / "chats.jsonl")
    url = f"sqlite:///{tmp_path / 'qa.db'}"
    try:
        started = time.monotonic()
        try:
            out = _cli("batch", str(source), "--executor", "celery", "--queue", queue, "--database-url", url, timeout=90)
        except subprocess.TimeoutExpired:
            pytest.fail("qa-engine batch waited silently with no worker on the queue")
        assert out.returncode == 2, out.stderr[-2000:]
        assert time.monotonic() - started < 60
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith(f"qa-engine: error: no Celery worker consumes queue '{queue}'"), last
        assert f"qa-engine worker -Q {queue}" in last and "--wait-for-workers" in last
        assert "Traceback" not in out.stderr
        assert _redis().llen(queue) == 0  # nothing was queued

        # --wait-for-workers: waits, saying so every heartbeat (1 s here); SIGTERM ends it (143).
        proc, _out, err = _driver(tmp_path, "wait", source, url, queue, "--wait-for-workers")
        try:
            _wait_for(lambda: err.read_text().count("waiting for a worker on queue") >= 3, 90, "three waiting lines", proc, err)
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=30)
        text = err.read_text()
        assert rc == 143, text[-2000:]
        assert f"waiting for a worker on queue '{queue}'" in text and f"qa-engine worker -Q {queue}" in text
        assert text.strip().splitlines()[-1].startswith("qa-engine: error: stopped (SIGTERM)")
        assert "Traceback" not in text
    finally:
        _drop_queue(queue)


@pytest.mark.slow
def test_celery_worker_killed_mid_run_its_item_is_handed_back(tmp_path):
    """kill -9 of a worker's main process (its pool process dies with it) while it holds an item: the
    driver notices, hands the item back, a second worker scores it, the batch ends by itself."""
    queue = _queue()
    ids = _long_chats(tmp_path / "in", 24)
    a = b = None
    with fresh_database("postgresql", tmp_path) as url:
        try:
            a = Worker(tmp_path, queue, "a")
            proc, out, err = _driver(tmp_path, "run", tmp_path / "in", url, queue, env={"QA_BATCH_NO_WORKER_S": "300", "QA_BATCH_CHUNK": "4"})
            _wait_for(lambda: _ledger(url)[0] >= 2, 180, "two items done", proc, err)
            _kill_mid_item(a)  # the main process only; its pool process dies with it
            b = Worker(tmp_path, queue, "b", concurrency=2)
            try:
                rc = proc.wait(timeout=240)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail("the batch stalled after a worker was killed:\n" + err.read_text()[-3000:])
            log = err.read_text()
            assert rc == 0, log[-3000:]
            report = json.loads(out.read_text())
            assert (report["processed"] + report["skipped"], report["failed"]) == (24, 0), report
            assert report["handed_back"] >= 1 and "handed back (try 2 of 3)" in log
            c = _counts(url)
            assert c["interactions"] == ids and c["results_per_interaction"] == {i: 1 for i in ids}  # exactly once
            # Both workers in the report, with what each did; the heartbeat said what was going on.
            assert report["workers"] == 2 and sorted(n.split("@")[0] for n in report["worker_stats"]) == [f"{queue}-a", f"{queue}-b"]
            assert sum(s["done"] + s["skipped"] for s in report["worker_stats"].values()) == report["processed"] + report["stored_meanwhile"]
            assert f"no worker consumes queue '{queue}'" in log or "(gone)" in log
            assert "queued" in log and "running" in log and "items/s, ETA" in log
            # Each of the 2 processes of worker b got half of the cores (the local pool's rule).
            threads = max(1, (os.cpu_count() or 1) // 2)
            assert b.text().count(f"{threads} ONNX / {threads} ASR threads ({os.cpu_count()} cores / 2 processes)") == 2
        finally:
            for w in (a, b):
                if w is not None:
                    w.stop()
            _drop_queue(queue)


@pytest.mark.slow
def test_celery_sigterm_partial_report_and_rerun_after_a_killed_driver(tmp_path):
    queue = _queue()
    ids = _long_chats(tmp_path / "in", 24)
    url = f"sqlite:///{tmp_path / 'qa.db'}"
    w = Worker(tmp_path, queue, "w", env={"QA_BATCH_RESULT_EXPIRY_S": "120"})
    try:
        # SIGTERM in the middle: the partial report (table and JSON), exit 143.
        proc, out, err = _driver(tmp_path, "term", tmp_path / "in", url, queue, "--report", str(tmp_path / "term.json"))
        _wait_for(lambda: _ledger(url)[0] >= 2, 180, "two items done", proc, err)
        os.killpg(w.proc.pid, signal.SIGSTOP)  # so that tasks are still queued when the driver stops
        try:
            _wait_for(lambda: re.search(r"/24 \(\d+%\) done [2-9]", err.read_text()), 60, "two outcomes collected", proc, err)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 143, err.read_text()[-3000:]
        finally:
            os.killpg(w.proc.pid, signal.SIGCONT)
        report = json.loads(out.read_text())
        assert report["interrupted"] == "SIGTERM" and report["processed"] >= 1 and report["not_done"] >= 1
        assert report["processed"] + report["skipped"] + report["failed"] + report["not_done"] == 24
        assert json.loads((tmp_path / "term.json").read_text()) == report
        text = err.read_text()
        assert "stopped early" in text and text.strip().splitlines()[-1].startswith("qa-engine: error: stopped (SIGTERM)")
        # Its tasks still queued are skipped by the worker without scoring.
        _wait_for(lambda: _redis().llen(queue) == 0, 120, "the stopped run's tasks drained")
        skipped_cheaply = w.text().count("its batch run is over")
        assert skipped_cheaply >= 1

        # kill -9 of the driver with the worker paused: its queued tasks are skipped once its Redis
        # mark expires (3 heartbeats), not scored again beside the rerun's.
        done_before = _ledger(url)[0]
        proc, out, err = _driver(tmp_path, "killed", tmp_path / "in", url, queue)
        _wait_for(lambda: _ledger(url)[0] > done_before, 180, "the second run scoring", proc, err)
        os.killpg(w.proc.pid, signal.SIGSTOP)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        time.sleep(4)  # > 3 heartbeats of 1 s
        os.killpg(w.proc.pid, signal.SIGCONT)
        rerun = _cli("batch", str(tmp_path / "in"), "--executor", "celery", "--queue", queue, "--database-url", url,
                     env={**os.environ, "QA_BATCH_HEARTBEAT_S": "1"}, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        report = json.loads(rerun.stdout)
        assert report["processed"] + report["skipped"] == 24 and report["failed"] == 0
        assert report["stored_meanwhile"] <= 1  # the killed run's item in progress, if any
        assert w.text().count("its batch run is over") > skipped_cheaply
        c = _counts(url)
        assert c["interactions"] == ids and c["results_per_interaction"] == {i: 1 for i in ids}
        # Result keys the killed driver left behind expire after QA_BATCH_RESULT_EXPIRY_S.
        r = _redis()
        task_ids = set(re.findall(r"score_item\[([0-9a-f-]+)\] succeeded", w.text()))
        ttls = [r.ttl(f"celery-task-meta-{t}") for t in task_ids]
        left = [t for t in ttls if t != -2]
        assert left and all(0 < t <= 120 for t in left), ttls
    finally:
        w.stop()
        _drop_queue(queue)


def test_worker_gives_up_on_an_unreachable_redis(tmp_path):
    env = {**os.environ, "QA_CELERY_BROKER_URL": "redis://127.0.0.1:1/0", "QA_CELERY_RESULT_BACKEND": "redis://127.0.0.1:1/0",
           "QA_WORKER_BROKER_WAIT_S": "3"}
    started = time.monotonic()
    try:
        out = _cli("worker", "-Q", _queue(), env=env, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("qa-engine worker kept retrying an unreachable Redis")
    assert out.returncode == 2, out.stderr[-2000:]
    assert time.monotonic() - started < 60
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("qa-engine: error: cannot reach the Celery broker") and "gave up after 3 s (QA_WORKER_BROKER_WAIT_S)" in last
    assert "Traceback" not in out.stderr


def test_thread_rule_and_celery_settings(monkeypatch):
    """One thread rule for the local pool and Celery workers; visibility timeout and result expiry from
    the settings (a fresh interpreter: the Celery app is built at import)."""
    from qa_engine.batch.worker import pool_threads

    cores = os.cpu_count() or 1
    assert pool_threads(1, Settings()) == cores and pool_threads(cores * 4, Settings()) == 1
    assert pool_threads(2, Settings(onnx_threads=3)) is None  # configured: kept
    env = {**os.environ, "QA_BATCH_VISIBILITY_TIMEOUT_S": "900", "QA_BATCH_RESULT_EXPIRY_S": "300", "QA_WORKER_BROKER_WAIT_S": "60"}
    out = subprocess.run(
        [sys.executable, "-c", "from qa_engine.batch.celery_app import app; c = app.conf; "
         "print(c.broker_transport_options['visibility_timeout'], c.result_expires, c.broker_connection_max_retries)"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.stdout.split() == ["900", "300", "7"], out.stderr[-2000:]


@pytest.mark.slow
def test_celery_report_counts_what_another_run_stored_meanwhile(tmp_path, celery_worker, inspector, monkeypatch):
    """An item planned as to-do but stored by someone else before its task ran (a killed driver's task
    still running, the API) is skipped by the worker and counted as stored meanwhile."""
    from qa_engine.batch import runner

    queue, _log = celery_worker
    n = 12
    _long_chats(tmp_path / "in", n)
    url = f"sqlite:///{tmp_path / 'qa.db'}"
    last = json.loads((tmp_path / "in" / "chats.jsonl").read_text("utf-8").splitlines()[-1])

    # The other run stores the last item right after this run has planned it and before any task is
    # sent: the moment the test is about, without racing the worker (an earlier version stored it at
    # the first outcome, and a quiet machine had sometimes scored all 40 items by then).
    def plan_then_store_the_last_one(*args, **kwargs):
        plan = make_plan(*args, **kwargs)
        assert last["interaction_id"] in {i.key for i in plan.todo}
        other = BatchWorker(Settings(), inspector=inspector)
        item = BatchItem(key=last["interaction_id"], source=f"chats.jsonl:{last['interaction_id']}", record=last)
        assert other.run(item, BatchOptions(url, "another-run")).status == "done"
        other.close()
        return plan

    make_plan = runner.make_plan
    monkeypatch.setattr(runner, "make_plan", plan_then_store_the_last_one)
    report = run_batch(BatchConfig(source=tmp_path / "in", database_url=url, executor="celery", queue=queue),
                       Settings().model_copy(update={"batch_chunk": 8}), progress_stream=io.StringIO(), tty=False)
    assert (report.processed, report.skipped, report.stored_meanwhile, report.failed) == (n - 1, 1, 1, 0)
    assert "(1 stored meanwhile by another run)" in report.table()
    assert _counts(url)["results_per_interaction"][last["interaction_id"]] == 1


@pytest.mark.slow
def test_celery_item_fails_worker_lost_after_max_tries(tmp_path):
    """QA_BATCH_MAX_TRIES=1: the item held by a killed worker is not sent again but fails with
    "worker lost", recorded in the ledger; the rest is scored; exit 1."""
    queue = _queue()
    ids = _long_chats(tmp_path / "in", 12)
    url = f"sqlite:///{tmp_path / 'qa.db'}"
    a = b = None
    try:
        a = Worker(tmp_path, queue, "a")
        proc, out, err = _driver(tmp_path, "run", tmp_path / "in", url, queue, env={"QA_BATCH_MAX_TRIES": "1", "QA_BATCH_CHUNK": "3"})
        _wait_for(lambda: _ledger(url)[0] >= 1, 180, "an item done", proc, err)
        _kill_mid_item(a, whole_group=True)  # the whole machine: main and pool process
        b = Worker(tmp_path, queue, "b")
        rc = proc.wait(timeout=240)
        report = json.loads(out.read_text())
        assert rc == 1, err.read_text()[-3000:]
        # the lost task's chunk of 3 fails, each item with the reason, recorded in the ledger
        assert report["failed"] == 3 and report["processed"] + report["skipped"] == 9 and report["handed_back"] == 0
        c = _counts(url)
        for lost in report["failures"]:
            assert lost["reason"].startswith(f"worker lost: {queue}-a@") and lost["reason"].endswith("(1 try, QA_BATCH_MAX_TRIES)")
            assert c["failed"][lost["key"]].reason == lost["reason"]
        assert c["interactions"] == ids - {f["key"] for f in report["failures"]} and set(c["results_per_interaction"].values()) == {1}
    finally:
        for w in (a, b):
            if w is not None:
                w.stop()
        _drop_queue(queue)


def test_local_pool_sigterm_partial_report(tmp_path):
    """SIGTERM to a local-pool batch: the pool processes are ended, the partial report written, exit 143."""
    _long_chats(tmp_path / "in", 60)
    url = f"sqlite:///{tmp_path / 'qa.db'}"
    out, err = tmp_path / "out", tmp_path / "err"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa_engine", "batch", str(tmp_path / "in"), "--workers", "2", "--database-url", url],
        cwd=REPO, stdout=out.open("w"), stderr=err.open("w"), start_new_session=True,
        # small chunks: with the default 64 a worker may store all 60 in one commit before the signal
        env={**os.environ, "QA_BATCH_CHUNK": "2"},
    )
    try:
        _wait_for(lambda: _ledger(url)[0] >= 2, 180, "two items done", proc, err)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert rc == 143, err.read_text()[-3000:]
    report = json.loads(out.read_text())
    assert report["interrupted"] == "SIGTERM" and report["not_done"] >= 1
    assert report["processed"] + report["not_done"] == 60
    assert err.read_text().strip().splitlines()[-1].startswith("qa-engine: error: stopped (SIGTERM)")
    deadline = time.monotonic() + 15  # the pool processes end with it, not after their item
    while (left := subprocess.run(["ps", "-o", "pid=,args=", "-g", str(proc.pid)], capture_output=True, text=True).stdout.strip()):
        assert time.monotonic() < deadline, f"pool processes left running:\n{left}"
        time.sleep(0.2)


@pytest.mark.slow
def test_celery_routes_calls_and_chats_to_their_own_queues(tmp_path):
    """Two queues, each consumed by its own worker (a GPU machine's for calls, a CPU machine's for
    chats, `--no-asr`): with QA_BATCH_CALL_QUEUE / QA_BATCH_CHAT_QUEUE set, the batch sends the
    recordings to the one and the chats to the other; each item is scored by the worker of its queue,
    the report says which worker took what from where, every item is stored once. A night of chats
    needs no call worker; a recording with none on the call queue is refused at once, naming it."""
    calls_q, chats_q = f"{_queue()}-calls", f"{_queue()}-chats"
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(EXAMPLES, source / "chats.jsonl")  # 5 chats
    shutil.copy(CALLS / "call_mixed.mono.wav", source / "call-m.wav")  # 21 s each
    shutil.copy(CALLS / "call_mixed.stereo.wav", source / "call-s.wav")
    url = f"sqlite:///{tmp_path / 'qa.db'}"
    env = {**os.environ, "QA_BATCH_CALL_QUEUE": calls_q, "QA_BATCH_CHAT_QUEUE": chats_q, "QA_BATCH_HEARTBEAT_S": "1"}
    calls = chats = None
    try:
        calls = Worker(tmp_path, calls_q, "gpu")
        chats = Worker(tmp_path, chats_q, "cpu", args=("--no-asr",))
        out = _cli("batch", str(source), "--executor", "celery", "--database-url", url, env=env, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        report = json.loads(out.stdout)
        assert (report["processed"], report["skipped"], report["failed"]) == (7, 0, 0), report["failures"]
        assert report["queues"] == {calls_q: 2, chats_q: 5}
        stats = report["worker_stats"]
        assert report["workers"] == 2 and len(stats) == 2
        (call_node,) = [n for n in stats if n.startswith(calls.node)]
        (chat_node,) = [n for n in stats if n.startswith(chats.node)]
        assert (stats[call_node]["done"], stats[call_node]["queues"]) == (2, {calls_q: 2})
        assert (stats[chat_node]["done"], stats[chat_node]["queues"]) == (5, {chats_q: 5})
        sent = ", ".join(f"{q} {n}" for q, n in sorted({calls_q: 2, chats_q: 5}.items()))
        assert sent in out.stderr and f"(from {calls_q})" in out.stderr and f"(from {chats_q})" in out.stderr  # the table
        # Each worker did its own share (its log): a task per recording, one for the 5 chats together.
        assert calls.text().count("succeeded in") == 2 and chats.text().count("succeeded in") == 1
        c = _counts(url)
        assert c["interactions"] == EXAMPLE_IDS | {"call-m", "call-s"}
        assert c["results_per_interaction"] == {i: 1 for i in c["interactions"]}  # every item stored once
        assert c["done"]["call-s"].versions["models"]["asr"].startswith("faster-whisper:")
        assert c["done"]["call-m"].audio_seconds == pytest.approx(21.02, abs=0.1)

        # The call worker goes away: a run with only chats to score needs none ...
        calls.stop()
        more = tmp_path / "more"
        more.mkdir()
        record = json.loads(EXAMPLES.read_text("utf-8").splitlines()[0])
        (more / "chat.json").write_text(json.dumps({**record, "interaction_id": "routed-chat"}, ensure_ascii=False), "utf-8")
        out = _cli("batch", str(more), "--executor", "celery", "--database-url", url, env=env, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        report = json.loads(out.stdout)
        assert report["processed"] == 1 and report["queues"] == {chats_q: 1} and list(report["worker_stats"]) == [chat_node]
        # ... one with a recording to transcribe stops at once, naming the call queue; nothing is sent.
        shutil.copy(CALLS / "call_bad.mono.wav", more / "call-b.wav")
        started = time.monotonic()
        out = _cli("batch", str(more), "--executor", "celery", "--database-url", url, env=env, timeout=120)
        assert out.returncode == 2 and time.monotonic() - started < 60, out.stderr[-2000:]
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith(f"qa-engine: error: no Celery worker consumes queue '{calls_q}'"), last
        assert f"qa-engine worker -Q {calls_q}" in last and "Traceback" not in out.stderr
        assert _redis().llen(calls_q) == 0 and _redis().llen(chats_q) == 0
        assert _counts(url)["results"] == 8
    finally:
        for w in (calls, chats):
            if w is not None:
                w.stop()
        _drop_queue(calls_q)
        _drop_queue(chats_q)


# --- chunks stored in one transaction (issue 16 point 2) ------------------------------------------------

SKIPPED_COLUMNS = {"id", "created_at", "updated_at", "received_at", "occurred_at", "batch_id", "next_attempt_at"}


def _rounded(value):
    """Floats to 6 places: a model run on a chunk differs from one run on an item in the last bits
    (padding, summation order; ~1e-8), which is scoring, not storing."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _stored_rows(url: str) -> dict[str, list]:
    """Every table's rows, comparable between two runs: ids, timestamps and batch ids left out, a
    result_id replaced by its interaction and whether it is current, an alert payload's likewise."""
    from qa_engine.store.models import Base

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            runs = {rid: (iid, current) for rid, iid, current in conn.execute(text("SELECT id, interaction_id, is_current FROM results"))}
            out = {}
            for table in Base.metadata.sorted_tables:
                if table.name == "audit_log":  # the run's own row: its id, wall time and batch id
                    continue
                rows = []
                for row in conn.execute(table.select()).mappings():
                    row = {k: v for k, v in row.items() if k not in SKIPPED_COLUMNS}
                    if "result_id" in row:
                        row["result_id"] = runs.get(row["result_id"])
                    if isinstance(row.get("payload"), dict):
                        row["payload"] = {k: v for k, v in row["payload"].items() if k not in SKIPPED_COLUMNS | {"result_id"}}
                    rows.append(_rounded(row))
                out[table.name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
            return out
    finally:
        engine.dispose()


def _conflicting(tmp_path: Path, url: str, inspector) -> None:
    """The database before the run: an alert webhook for every team, and interaction 'conflict-1'
    stored for agent 'A-other', which the source then sends for another agent."""
    from qa_engine.store.models import AlertWebhook
    from qa_engine.store.repository import content_hash, save_result

    migrate.upgrade(url)
    record = json.loads(EXAMPLES.read_text("utf-8").splitlines()[1])
    earlier = Interaction.model_validate({**record, "interaction_id": "conflict-1", "agent_id": "A-other"})
    db = Database(url)
    with db.session() as s:
        s.add(AlertWebhook(name="all", url="http://127.0.0.1:9/hook", secret="s", created_by="test"))
        save_result(s, earlier, inspector.inspect(earlier), content_hash=content_hash(earlier))
    db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_chunk_stores_the_same_rows_as_one_item_at_a_time(tmp_path, inspector, backend):
    """The same source into two databases, one item per transaction (QA_BATCH_CHUNK=1) and in chunks:
    the same rows in every table (interactions, turns, results, dimension scores, hits, agents, teams,
    alert deliveries, the ledger); the bad records, the empty chat and the item stored for another
    agent fail alone, inside a chunk whose other items are stored (the chunk's transaction fails on
    the owner conflict and its items are stored one by one)."""
    source = _chat_folder(tmp_path / "in")
    record = json.loads(EXAMPLES.read_text("utf-8").splitlines()[1])
    with (source / "interactions.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps({**record, "interaction_id": "conflict-1"}, ensure_ascii=False) + "\n")
    stored = {}
    for chunk in (1, 64):
        with fresh_database(backend, tmp_path) as url:
            _conflicting(tmp_path, url, inspector)
            settings = Settings().model_copy(update={"batch_chunk": chunk})
            report = run_batch(BatchConfig(source=source, database_url=url), settings, progress_stream=io.StringIO(), tty=False)
            assert (report.processed, report.failed) == (5, 4), report.failures
            reasons = {f["key"]: f["reason"] for f in report.failures}
            assert reasons["conflict-1"].startswith("interaction 'conflict-1' is stored for agent 'A-other'")
            stored[chunk] = _stored_rows(url)
    one, chunked = stored[1], stored[64]
    assert one["results"] and one["hits"] and one["result_dimensions"] and one["turns"] and one["alert_deliveries"]
    assert len(one["batch_items"]) == 9 and {r["status"] for r in one["batch_items"]} == {"done", "failed"}
    for table in one:
        differ = [{k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)} for a, b in zip(one[table], chunked[table]) if a != b]
        assert len(chunked[table]) == len(one[table]) and not differ, (table, differ[:3])


def test_a_batch_killed_in_the_middle_of_a_chunk_resumes_each_item_once(tmp_path):
    """kill -9 of `qa-engine batch` while it scores or stores a chunk: what was committed is whole
    chunks (their ledger rows and results together), the rerun does the rest, each item stored once."""
    ids = _long_chats(tmp_path / "in", 24)
    url = f"sqlite:///{tmp_path / 'qa.db'}"
    env = {**os.environ, "QA_BATCH_CHUNK": "5"}
    proc = subprocess.Popen([sys.executable, "-m", "qa_engine", "batch", str(tmp_path / "in"), "--database-url", url],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        _wait_for(lambda: _ledger(url)[0] >= 5, 300, "the first chunk stored", proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    c = _counts(url)
    assert len(c["done"]) % 5 == 0 and c["results"] == len(c["done"]) < 24  # whole chunks, nothing else
    assert set(c["results_per_interaction"]) == set(c["done"]) and c["ledger_rows"] == len(c["done"])
    done_before = len(c["done"])
    rerun = _cli("batch", str(tmp_path / "in"), "--database-url", url, env=env)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    report = json.loads(rerun.stdout)
    assert (report["skipped"], report["processed"], report["failed"]) == (done_before, 24 - done_before, 0)
    c = _counts(url)
    assert c["interactions"] == ids and c["results_per_interaction"] == {i: 1 for i in ids} and len(c["done"]) == 24
