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
