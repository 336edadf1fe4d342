"""The recipe of models/empathy_ngram (training/train_empathy.py, issue 14 point 3): what it trains on."""

from __future__ import annotations

import json

from conftest import REPO
from training.train_empathy import APOLOGY_FORMULAS, PROCEDURAL, empathy_task, rude_turns


def test_rude_negatives_are_the_written_violations_of_the_train_split_only():
    rows = [json.loads(line) for line in (REPO / "datasets" / "forbidden_train" / "forbidden_train.jsonl").open(encoding="utf-8")]
    train = {r["text"] for r in rows if r["label"] == 1 and r["split"] == "train"}
    other = {r["text"] for r in rows if r["split"] != "train" or r["label"] != 1}
    rude = rude_turns()
    assert set(rude) == train and len(rude) == len(train) > 600
    assert not set(rude) & (other - train)


def test_apology_for_trouble_is_a_formula_and_procedural_apologies_look_alikes():
    task = empathy_task()
    assert task.formulas["apology_for_trouble"] == APOLOGY_FORMULAS
    assert {"给您带来不便还请见谅", "非常抱歉给您带来不便", "对您造成的不便很是抱歉", "让您久等了"} <= set(APOLOGY_FORMULAS)
    assert set(PROCEDURAL) <= set(task.lookalikes) and "抱歉 这个需要您自己申请" in PROCEDURAL
    # a real turn holding an apology formula is no plain negative; a procedural apology may be one
    assert not task.plain("您的包裹延误了，非常抱歉给您带来不便")
    assert task.plain("抱歉，这个需要您自己申请")
