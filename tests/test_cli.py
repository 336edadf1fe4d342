"""The CLI as a user runs it: real subprocesses, real files, bad input of every kind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

GOOD = {"interaction_id": "ok-1", "channel": "chat", "agent_id": "A1", "turns": [{"role": "agent", "text": "您好，请问有什么可以帮您？"}]}


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa_engine", *args], input=stdin, capture_output=True, timeout=120)


def lines(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_score_jsonl_to_file(tmp_path):
    src = write(tmp_path, "in.jsonl", (json.dumps(GOOD, ensure_ascii=False) + "\n").encode() * 3)
    out = tmp_path / "out.jsonl"
    proc = run("score", src, "-o", str(out), "--summary")
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(results) == 3 and results[0]["interaction_id"] == "ok-1"
    assert "scored 3, failed 0" in proc.stdout.decode()


def test_score_stdin_single_json_and_array():
    assert len(lines(run("score", "-", stdin=json.dumps(GOOD).encode()))) == 1
    assert len(lines(run("score", "-", stdin=json.dumps([GOOD, GOOD]).encode()))) == 2


def test_malformed_line_reported_others_scored(tmp_path):
    bad_role = dict(GOOD, interaction_id="no-role", turns=[{"text": "您好"}])
    content = b"\n".join(
        [
            json.dumps(GOOD).encode(),
            b"{not json",
            json.dumps(bad_role).encode(),
            json.dumps(dict(GOOD, channel="email")).encode(),
            json.dumps(dict(GOOD, turns=[])).encode(),
            "{\"interaction_id\": \"x\", \"channel\": \"chat\", \"turns\": [{\"role\": \"agent\", \"text\": \"\xe4\xbd\"}]}".encode("latin-1"),
            json.dumps(dict(GOOD, interaction_id="ok-2")).encode(),
        ]
    )
    proc = run("score", write(tmp_path, "mixed.jsonl", content))
    assert proc.returncode == 1
    assert [r["interaction_id"] for r in lines(proc)] == ["ok-1", "ok-2"]
    err = proc.stderr.decode()
    assert "line 2: invalid JSON" in err
    assert "line 3: interaction no-role: turns.0.role: Field required" in err
    assert "line 4:" in err and "channel" in err and "'call' or 'chat'" in err
    assert "line 5:" in err and "no turns" in err
    assert "line 6: not valid UTF-8" in err
    assert [line.split(": ")[2] for line in err.splitlines()] == [f"line {n}" for n in range(2, 7)]  # in input order
    assert "Traceback" not in err


def test_huge_turn_is_refused_with_message(tmp_path):
    huge = dict(GOOD, interaction_id="huge", turns=[{"role": "agent", "text": "您好" * 524_288}])
    proc = run("score", write(tmp_path, "huge.jsonl", (json.dumps(huge) + "\n" + json.dumps(GOOD)).encode()))
    assert proc.returncode == 1
    assert "turns[0] has 1,048,576 characters; the limit is 5,000 (QA_MAX_TURN_CHARS)" in proc.stderr.decode()
    assert len(lines(proc)) == 1


def test_empty_turn_text_is_scored(tmp_path):
    item = dict(GOOD, turns=[{"role": "agent", "text": ""}, {"role": "customer", "text": "  "}])
    proc = run("score", "-", stdin=json.dumps(item).encode())
    assert proc.returncode == 0 and lines(proc)[0]["hits"] is not None


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path, content):
    proc = run("score", write(tmp_path, "empty.jsonl", content))
    assert proc.returncode == 1
    assert "input is empty" in proc.stderr.decode() and b"Traceback" not in proc.stderr


def test_usage_errors_exit_2(tmp_path):
    missing = run("score", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "input not found" in missing.stderr.decode()
    nope = str(tmp_path / "nope")  # a missing path is 2 in every command, with one line
    for args, said in ((("batch", nope, "--dry-run"), "source not found"), (("eval", "asr", "--calls-dir", nope), "calls folder not found"),
                       (("transcribe", nope), "not found")):
        proc = run(*args)
        assert proc.returncode == 2 and proc.stderr.decode() == f"qa-engine: error: {said}: {nope}\n", (args, proc.stderr)
    assert run("score").returncode == 2
    assert run("score", str(tmp_path)).returncode == 2


def test_broken_rule_pack_is_one_line_error(tmp_path):
    lex = tmp_path / "lex"
    (lex / "packs").mkdir(parents=True)
    (lex / "packs" / "politeness.yaml").write_text("rules: [ {id: bad", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "qa_engine", "score", "-"], input=json.dumps(GOOD).encode(), capture_output=True,
        env={**__import__("os").environ, "QA_LEXICONS_DIR": str(lex)}, timeout=60,
    )
    assert proc.returncode == 1
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "cannot load rules" in err[0] and "invalid YAML" in err[0]


@pytest.mark.parametrize("name, value", [("QA_ASR_STEREO_PACK", "bogus"), ("QA_ONNX_THREADS", "two")])
def test_bad_setting_is_one_line_error(name, value):
    proc = subprocess.run(
        [sys.executable, "-m", "qa_engine", "score", "-"], input=json.dumps(GOOD).encode(), capture_output=True,
        env={**__import__("os").environ, name: value}, timeout=60,
    )
    assert proc.returncode == 1 and proc.stdout == b""
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"qa-engine: error: bad setting {name}:"), err


def test_schema_command_prints_contract_models():
    proc = run("schema")
    schemas = json.loads(proc.stdout)
    assert {"Interaction", "Turn", "Hit", "DimensionScore", "Result"} <= set(schemas)
    assert "interaction_id" in schemas["Interaction"]["properties"]
    one = json.loads(run("schema", "Hit").stdout)
    assert "rule_id" in one["properties"]


def test_demo_prints_summary():
    proc = run("demo")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "example-call-bad" in out and "red" in out and "scored 5, failed 0" in out


def test_demo_load_stores_the_examples_in_the_data_folder_used_from_anywhere(tmp_path):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # run from other folders: still this checkout's code
    proc = subprocess.run([sys.executable, "-m", "qa_engine", "--data-dir", str(data), "demo", "--load"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["processed"] == 5 and "INFO" not in proc.stderr
    # QA_DATA_DIR names the same folder from anywhere
    env["QA_DATA_DIR"] = str(data)
    again = subprocess.run([sys.executable, "-m", "qa_engine", "demo", "--load"], capture_output=True, text=True,
                           timeout=300, cwd=elsewhere, env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["skipped"] == 5, "already stored: the same database"
    assert list(elsewhere.iterdir()) == [] and (data / "qa_engine.db").is_file()
    # an explicit QA_DATABASE_URL wins over the data folder
    other = tmp_path / "other.db"
    env["QA_DATABASE_URL"] = f"sqlite:///{other}"
    third = subprocess.run([sys.executable, "-m", "qa_engine", "demo", "--load"], capture_output=True, text=True,
                           timeout=300, cwd=elsewhere, env=env)
    assert third.returncode == 0 and json.loads(third.stdout)["processed"] == 5 and other.is_file()


def test_summary_says_why_below_100_and_keeps_long_ids_whole(tmp_path):
    long_id = "calls/2026-11/c-20261122-0031-after-sales"  # a batch id: longer than any fixed column
    item = dict(GOOD, interaction_id=long_id, agent_id="agent-with-a-long-id",
                turns=[{"role": "customer", "text": "我的快递到底在哪"}, {"role": "agent", "text": "这个不归我管，你自己去找快递公司"}])
    proc = run("score", write(tmp_path, "in.jsonl", json.dumps(item, ensure_ascii=False).encode()), "-o", str(tmp_path / "out.jsonl"), "--summary")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    row = next(line for line in out.splitlines() if line.startswith(long_id + " "))
    assert "agent-with-a-long-id" in row and "why below 100 (points lost)" in out
    result = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))
    worst = max(result["dimensions"].items(), key=lambda kv: kv[1]["weight"] * (100 - kv[1]["score"]))
    lost = worst[1]["weight"] * (100 - worst[1]["score"]) / sum(d["weight"] for d in result["dimensions"].values())
    assert result["score"] < 100 and f"{worst[0]} -{lost:.1f} [" in row, row  # the largest deduction first
    assert "forbidden.deflect" in row
    assert "INFO" not in proc.stderr.decode()


def test_configuration_doc_is_generated_from_the_settings_class():
    """docs/configuration.md is `qa-engine config --markdown`: a setting added, removed, renamed,
    given another default or comment without regenerating it fails here; every setting says what it is."""
    from qa_engine.config import Settings

    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}  # defaults as a plain user has them
    proc = subprocess.run([sys.executable, "-m", "qa_engine", "config", "--markdown"], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert proc.stdout == doc, "docs/configuration.md is stale: run `qa-engine config --markdown > docs/configuration.md`"
    rows = [line.split(" | ") for line in doc.splitlines() if line.startswith("| `QA_")]
    assert [r[0].strip("| `") for r in rows] == [f"QA_{name.upper()}" for name in Settings.model_fields]
    assert all(r[3].strip(" |") for r in rows), [r[0] for r in rows if not r[3].strip(" |")]
    values = run("config").stdout.decode()
    assert "QA_DATABASE_URL=sqlite:///" in values and "QA_JWT_SECRET=" in values


def test_users_create_on_a_database_it_cannot_open_is_one_line(tmp_path):
    proc = run("users", "create", "bot", "--role", "ingest", "--url", f"sqlite:///{tmp_path}/no/such/folder/qa.db")
    err = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 1 and len(err) == 1 and err[0].startswith("qa-engine: error: OperationalError:"), err


@pytest.mark.slow
def test_score_with_two_worker_processes_gives_the_same_lines_in_the_same_order(tmp_path):
    """`score --workers 2` on 300 real JD sessions (two processes, chunks of 256: the second chunk
    comes back from the other process) with bad records between them: the same results, byte for
    byte, the same error lines in input order and the same exit code as one process."""
    from qa_datasets.jddc import load_sessions

    records = [json.dumps(s, ensure_ascii=False) for s in load_sessions()[:300]]
    records[10:10] = ['{"interaction_id": "x", "channel": "chat", "turns": []}', "not json"]
    records[280:280] = ['{"bad": 1}']
    src = write(tmp_path, "in.jsonl", ("\n".join(records) + "\n").encode())
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    single = run("score", src, "-o", str(one))
    double = subprocess.run([sys.executable, "-m", "qa_engine", "score", src, "-o", str(two), "--workers", "2", "--summary"],
                            capture_output=True, timeout=600)
    assert single.returncode == double.returncode == 1
    # equal up to float rounding: onnxruntime's outputs differ in the 7th digit with the batch a text
    # was run in, and the processes' chunks batch the texts differently (OnnxEmotionScorer)
    rounded = [_round_floats(json.loads(line)) for line in one.read_text(encoding="utf-8").splitlines()]
    assert rounded == [_round_floats(json.loads(line)) for line in two.read_text(encoding="utf-8").splitlines()]
    assert len(rounded) == 300
    errors = [line for line in double.stderr.decode().splitlines() if line.startswith("qa-engine:")]
    assert errors == [line for line in single.stderr.decode().splitlines() if line.startswith("qa-engine:")]
    assert [e.split(": ")[2] for e in errors] == ["line 11", "line 12", "line 281"]
    assert "scored 300, failed 3" in double.stdout.decode()


def _round_floats(value, digits: int = 5):
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_round_floats(v, digits) for v in value]
    return value
