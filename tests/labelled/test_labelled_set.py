"""The hand-labelled politeness / forbidden-phrase set (datasets/labelled): splits, counts, isolation of
the held-out test split from tuning data and from the forbidden-phrase trainers' JD negatives."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from qa_datasets.forbidden_train.jddc_negatives import DRAWN, jddc_negatives, shuffled_pool
from qa_datasets.jddc import chat_dev_path, iter_rows
from qa_datasets.labelled_set import LABELLED, load_labelled, select


@pytest.fixture(scope="module")
def rows():
    if not chat_dev_path().is_file():
        pytest.fail(f"JDDC sample missing at {chat_dev_path()}: the labelled set needs ../shared")
    return load_labelled()


def test_counts_per_source_and_split(rows):
    counts = Counter((r["source"], r["split"]) for r in rows)
    assert counts == {("jddc", "dev"): 171, ("jddc", "tuning"): 170, ("jddc", "test"): 178,
                      ("written", "dev"): 55, ("written", "tuning"): 55, ("written", "test"): 120}
    test = select(rows, "test")
    assert sum(r["forbidden"] for r in test) == 70 and sum(r["paraphrase"] for r in test) == 35
    assert len(select(rows, "tune")) == 451 and len(select(rows, "all")) == 749


def test_test_split_is_isolated(rows):
    refs = {name: [json.loads(x) for x in (LABELLED / name).read_text(encoding="utf-8").splitlines() if x]
            for name in ("jddc_agent_turns.jsonl", "jddc_test_turns.jsonl")}
    old_sessions = {r["session_id"] for r in refs["jddc_agent_turns.jsonl"]}
    test_sessions = {r["session_id"] for r in refs["jddc_test_turns.jsonl"]}
    assert not old_sessions & test_sessions
    # no test session holds a text the trainers drew as a JD negative, and the draw skips them all
    drawn = set(shuffled_pool()[:DRAWN])
    in_test = {t.strip() for s, _, _, t in iter_rows(chat_dev_path()) if s in test_sessions}
    assert not drawn & in_test
    assert jddc_negatives(DRAWN) == shuffled_pool()[:DRAWN]  # the committed models' negatives are unchanged
    assert not set(jddc_negatives(3000)) & in_test
    # no text is both in the test split and in dev / tuning
    tune_texts = {r["text"].strip() for r in select(rows, "tune")}
    assert not {r["text"].strip() for r in select(rows, "test")} & tune_texts


def test_jddc_rows_point_at_the_right_text(rows):
    for r in rows:
        if r["source"] == "jddc":
            assert r["id"].startswith("jddc:") and hashlib.sha1(r["text"].encode("utf-8")).hexdigest()
    assert all(r["politeness"] == bool(r["politeness_categories"]) for r in rows)
    assert all(r["forbidden"] == bool(r["forbidden_categories"]) for r in rows)


# --- Script steps on whole JD sessions (labelled/SCRIPT_STEPS.md) -----------------------------------


def test_script_sessions_load_and_stay_apart_from_the_politeness_test_split():
    from qa_datasets.labelled.sample_script import draw
    from qa_datasets.script_set import STEPS, load_script_sessions, select

    sessions = load_script_sessions()  # raises on a missing session, a changed text or a non-agent row
    assert len(select(sessions, "dev")) == 45 and len(select(sessions, "test")) == 45
    assert [(s["session_id"], s["split"]) for s in sessions] == draw()  # the committed draw is reproducible
    politeness_test = {json.loads(x)["session_id"] for x in (LABELLED / "jddc_test_turns.jsonl").read_text(encoding="utf-8").splitlines() if x}
    assert not politeness_test & {s["session_id"] for s in sessions}
    assert all(set(s["steps"]) == set(STEPS) for s in sessions)
    counts = Counter(step for s in select(sessions, "test") for step in STEPS if s["present"][step])
    assert counts == {"greeting": 32, "identity": 11, "needs_confirm": 9, "further_help": 43, "closing": 23, "satisfaction": 6}


def test_script_session_hash_is_checked(tmp_path, monkeypatch):
    from qa_datasets import script_set

    rows = (LABELLED / "script_sessions.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(rows[0])
    first["session_sha1"] = "0" * 40
    (tmp_path / "script_sessions.jsonl").write_text(json.dumps(first) + "\n", encoding="utf-8")
    monkeypatch.setattr(script_set, "LABELLED", tmp_path)
    with pytest.raises(ValueError, match="session_sha1"):
        script_set.load_script_sessions()


def test_mining_skips_the_held_out_sessions():
    from qa_datasets.jd_openings import held_out_sessions
    from qa_datasets.script_set import load_script_sessions, select

    skipped = held_out_sessions()
    assert {s["session_id"] for s in select(load_script_sessions(), "test")} <= skipped
    assert not {s["session_id"] for s in select(load_script_sessions(), "dev")} & skipped


def test_eval_script_report(inspector):
    from qa_engine.eval.evaluation import evaluate_script, format_script_report

    report = evaluate_script(inspector, "dev")
    assert report["sessions"] == 45 and set(report["metrics"]) >= {"greeting", "closing", "further_help"}
    assert report["required_steps"] == ["greeting", "closing"]
    assert 0 <= report["all_steps_right"] <= report["required_steps_right"] <= 1
    assert "sessions with every step right" in format_script_report(report, show_errors=True)
