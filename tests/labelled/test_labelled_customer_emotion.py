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


def test_prev_text_is_the_turn_just_before(rows):
    """What a context-reading emotion model gets with each turn: the turn right before it, whoever said it
    (jddc_replies: the window segment before it)."""
    from qa_datasets.jddc import iter_rows

    chat = {(s, i): (role, t) for s, i, role, t in iter_rows(chat_dev_path())}
    checked = Counter()
    for r in rows:
        if r["source"] == "chat_dev":
            i = r["utt_index"] - 1
            while i >= 0 and not chat[(r["session_id"], i)][1].strip():
                i -= 1
            assert r["prev_text"] == (chat[(r["session_id"], i)][1] if i >= 0 else None), r["id"]
            if i >= 0 and chat[(r["session_id"], i)][0] == "agent":
                assert r["prev_text"] == r["prev_agent_text"], r["id"]
                checked["chat_dev agent before"] += 1
        elif r["source"] == "jddc_replies":
            assert r["prev_text"] == ([s for s in r["context"] if s.strip()] or [None])[-1], r["id"]
        elif r.get("prev_agent_turn_index") == r["turn_index"] - 1:
            assert r["prev_text"] == r["prev_agent_text"], r["id"]
            checked["uss agent before"] += 1
    assert checked["chat_dev agent before"] > 300 and checked["uss agent before"] > 150, checked
    assert sum(r["prev_text"] is not None for r in rows) > 0.85 * len(rows)


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
    import json

    from qa_datasets.customer_emotion import SEGMENTS_FILE, TRAIN_FILE, load_customer_train
    from qa_datasets.labelled.sample_customer_train import excluded_groups, pool, segments_pool

    train = load_customer_train()
    committed = {p: [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines()] for p in (TRAIN_FILE, SEGMENTS_FILE)}
    assert len(committed[TRAIN_FILE]) == 9127 and len(committed[SEGMENTS_FILE]) == 9600
    excluded = sum(bool(r.get("exclude")) for rows_ in committed.values() for r in rows_)
    assert len(train) == 9127 + 9600 - excluded and excluded < 3000  # agent or system text, not labelled
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
    # the first rows of each draw, in order, less those the annotators excluded
    kept = [d for d, c in zip(pool(), committed[TRAIN_FILE]) if not c.get("exclude")]
    kept += [d for d, c in zip(segments_pool(), committed[SEGMENTS_FILE]) if not c.get("exclude")]
    assert [d["text"] for d in kept] == [r["text"] for r in train]
    assert groups["chat_dev"] == ex["chat_dev_sessions"]


def test_teacher_pool_shares_nothing_with_the_yardstick(rows):
    """The unlabelled turns the customer teacher pseudo-labels (training.customer_teacher.pool_rows, with
    the other jddc_replies window segments): no yardstick text, session, dialogue or jddc_replies window
    group, no hand-labelled training turn, each text once, text matching its hash."""
    import json

    from qa_datasets.customer_emotion import SEGMENTS_FILE, TRAIN_FILE
    from qa_datasets.labelled.sample_customer import _read_lines, replies_groups
    from training.customer_teacher import pool_rows

    pool = pool_rows(segments=True)
    assert len(pool) >= 20_000
    keys = [text_key(r["text"]) for r in pool]
    assert len(set(keys)) == len(keys)
    assert not set(keys) & {text_key(r["text"]) for r in rows}
    labelled = {json.loads(x)["text_sha1"] for p in (TRAIN_FILE, SEGMENTS_FILE) for x in p.read_text(encoding="utf-8").splitlines()}
    assert not {r["text_sha1"] for r in pool} & labelled
    ex = customer_emotion_exclusions()
    enc, dec = _read_lines(replies_path()), _read_lines(replies_path().with_suffix(".dec"))
    group_of = replies_groups(enc, dec)
    bad = {group_of[line - 1] for line in ex["jddc_replies_lines"]}
    for r in pool:
        assert hashlib.sha1(r["text"].encode("utf-8")).hexdigest() == r["text_sha1"]
        if r["source"] == "jddc_replies":
            assert group_of[r["line"] - 1] not in bad
        elif r["source"] == "chat_dev":
            assert r["session_id"] not in ex["chat_dev_sessions"]
        else:
            assert r["dialogue_idx"] not in ex["uss_dialogues"]


