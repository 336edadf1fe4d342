"""Forbidden-phrase false alarms on real JD traffic (issue 14): plain service turns raise nothing, a listed
insult stays 一票否决, a model-only hit is 疑似 (minor, for review) and can never be critical, the list
fixes (negated guarantees, 这是规定), and `qa-engine eval false-alarms`."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import chat
from qa_engine.text.lexicon import PhraseIndex
from qa_engine.rulepack import RulePackError
from qa_engine.rules import Resources, RuleSpec
from qa_engine.rules.classifier import ClassifierOperator
from qa_engine.scorecard import load_scorecards

REPO = Path(__file__).resolve().parents[2]


def forbidden(result) -> list:
    return [h for h in result.hits if h.dimension == "forbidden_words"]


@pytest.mark.parametrize("text", ["怎么了亲", "这两个是吧", "我帮你修改好了", "您好，请问有什么可以帮您？"])
def test_plain_service_turns_raise_no_forbidden_hit(inspector, text):
    assert not forbidden(inspector.inspect(chat(("agent", text))))


def test_listed_insult_is_critical(inspector):
    result = inspector.inspect(chat(("agent", "你是不是傻")))
    hits = forbidden(result)
    assert [h.rule_id for h in hits] == ["forbidden.mock_insult"] and hits[0].severity == "critical"
    assert result.critical == ["forbidden.mock_insult"] and result.score == 0 and result.flag == "red"


def test_model_only_hit_is_suspected_minor_never_critical(inspector):
    # an insult in wording no list holds: only the classifier sees it
    result = inspector.inspect(chat(("agent", "您好"), ("agent", "就您这穷酸样，还好意思嫌贵")))
    hits = forbidden(result)
    assert hits and all(h.rule_id.startswith("forbidden.model_") for h in hits)
    for h in hits:
        assert h.severity == "minor" and h.explanation.startswith("疑似") and "待复核" in h.explanation
    assert not result.critical and result.score > 0
    deductions = result.dimensions["forbidden_words"].deductions
    assert deductions == [f"{hits[0].rule_id}: 1 处 (-20)"]


def test_every_shipped_model_rule_is_minor_and_no_scorecard_makes_it_critical(inspector):
    model_rules = [r.spec for r in inspector.ruleset.rules if r.spec.operator == "classifier"
                   and r.spec.dimension == "forbidden_words"]
    assert len(model_rules) == 5 and all(s.severity == "minor" for s in model_rules)
    for card in load_scorecards(REPO / "lexicons" / "scorecards").values():
        for spec in model_rules:
            assert not card.rules[spec.id].critical and card.rules[spec.id].deduct <= 25


def test_classifier_rule_may_not_be_critical():
    res = Resources(lexicons_dir=REPO / "lexicons", index=PhraseIndex(), models_dir=REPO / "models")
    spec = RuleSpec(id="x.y", dimension="forbidden_words", operator="classifier", severity="critical")
    with pytest.raises(ValueError, match="critical"):
        ClassifierOperator(spec, res)


def test_scorecard_may_not_make_a_model_rule_critical():
    card = load_scorecards(REPO / "lexicons" / "scorecards")["chat"]
    card.rules["forbidden.model_mock_insult"].critical = True
    ids = [*card.rules, *card.script.steps.values()]
    with pytest.raises(RulePackError, match="model rules may not be critical"):
        card.check_rules(ids, {"forbidden.model_mock_insult"})
    card.check_rules(ids)  # the same rule, when it is not a model rule


def test_an_uploaded_scorecard_may_not_make_a_model_rule_critical(tmp_path):
    """Upload validation refuses what the engine would refuse when it loads the card."""
    from qa_engine.config import Settings
    from qa_engine.store import migrate
    from qa_engine.store.db import Database
    from qa_engine.store.rule_versions import validate_scorecard

    url = f"sqlite:///{tmp_path / 'qa.db'}"
    migrate.upgrade(url)
    db = Database(url)
    content = (REPO / "lexicons" / "scorecards" / "chat.yaml").read_text(encoding="utf-8")
    critical = content.replace("forbidden.model_mock_insult: {", "forbidden.model_mock_insult: {critical: true, ", 1)
    assert critical != content
    try:
        with db.session() as session:
            validate_scorecard(session, Settings(), "chat", content)
            with pytest.raises(RulePackError, match="model rules may not be critical"):
                validate_scorecard(session, Settings(), "chat", critical)
    finally:
        db.dispose()


@pytest.mark.parametrize("text, hit", [
    ("您附近的仓库没有货，为您调货安排发货的哦，无法保证明天一定可以收到的呢", False),
    ("这个不能确保今天一定发货，我帮您催一下", False),
    ("放心，明天一定可以收到的", True),
    ("不能保证明天到，但后天一定能到的", True),  # the negation covers 明天 only
    ("不能保证明天到但后天一定能到的", True),  # a contrast ends its scope too
    ("我保证明天一定到", True),
    # the negated guarantee scopes over a masked time (the shape found on test2, fourth change)
    ("这边无法保证[数字x]点一定送到的哦，我帮您备注加急", False),
    ("无法保证明天下午[数字x]点前一定送到", False),
    ("放心，我保证[数字x]点一定送到", True),
])
def test_negated_guarantee_over_a_time_is_no_promise(inspector, text, hit):
    rules = {h.rule_id for h in forbidden(inspector.inspect(chat(("agent", text))))}
    assert ("forbidden.improper_promise_pattern" in rules) == hit, rules


def test_weibo_smiley_code_is_no_sneer_but_the_word_is(inspector):
    """[呵呵] is the Weibo emoticon code of a smiling face, appended to service templates (the STC-3 mining
    half): not the sarcastic 呵呵, which the list keeps."""
    templ = inspector.inspect(chat(("agent", "您好，请您私信提供号码，以便我们为您核实处理[呵呵]")))
    assert not [h for h in forbidden(templ) if not h.rule_id.startswith("forbidden.model_")]
    sneer = inspector.inspect(chat(("agent", "呵呵，那您随便吧")))
    assert "forbidden.mock_insult" in {h.rule_id for h in forbidden(sneer)}


@pytest.mark.parametrize("text, rule, hit", [
    ("建议您充电时保证电池有一定余量再重启", "forbidden.improper_promise_pattern", False),  # 有一定: "some"
    ("我保证一定给您退", "forbidden.improper_promise_pattern", True),
    ("我这边替您联系相关部门跟进一下", "forbidden.deflect_pattern", False),  # the agent contacts them
    ("我帮您联系快递吧", "forbidden.deflect_pattern", False),
    ("您自己联系其他部门", "forbidden.deflect_pattern", True),
    ("你去找商家吧", "forbidden.deflect_pattern", True),
])
def test_list_shapes_of_the_stc3_mining_half(inspector, text, rule, hit):
    assert (rule in {h.rule_id for h in forbidden(inspector.inspect(chat(("agent", text))))}) == hit


def test_policy_statement_is_no_deflection_but_the_rule_as_whole_answer_is(inspector):
    stated = inspector.inspect(chat(("agent", "订单取消后就无法再送货了，这是规定呢，您可以重新下单")))
    assert not [h for h in forbidden(stated) if not h.rule_id.startswith("forbidden.model_")]
    brushed = inspector.inspect(chat(("agent", "规定就是规定，我也没办法")))
    assert {"forbidden.deflect"} <= {h.rule_id for h in forbidden(brushed)}


def test_mined_negatives_hold_no_held_out_turn():
    """The n-gram trainer's real negatives (false-alarm train split of both sources, USS JD agent turns) hold
    no turn of the false-alarm test split, no labelled turn, no row of a labelled chat_dev session and no
    labelled violation, by text and by session."""
    from qa_datasets.forbidden_train.jddc_negatives import _labelled_sessions, false_alarm_negatives, uss_negatives
    from qa_datasets.labelled.false_alarms import distinct_turns, false_alarm_split
    from qa_datasets.labelled_empathy_jd import load_false_alarms
    from qa_datasets.labelled_set import load_labelled

    turns = distinct_turns()
    test_texts = {t["text"].strip() for s in turns for t in turns[s] if false_alarm_split(t["text_sha1"]) == "test"}
    labelled = {r["text"].strip() for r in load_labelled()}
    violations = {r["text"].strip() for r in load_false_alarms() if r["label"] == "violation"}
    sessions = _labelled_sessions()
    mined, uss = false_alarm_negatives(), uss_negatives()
    assert {n["source"] for n in mined} == {"jddc_replies", "chat_dev"} and len(mined) > 5000 and len(uss) > 2000
    texts = {n["text"] for n in mined + uss}
    assert not texts & (test_texts | labelled | violations)
    assert all(false_alarm_split(n["text_sha1"]) == "train" for n in mined)
    by_sha = {t["text_sha1"]: t for t in turns["chat_dev"]}
    assert not [n for n in mined if n["source"] == "chat_dev" and by_sha[n["text_sha1"]]["reference"].split("#")[0] in sessions]


def test_stc3_mined_rows_are_of_the_mining_half_only():
    """The STC-3 rows the n-gram trainer mines are turns of stc3_train (no test3 turn, by hash or by text),
    its labelled false alarms hard, its labelled violations positives and never negatives."""
    from qa_datasets.forbidden_train.jddc_negatives import stc3_negatives, stc3_violations
    from qa_datasets.labelled.stc3_false_alarms import SOURCE, stc3_split, stc3_turns
    from qa_datasets.labelled_empathy_jd import load_false_alarms

    negatives, positives = stc3_negatives(), stc3_violations()
    test3 = {t["text"].strip() for t in stc3_turns("test3")[SOURCE]}
    rows = [r for r in load_false_alarms() if r["split"] == "stc3_train"]
    assert len(negatives) + len(positives) == len(stc3_turns("stc3_train")[SOURCE])
    assert all(stc3_split(n["text_sha1"]) == "stc3_train" for n in negatives + positives)
    assert not {n["text"] for n in negatives + positives} & test3
    assert {n["text_sha1"] for n in negatives if n["hard"]} == {r["text_sha1"] for r in rows if r["label"] == "false_alarm"}
    assert {p["text_sha1"] for p in positives} == {r["text_sha1"] for r in rows if r["label"] == "violation"}


def test_mined_train_split_false_alarms_stay_quiet_while_real_violations_are_flagged(inspector):
    """The hard negatives the n-gram model is trained on: real JD agent turns of the false-alarm set's train
    split that an earlier engine flagged and a reader labelled false alarms (jddc_replies lines and chat_dev
    rows: a clarifying question, a curt policy refusal, an item confirmation), raise no forbidden finding,
    while real violations are still flagged: the split's labelled violation and every violation of the
    labelled set's tuning data (JD and written). Text read from ../shared, never stored here; the test
    split is not read."""
    from qa_datasets.forbidden_train.jddc_negatives import false_alarm_negatives, false_alarm_violations
    from qa_datasets.labelled_set import load_labelled, select

    hard = [n for n in false_alarm_negatives() if n["hard"]]
    assert len(hard) >= 30 and {n["source"] for n in hard} == {"jddc_replies", "chat_dev"}
    assert not [n["text_sha1"] for n in hard if forbidden(inspector.inspect(chat(("agent", n["text"]))))]
    violations = [v["text"] for v in false_alarm_violations()]
    violations += [r["text"] for r in select(load_labelled(), "tune") if r["forbidden"]]
    assert len(violations) >= 70
    missed = [t for t in violations if not forbidden(inspector.inspect(chat(("agent", t))))]
    assert not missed, len(missed)


def test_eval_false_alarms_counts_known_new_and_baseline(inspector, monkeypatch):
    """On a few scanned turns (two labelled false alarms, the labelled violation, a plain turn that
    the current engine flags for the test): known false, new, violations found, per 1,000, baseline."""
    from qa_datasets.labelled import false_alarms
    from qa_datasets.labelled_empathy_jd import load_false_alarms
    from qa_engine.eval.evaluation import evaluate_false_alarms, format_false_alarm_report

    rows = load_false_alarms()
    train = [r for r in rows if r["split"] == "train" and "found_by" not in r]
    picked = [next(r for r in train if r["label"] == "violation"),
              *[r for r in train if r["label"] == "false_alarm" and r["source"] == "jddc_replies"][:2]]
    plain = "你是不是傻"  # not in the labelled set: a new hit
    sha = __import__("hashlib").sha1(plain.encode("utf-8")).hexdigest()
    turns = {"jddc_replies": [{"reference": r["reference"], "text": r["text"], "text_sha1": r["text_sha1"],
                               "occurrences": 1} for r in picked]
                             + [{"reference": "x:1", "text": plain, "text_sha1": sha, "occurrences": 1}],
             "chat_dev": []}
    monkeypatch.setattr(false_alarms, "distinct_turns", lambda: {s: [dict(t) for t in ts] for s, ts in turns.items()})
    report = evaluate_false_alarms(inspector, "all", "none")
    cur, base = report["sources"]["jddc_replies"], report["baseline"]["jddc_replies"]
    assert cur["turns"] == base["turns"] == 4 and cur["violations"] == base["violations"] == 1
    assert (base["hit_turns"], base["known_false"], base["new"], base["violations_found"]) == (3, 2, 0, 1)
    assert base["per_1000"] == base["per_1000_major"] == 500.0
    assert cur["new"] == 1 and [h["text_sha1"] for h in report["new_hits"]] == [sha]
    assert cur["hit_turns"] == cur["known_false"] + cur["new"] + cur["violations_found"]
    assert report["sources"]["all"]["turns"] == 4 and "labelled" not in report
    text = format_false_alarm_report(report)
    assert "baseline" in text and "new hits to label (1)" in text


def test_eval_false_alarms_command_is_registered():
    from click.testing import CliRunner

    from qa_engine.cli import main

    out = CliRunner().invoke(main, ["eval", "false-alarms", "--help"])
    assert out.exit_code == 0 and "--split" in out.output and "--labelled-split" in out.output and "test2" in out.output
    assert "test3" in out.output and "stc3_train" in out.output


def test_trainer_reads_turns_as_the_rules_do():
    """The trainer calibrates the threshold on turns as the forbidden pack's classifier rules read them."""
    import yaml

    from qa_engine.rules.classifier import ClassifierOperator as Op
    from training import train_forbidden_ngram as trainer

    pack = yaml.safe_load((REPO / "lexicons" / "packs" / "forbidden.yaml").read_text(encoding="utf-8"))
    rules = [r for r in pack["rules"] if r["operator"] == "classifier"]
    default_long = Op.Params.model_fields["long_turn_chars"].default
    assert rules and all(r.get("min_chars") == trainer.MIN_CHARS for r in rules)
    assert all(r.get("long_turn_chars", default_long) == trainer.LONG_CHARS for r in rules)
    assert all(r["model"] == "forbidden_ngram" and "threshold" not in r for r in rules)


