"""The hand-labelled customer-emotion yardstick (datasets/labelled/customer_emotion_turns.jsonl,
CUSTOMER_EMOTION.md): the text joins back in from ../shared by reference with matching hashes, the
counts and splits hold, labels are well formed, and the committed rows are exactly the seeded draw."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from qa_datasets.customer_emotion import (POLARITY_OF, customer_emotion_exclusions, load_customer_emotion,
                                          read_refs, replies_path, select, uss_path)
from qa_datasets.jddc import chat_dev_path
from qa_datasets.labelled.sample_customer import REF_FIELDS, reference, sample, text_key


@pytest.fixture(scope="module")
def rows():
    for path in (chat_dev_path(), replies_path(), uss_path()):
        if not path.is_file():
            pytest.fail(f"{path} missing: the customer-emotion yardstick needs ../shared (or $QA_SHARED_DIR)")
    return load_customer_emotion()


def test_counts_sources_and_splits(rows):
    assert len(rows) >= 1500
    refs = read_refs()
    assert len(refs) == 1631 and len(refs) - len(rows) == sum(bool(r.get("exclude")) for r in refs) == 7
    by = Counter((r["source"], r["split"]) for r in rows)
    for source in ("chat_dev", "jddc_replies", "uss_valid"):
        assert by[(source, "dev")] >= 150 and by[(source, "test")] >= 150
    dev, test = select(rows, "dev"), select(rows, "test")
    assert abs(len(dev) - len(test)) <= 20


def test_text_matches_hash_and_no_text_twice(rows):
    for r in rows:
        assert hashlib.sha1(r["text"].encode("utf-8")).hexdigest() == r["text_sha1"], r["id"]
    keys = [text_key(r["text"]) for r in rows]
    assert len(set(keys)) == len(keys)
    assert len({r["id"] for r in rows}) == len(rows)


def test_labels_are_well_formed_and_plausible(rows):
    for r in rows:
        assert r["emotion"] is None or POLARITY_OF[r["emotion"]] == r["polarity"], r["id"]
        assert (r["emotion"] == "neutral") == (r["polarity"] == "neutral"), r["id"]
        assert r["label"] == r["emotion"]
    for part in (rows, select(rows, "dev"), select(rows, "test")):
        pol = Counter(r["polarity"] for r in part)
        assert 0.12 <= pol["negative"] / len(part) <= 0.20
        assert 0.05 <= pol["positive"] / len(part) <= 0.10
        assert pol["neutral"] > pol["negative"] + pol["positive"]
    emo = Counter(r["emotion"] for r in rows if r["polarity"] == "negative")
    assert emo["angry"] >= 40 and emo["anxious"] >= 30 and emo["sad"] >= 5 and emo[None] >= 100


def test_groups_never_straddle_the_split(rows):
    split_of: dict[tuple, set] = {}
    for r in rows:
        group = (r["source"], r.get("session_id") or r.get("dialogue_idx") or r.get("line"))
        split_of.setdefault(group, set()).add(r["split"])
    assert all(len(s) == 1 for s in split_of.values())
    assert max(Counter(r["session_id"] for r in rows if r["source"] == "chat_dev").values()) <= 2
    assert max(Counter(r["dialogue_idx"] for r in rows if r["source"] == "uss_valid").values()) <= 2


def test_committed_rows_are_the_seeded_draw():
    keys = ("source", *sorted({k for f in REF_FIELDS.values() for k in f}), "text_sha1", "cue_group", "split")
    drawn = [{k: r.get(k) for k in keys} for r in map(reference, sample())]
    assert drawn == [{k: r.get(k) for k in keys} for r in read_refs()]


def test_exclusions_cover_the_set(rows):
    ex = customer_emotion_exclusions()
    assert {r["session_id"] for r in rows if r["source"] == "chat_dev"} <= ex["chat_dev_sessions"]
    assert {r["text"].strip() for r in rows} <= ex["texts"]
    assert len(ex["uss_dialogues"]) >= 150 and len(ex["jddc_replies_lines"]) >= 390


def test_training_turns_share_nothing_with_the_yardstick(rows):
    """customer_emotion_train.jsonl (CUSTOMER_EMOTION_TRAIN.md): no yardstick session, dialogue, window
    group or text; texts match their hashes; labels well formed; the rows are the seeded draw."""
    from qa_datasets.customer_emotion import load_customer_train
    from qa_datasets.labelled.sample_customer_train import excluded_groups, pool

    train = load_customer_train()
    assert len(train) == 5600
    ex = customer_emotion_exclusions()
    yard_keys = {text_key(r["text"]) for r in rows}
    assert not {text_key(r["text"]) for r in train} & yard_keys
    groups = excluded_groups()
    for r in train:
        source, ref = r["id"].split(":", 1)
        key = ref.split("#")[0]
        if source == "chat_dev":
            assert key not in ex["chat_dev_sessions"]
        elif source == "uss_valid":
            assert int(key) not in ex["uss_dialogues"]
        assert POLARITY_OF.get(r["label"], r["polarity"]) == r["polarity"]
    pol = Counter(r["polarity"] for r in train)
    assert 0.10 <= pol["negative"] / len(train) <= 0.20
    drawn = pool()[: len(train)]
    assert [d["text"] for d in drawn] == [r["text"] for r in train]  # the first batches of the draw, in order
    assert groups["chat_dev"] == ex["chat_dev_sessions"]