def test_customer_side_pool_leaves_out_the_agent_like_segments():
    """--customer-side: the segments the role classifier takes as the agent's are not pseudo-labelled
    (agent templates taught a student that 您客气了呢 is angry); the rest of the pool is kept as it is."""
    from qa_engine.config import Settings
    from qa_engine.ml.role_classifier import RoleClassifier
    from training.customer_teacher import AGENT_SIDE, pool_rows

    roles = RoleClassifier.default(Settings(_env_file=None).models_dir)
    everything = pool_rows(segments=True)
    customer_side = pool_rows(segments=True, customer_side=True)
    kept = {r["text_sha1"] for r in customer_side}
    left_out = [r for r in everything if r["text_sha1"] not in kept]
    assert kept <= {r["text_sha1"] for r in everything} and len(left_out) > 1_000
    assert all(roles.agent_probability(r["text"]) >= AGENT_SIDE for r in left_out)
    assert all(roles.agent_probability(r["text"]) < AGENT_SIDE for r in customer_side if r["source"] == "jddc_replies"
               and "seg_index" in r)
    assert roles.agent_probability("您太客气了呢，这都是我应该做的呢~ 请问还有其他还可以帮到您的吗?") >= AGENT_SIDE


def test_pseudo_labels_follow_the_teacher_threshold(rows, tmp_path):
    """load_customer_pseudo: negative when the teacher's negative probability reaches its dev threshold,
    else the likelier of neutral / positive; the emotion only when the teacher is clear inside the
    polarity; a reference to a yardstick turn is refused."""
    import json

    from qa_datasets.customer_emotion import load_customer_pseudo
    from training.customer_teacher import pool_rows

    a, b, c = pool_rows(segments=True)[:3]  # every turn of the first pool is labelled now
    ref = lambda r: {k: v for k, v in r.items() if k != "text"}  # noqa: E731
    path = tmp_path / "pseudo.jsonl"
    lines = [{"threshold": 0.4, "mix": 0.5},
             {**ref(a), "p5": [0.7, 0.1, 0.0, 0.2, 0.0], "p3": [0.3, 0.6, 0.1]},  # 0.5*0.8 + 0.5*0.3 = 0.55
             {**ref(b), "p5": [0.2, 0.2, 0.0, 0.6, 0.0], "p3": [0.3, 0.4, 0.3]},  # 0.35: neutral, clear
             {**ref(c), "p5": [0.0, 0.0, 0.0, 0.5, 0.5], "p3": [0.1, 0.3, 0.6]}]  # 0.05: positive
    path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    got = [(r["polarity"], r["label"], r["text"]) for r in load_customer_pseudo(path)]
    assert got == [("negative", "angry", a["text"]), ("neutral", "neutral", b["text"]), ("positive", "happy", c["text"])]
    yard = next(r for r in read_refs() if r["source"] == "jddc_replies")
    path.write_text("\n".join(json.dumps(x) for x in [lines[0], {**yard, "p5": lines[1]["p5"], "p3": lines[1]["p3"]}]),
                    encoding="utf-8")
    with pytest.raises(ValueError, match="yardstick"):
        load_customer_pseudo(path)


def test_second_annotator_covers_the_yardstick_and_agrees(rows):
    """The blind second labelling (customer_emotion_second.jsonl) names every drawn turn once with
    well-formed labels, and agrees with the yardstick far above the models' negative F1 (0.65): the
    gap to the 0.75 target is the models', not the labels' (CUSTOMER_EMOTION.md, "Second annotator")."""
    import json

    from qa_datasets.customer_emotion import SECOND_FILE, agreement, ref_id

    second = [json.loads(line) for line in SECOND_FILE.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in second] == [ref_id(r) for r in read_refs()]
    for r in second:
        assert (r["polarity"] is None) == bool(r.get("exclude")), r["id"]
        assert r["emotion"] is None or POLARITY_OF[r["emotion"]] == r["polarity"], r["id"]
    figures = agreement(rows)
    assert figures["all"]["n"] >= 1600
    for split in ("dev", "test"):
        assert figures[split]["kappa"] >= 0.85 and figures[split]["negative"]["f1"] >= 0.85, figures[split]