# The residual false-alarm shapes of the second change (docs/accuracy.md): clarifying questions, advice, a
# correct refusal to promise, a curt process statement, a refund-done reassurance. Written for this test in
# wording that neither the training file (datasets/forbidden_train/src/neg_clarify_process.txt) nor any
# labelled or false-alarm turn holds.
RESIDUAL_SHAPES = [
    "您是说赠品少发了一个对吗",
    "您的意思是要开增值税专票对吧",
    "就是这两双鞋都要换大一码是吧",
    "建议您先把路由器断电重启一下再看看",
    "几点能送到这个没办法保证，我帮您备注一下",
    "不用谢，您按页面提示走流程就行",
    "您放心，退款已经退回您原来的支付账户了",
]


@pytest.mark.parametrize("text", RESIDUAL_SHAPES)
def test_residual_false_alarm_shapes_raise_no_forbidden_hit(inspector, text):
    assert not forbidden(inspector.inspect(chat(("agent", text))))


def test_blame_paraphrase_is_still_flagged(inspector):
    # blame in wording no phrase list or pattern holds: only the classifier sees it
    hits = forbidden(inspector.inspect(chat(("agent", "电源插反了当然会烧，这种低级操作也就您能做出来"))))
    assert hits and all(h.rule_id.startswith("forbidden.model_") for h in hits)


