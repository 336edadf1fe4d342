"""The Weibo customer-service yardsticks (datasets/labelled/WEIBO.md): the text joins back in from the STC-3
dialogues by reference with matching hashes, the rows are exactly the seeded draw, labels are well formed."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from qa_datasets.labelled.sample_weibo import FILES, dialogues, sample_customer, sample_empathy, stc3_path
from qa_datasets.weibo import load_customer_weibo, load_empathy_weibo


@pytest.fixture(scope="module")
def stc3():
    if not stc3_path().is_file():
        pytest.fail(f"{stc3_path()} missing: the Weibo yardsticks need ../shared (or $QA_SHARED_DIR)")
    return dialogues()


def _committed(which: str) -> list[tuple[str, str, str]]:
    rows = [json.loads(line) for line in FILES[which].read_text(encoding="utf-8").splitlines()]
    return [(r["reference"], r["text_sha1"], r["split"]) for r in rows]


def test_rows_are_the_seeded_draw(stc3):
    assert _committed("empathy") == [(r["reference"], r["text_sha1"], r["split"]) for r in sample_empathy(stc3)]
    assert _committed("customer") == [(r["reference"], r["text_sha1"], r["split"]) for r in sample_customer(stc3)]


def test_empathy_set(stc3):
    rows = load_empathy_weibo()
    assert len(rows) == 500 and all(r["sender"] == "helpdesk" for r in rows)
    by = Counter((r["split"], r["empathy"]) for r in rows)
    assert min(by.values()) >= 100, by
    assert Counter(r["kind"] for r in rows) == {"random": 250, "enriched": 250}
    assert sum("apology_for_trouble" in r["categories"] for r in rows) >= 200


def test_customer_set(stc3):
    rows = load_customer_weibo()
    assert len(rows) == 600 and len({r["reference"].split("#")[0] for r in rows}) == 600  # one turn per thread
    pol = Counter(r["polarity"] for r in rows)
    assert pol["negative"] > pol["neutral"] > pol["positive"] > 0, pol  # complaints to helpdesks
    for r in rows:
        assert r["label"] == r["emotion"] and r["id"] == r["reference"]
        assert (r["prev_text"] is None) == r["reference"].endswith("#0")


def test_a_changed_text_is_refused(stc3, tmp_path, monkeypatch):
    """A reference whose text no longer matches its hash is an error, not a silent mislabel."""
    import qa_datasets.weibo as weibo

    rows = [json.loads(line) for line in FILES["customer"].read_text(encoding="utf-8").splitlines()]
    rows[0]["text_sha1"] = "0" * 40
    bad = tmp_path / "customer.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setitem(weibo.FILES, "customer", bad)
    with pytest.raises(ValueError, match="does not match text_sha1"):
        load_customer_weibo()
