"""Structured logging: QA_LOG_FORMAT=json gives one JSON object per line, with the record's fields."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from qa_engine.config import Settings
from qa_engine.logs import JsonFormatter

REPO = Path(__file__).resolve().parents[1]


def test_the_cli_logs_the_engine_load_as_json_lines(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"interaction_id": "log-1", "channel": "chat",
                                  "turns": [{"role": "agent", "text": "您好"}]}) + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "QA_LOG_FORMAT": "json", "QA_LOG_LEVEL": "INFO"}
    run = subprocess.run([sys.executable, "-m", "qa_engine", "score", str(source)], cwd=REPO, check=False, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["interaction_id"] == "log-1"  # results stay on stdout
    records = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    loaded = [r for r in records if r["logger"] == "qa_engine.engine"]
    assert len(loaded) == 1, run.stderr
    record = loaded[0]
    assert record["level"] == "INFO" and record["message"].startswith("engine loaded:")
    packs = Settings().rule_packs
    assert set(record["packs"]) >= set(packs) and record["rules"] > 10
    assert record["models"]["emotion"] and set(record["model_digests"]) >= {"forbidden_ngram"}
    assert record["time"].endswith("+00:00")


def test_text_logs_by_default_and_nothing_under_warning(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"interaction_id": "log-2", "channel": "chat",
                                  "turns": [{"role": "agent", "text": "您好"}]}) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_LOG_")} | {"PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "qa_engine", "score", str(source)], cwd=REPO, check=False, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stderr == ""  # the default level (WARNING) keeps a clean run quiet
    env["QA_LOG_LEVEL"] = "INFO"
    run = subprocess.run([sys.executable, "-m", "qa_engine", "score", str(source)], cwd=REPO, check=False, env=env,
                         capture_output=True, text=True, timeout=300)
    assert " INFO qa_engine.engine: engine loaded: " in run.stderr and "{" not in run.stderr.split("engine loaded")[0]


def test_a_bad_log_setting_is_one_line():
    env = {**os.environ, "PYTHONPATH": str(REPO), "QA_LOG_FORMAT": "xml"}
    run = subprocess.run([sys.executable, "-m", "qa_engine", "schema", "Hit"], cwd=REPO, check=False, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "QA_LOG_FORMAT" in run.stderr


def test_json_formatter_keeps_extra_fields_and_the_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("qa_engine.batch.worker", logging.ERROR, __file__, 1, "batch item %s", ("k1",),
                                   sys.exc_info())
    record.item = "k1"
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "batch item k1" and data["item"] == "k1" and data["level"] == "ERROR"
    assert "ValueError: boom" in data["exception"]