def test_test2_is_fresh():
    """The fresh false-alarm split test2 (FALSE_ALARMS.md) loads from ../shared with every hash checked and
    shares no text with the train / test splits, the n-gram model's training data or the labelled set."""
    import json

    from qa_datasets.forbidden_train.jddc_negatives import false_alarm_negatives, uss_negatives
    from qa_datasets.labelled.false_alarms import distinct_turns
    from qa_datasets.labelled.fresh_false_alarms import test2_turns
    from qa_datasets.labelled_empathy_jd import load_false_alarms
    from qa_datasets.labelled_set import load_labelled

    fresh = test2_turns()
    texts = {t["text"].strip() for items in fresh.values() for t in items}
    assert len(fresh["jddc_context"]) > 7000 and len(fresh["jddc_dev_refs"]) > 1000
    assert len(texts) == sum(len(items) for items in fresh.values())
    old = {t["text"].strip() for items in distinct_turns().values() for t in items}
    trained = {n["text"] for n in false_alarm_negatives() + uss_negatives()}
    written = {json.loads(line)["text"].strip() for line in (REPO / "datasets" / "forbidden_train" / "forbidden_train.jsonl")
               .read_text(encoding="utf-8").splitlines() if line.strip()}
    assert not texts & (old | trained | written | {r["text"].strip() for r in load_labelled()})
    rows = [r for r in load_false_alarms() if r["split"] == "test2"]
    assert len(rows) >= 36 and all(r["source"] in fresh and "found_by" in r for r in rows)


