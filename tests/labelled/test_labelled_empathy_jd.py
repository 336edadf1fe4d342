"""The in-domain yardsticks of issue 14 (datasets/labelled/EMPATHY_JD.md, FALSE_ALARMS.md): counts, splits,
references and hashes of the empathy set and of the false-alarm set, and the sampler's reproducibility."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from qa_datasets.forbidden_train.jddc_negatives import jddc_negatives
from qa_datasets.jddc import chat_dev_path
from qa_datasets.labelled.false_alarms import false_alarm_split
from qa_datasets.labelled.sample_empathy_jd import replies_path, sample, split_of
from qa_datasets.labelled.stc3_false_alarms import stc3_split
from qa_datasets.labelled_empathy_jd import LABELLED, false_alarm_rates, load_empathy_jd, load_false_alarms


@pytest.fixture(scope="module")
def empathy():
    for path in (chat_dev_path(), replies_path()):
        if not path.is_file():
            pytest.fail(f"JDDC data missing at {path}: the labelled sets need ../shared (QA_SHARED_DIR)")
    return load_empathy_jd()


@pytest.fixture(scope="module")
def alarms(empathy):
    return load_false_alarms()


def test_empathy_counts(empathy):
    assert Counter((r["kind"], r["split"]) for r in empathy) == {
        ("random", "dev"): 123, ("random", "test"): 127, ("enriched", "dev"): 130, ("enriched", "test"): 120,
        ("written_hard_negative", "dev"): 42, ("written_hard_negative", "test"): 50,
        ("forbidden_written", "dev"): 68, ("forbidden_written", "test"): 74}
    positives = Counter((r["kind"], r["split"]) for r in empathy if r["empathy"])
    assert positives == {("random", "dev"): 7, ("random", "test"): 11, ("enriched", "dev"): 54, ("enriched", "test"): 54}
    assert Counter(c for r in empathy for c in r["categories"]) == {"apology_for_trouble": 65, "soothe": 64, "acknowledge": 3}
    jd = [r for r in empathy if r["kind"] in ("random", "enriched")]
    assert Counter(r["source"] for r in jd) == {"jddc_replies": 455, "chat_dev": 45}
    assert len({r["text"].strip() for r in jd}) == 500  # distinct real turns


def test_empathy_rows_are_consistent(empathy):
    for r in empathy:
        assert hashlib.sha1(r["text"].encode("utf-8")).hexdigest() == r["text_sha1"]
        assert r["split"] == split_of(r["text_sha1"])
        assert r["empathy"] == bool(r["categories"])
        assert (r["source"] == "written") == (r["kind"] == "written_hard_negative")
    # the written forbidden turns are all reused, by id, and none is credited with empathy
    forbidden = {json.loads(x)["id"] for name in ("written_turns.jsonl", "written_test_turns.jsonl")
                 for x in (LABELLED / name).read_text(encoding="utf-8").splitlines() if x and json.loads(x)["forbidden"]}
    assert {r["reference"] for r in empathy if r["kind"] == "forbidden_written"} == forbidden
    assert not any(r["empathy"] for r in empathy if r["kind"] in ("forbidden_written", "written_hard_negative"))
    # no JDDC text is stored in the file: only written rows carry text
    stored = [json.loads(x) for x in (LABELLED / "empathy_jd_turns.jsonl").read_text(encoding="utf-8").splitlines() if x]
    assert all(("text" in r) == (r["source"] == "written") for r in stored)


def test_empathy_sample_is_reproducible_and_outside_training_pools(empathy):
    drawn = [(r["kind"], r["source"], r["reference"], r["text_sha1"]) for r in sample()]
    assert drawn == [(r["kind"], r["source"], r["reference"], r["text_sha1"])
                     for r in empathy if r["kind"] in ("random", "enriched")]
    trained = set(jddc_negatives(3000))
    assert not {r["text"].strip() for r in empathy if r["source"] == "chat_dev"} & trained


def test_false_alarms(alarms):
    # the hits of the engine the set was scanned with; rows with `found_by` were added for later engines
    assert Counter((r["source"], r["split"], r["label"]) for r in alarms if "found_by" not in r) == {
        ("jddc_replies", "train", "false_alarm"): 29, ("jddc_replies", "test", "false_alarm"): 17,
        ("jddc_replies", "train", "violation"): 1, ("chat_dev", "train", "false_alarm"): 3,
        ("chat_dev", "test", "false_alarm"): 9}
    for r in alarms:
        assert hashlib.sha1(r["text"].encode("utf-8")).hexdigest() == r["text_sha1"]
        # the fresh split test2 has its own sources (FALSE_ALARMS.md); the STC-3 turns are cut into
        # stc3_train / test3 by the parity rule, the others into train / test
        fresh = r["source"] in ("jddc_context", "jddc_dev_refs")
        stc3 = r["source"] == "stc3_helpdesk"
        assert r["split"] == ("test2" if fresh else stc3_split(r["text_sha1"]) if stc3 else false_alarm_split(r["text_sha1"]))
        assert r["rule_ids"] and all(x.startswith("forbidden.") for x in r["rule_ids"])
        assert all(0 <= a < b <= len(r["text"]) for _, a, b in r["spans"])
    stored = (LABELLED / "false_alarm_turns.jsonl").read_text(encoding="utf-8")
    assert '"text":' not in stored


def test_false_alarm_rates(alarms):
    rates = {(r["source"], r["split"]): r for r in false_alarm_rates(alarms)}
    assert rates[("jddc_replies", "all")]["turns"] == 7829 and rates[("jddc_replies", "all")]["rows"] == 10270
    assert rates[("chat_dev", "all")]["turns"] == 3965 and rates[("chat_dev", "all")]["rows"] == 4849
    total = rates[("all", "all")]
    assert total["false_flag_turns"] == 58 and round(total["per_1000_turns"], 1) == 4.9
    assert rates[("all", "train")]["turns"] + rates[("all", "test")]["turns"] == 11794