def test_eval_false_alarms_test2_uses_its_own_turns_and_baseline(inspector, monkeypatch):
    """--split test2 scans the fresh split's turns and compares with the engine it was labelled for (rows
    found by pack 2026.12.2)."""
    from qa_datasets.labelled import fresh_false_alarms
    from qa_datasets.labelled_empathy_jd import load_false_alarms
    from qa_engine.eval.evaluation import FA_TEST2_BASELINE, evaluate_false_alarms

    rows = [r for r in load_false_alarms() if r["split"] == "test2" and r["source"] == "jddc_dev_refs"]
    picked = [r for r in rows if r["label"] == "violation"][:2] + [r for r in rows if r["label"] == "false_alarm"][:2]
    assert len(picked) == 4 and all(r["found_by"] == FA_TEST2_BASELINE["engine"] for r in picked)
    turns = {"jddc_context": [], "jddc_dev_refs": [{"reference": r["reference"], "text": r["text"],
                                                     "text_sha1": r["text_sha1"], "occurrences": 1} for r in picked]}
    monkeypatch.setattr(fresh_false_alarms, "test2_turns", lambda: {s: [dict(t) for t in ts] for s, ts in turns.items()})
    report = evaluate_false_alarms(inspector, "test2", "none")
    base, cur = report["baseline"]["jddc_dev_refs"], report["sources"]["jddc_dev_refs"]
    assert (base["turns"], base["hit_turns"], base["known_false"], base["violations_found"]) == (4, 4, 2, 2)
    assert base["per_1000"] == 500.0 and cur["violations_found"] == 2 and cur["new"] == 0
    assert report["baseline_engine"] == FA_TEST2_BASELINE["engine"] and set(report["sources"]) == {"jddc_context", "jddc_dev_refs", "all"}


def test_stc3_splits_are_fresh_and_follow_the_hash_rule():
    """The STC-3 helpdesk turns (FALSE_ALARMS.md): the committed list loads from ../shared with every hash
    checked, one turn per stripped text, halves by hash parity (odd: test3), and no text of an earlier split,
    of test2, of the n-gram model's training data or of the labelled set."""
    import json

    from qa_datasets.forbidden_train.jddc_negatives import false_alarm_negatives, uss_negatives
    from qa_datasets.labelled.false_alarms import distinct_turns
    from qa_datasets.labelled.fresh_false_alarms import test2_turns
    from qa_datasets.labelled.stc3_false_alarms import SOURCE, stc3_split, stc3_turns
    from qa_datasets.labelled_set import load_labelled

    every = stc3_turns()[SOURCE]
    halves = {s: stc3_turns(s)[SOURCE] for s in ("stc3_train", "test3")}
    assert len(every) == 6300 and {s: len(t) for s, t in halves.items()} == {"stc3_train": 3092, "test3": 3208}
    assert all(stc3_split(t["text_sha1"]) == s for s, items in halves.items() for t in items)
    assert all((int(t["text_sha1"][:8], 16) % 2 == 1) == (s == "test3") for s, items in halves.items() for t in items)
    texts = {t["text"].strip() for t in every}
    assert len(texts) == len(every) and "" not in texts
    old = {t["text"].strip() for items in distinct_turns().values() for t in items}
    old |= {t["text"].strip() for items in test2_turns().values() for t in items}
    trained = {n["text"] for n in false_alarm_negatives() + uss_negatives()}
    written = {json.loads(line)["text"].strip() for line in (REPO / "datasets" / "forbidden_train" / "forbidden_train.jsonl")
               .read_text(encoding="utf-8").splitlines() if line.strip()}
    assert not texts & (old | trained | written | {r["text"].strip() for r in load_labelled()})
    assert all("#" in t["reference"] for t in every)


def test_eval_false_alarms_test3_uses_its_own_turns_and_baseline(inspector, monkeypatch):
    """--split test3 scans the held-out half of the STC-3 helpdesk turns and compares with the engine it was
    labelled for (rows found by pack 2026.12.2 with threshold 0.78)."""
    from qa_datasets.labelled import stc3_false_alarms
    from qa_datasets.labelled_empathy_jd import load_false_alarms
    from qa_engine.eval.evaluation import FA_STC3_BASELINE, evaluate_false_alarms

    rows = [r for r in load_false_alarms() if r["split"] == "test3"]
    picked = [r for r in rows if r["label"] == "violation"][:2] + [r for r in rows if r["label"] == "false_alarm"][:2]
    assert len(picked) == 4 and all(r["found_by"] == FA_STC3_BASELINE["engine"] for r in picked)
    turns = {"stc3_helpdesk": [{"reference": r["reference"], "text": r["text"], "text_sha1": r["text_sha1"],
                                "occurrences": 1} for r in picked]}
    seen = []

    def fake(split="all", shared=None):
        seen.append(split)
        return {s: [dict(t) for t in ts] for s, ts in turns.items()}

    monkeypatch.setattr(stc3_false_alarms, "stc3_turns", fake)
    report = evaluate_false_alarms(inspector, "test3", "none")
    base = report["baseline"]["stc3_helpdesk"]
    assert seen == ["test3"] and set(report["sources"]) == {"stc3_helpdesk", "all"}
    assert (base["turns"], base["hit_turns"], base["known_false"], base["violations_found"]) == (4, 4, 2, 2)
    assert base["per_1000"] == 500.0 and report["baseline_engine"] == FA_STC3_BASELINE["engine"]
    assert all(h["split"] == "test3" for h in report["new_hits"])


def test_stc3_labelled_rows_follow_the_split_rule():
    """Every hit of the engine the STC-3 halves were built for was read and labelled (FALSE_ALARMS.md): 87 on
    stc3_train, 86 on test3, each row in the half its hash gives."""
    from collections import Counter

    from qa_datasets.labelled.stc3_false_alarms import stc3_split
    from qa_datasets.labelled_empathy_jd import load_false_alarms
    from qa_engine.eval.evaluation import FA_STC3_BASELINE

    rows = [r for r in load_false_alarms() if r["source"] == "stc3_helpdesk"]
    assert all(r["split"] == stc3_split(r["text_sha1"]) for r in rows)
    base = Counter((r["split"], r["label"]) for r in rows if r["found_by"] == FA_STC3_BASELINE["engine"])
    assert base == {("stc3_train", "false_alarm"): 85, ("stc3_train", "violation"): 2,
                    ("test3", "false_alarm"): 84, ("test3", "violation"): 2}
