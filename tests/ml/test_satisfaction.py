"""Predicted customer satisfaction (issue 14, point 5) with the committed ONNX model: obvious dialogues,
the result field, its digest in result.versions, and the optional scorecard dimension customer_outcome."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import chat
from test_model_digest import _linked_models

from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.eval.satisfaction_eval import USS_SEEDS, adapted, auc, platt, rank, spearman, stage2, uss_splits
from qa_engine.ml.satisfaction import MODEL_FOLDER
from qa_engine.rulepack import RulePackError
from qa_engine.scorecard import Scorecard, load_scorecards

OPENING = (("agent", "您好，很高兴为您服务，请问有什么可以帮您？"), ("customer", "我买的洗衣机订单显示已发货，想问下什么时候到"),
           ("agent", "亲，帮您查询了，物流显示明天送达，请您耐心等待"))  # fmt: skip
UNHAPPY_ENDINGS = [
    (("customer", "都等了六天了还没到，太差了"), ("agent", "非常抱歉，已经帮您催促"), ("customer", "我要投诉，太差了")),
    (("customer", "上次也说明天到，结果还没到"), ("agent", "请您再耐心等待一下"), ("customer", "什么破服务，还没到，差评")),
    (("customer", "怎么还没到啊"), ("agent", "物流原因我们也没办法"), ("customer", "太差了，我要投诉你们")),
]
HAPPY_ENDINGS = [
    (("customer", "好的，收到了"), ("agent", "请问还有其他可以帮您的吗"), ("customer", "好的谢谢，解决了")),
    (("customer", "明白了"), ("agent", "感谢您的耐心，祝您生活愉快"), ("customer", "好的谢谢，解决了，辛苦了")),
    (("customer", "可以了，谢谢"), ("agent", "不客气，还有其他问题吗"), ("customer", "没有了，谢谢你，很满意")),
]


def _result(inspector, *turns):
    return inspector.inspect(chat(*OPENING, *turns))


@pytest.mark.parametrize("unhappy", UNHAPPY_ENDINGS)
@pytest.mark.parametrize("happy", HAPPY_ENDINGS)
def test_a_complaint_ending_predicts_dissatisfied_more_than_a_thankful_one(inspector, unhappy, happy):
    bad, good = _result(inspector, *unhappy).satisfaction, _result(inspector, *happy).satisfaction
    assert bad.predicted < good.predicted
    assert bad.dissatisfied > good.dissatisfied
    # not just ordered: each on its side of the scale, the complaint far likelier dissatisfied
    assert good.predicted > 0 > bad.predicted
    assert bad.dissatisfied > 0.3 and good.dissatisfied < 0.05
    # a longer chase ending in a complaint crosses the decision (probability >= 0.5)
    chase = _result(inspector, *unhappy[:2], ("customer", "每次都说催促，到底什么时候能到？"), ("agent", "请您再耐心等待"),
                    unhappy[-1]).satisfaction
    assert chase.dissatisfied >= 0.5 and chase.predicted < bad.predicted


def test_the_field_is_present_valid_and_points_at_customer_turns(inspector):
    result = _result(inspector, *UNHAPPY_ENDINGS[0])
    sat = result.satisfaction
    assert sat is not None and -2 <= sat.predicted <= 2 and 0 <= sat.dissatisfied <= 1
    digest = result.versions["model_digests"][MODEL_FOLDER]
    assert sat.source == f"{MODEL_FOLDER}@{digest}" == result.versions["models"]["satisfaction"]
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", digest)
    roles = [t.role for t in chat(*OPENING, *UNHAPPY_ENDINGS[0]).turns]
    assert sat.evidence and all(roles[i] == "customer" for i in sat.evidence)
    assert len(OPENING) + 2 in sat.evidence  # the closing complaint 我要投诉，太差了 drove it
    # the JSON a client reads, and the schema `qa-engine schema` prints
    out = json.loads(result.model_dump_json())["satisfaction"]
    assert set(out) == {"predicted", "dissatisfied", "source", "evidence"}


def test_dialogues_without_customer_turns_and_with_the_model_off():
    inspector = Inspector(Settings(satisfaction=False))
    off = inspector.inspect(chat(("agent", "您好"), ("customer", "好的谢谢")))
    assert off.satisfaction is None
    assert MODEL_FOLDER not in off.versions["model_digests"] and "satisfaction" not in off.versions["models"]


def test_agent_only_dialogue_has_a_prediction_and_no_evidence(inspector):
    sat = inspector.inspect(chat(("agent", "您好，请问有什么可以帮您"))).satisfaction
    assert sat is not None and sat.evidence == [] and -2 <= sat.predicted <= 2


def test_a_changed_model_file_changes_versions_and_source(tmp_path):
    models = _linked_models(tmp_path / "models")
    interaction = chat(*OPENING, *HAPPY_ENDINGS[0])
    before = Inspector(Settings(models_dir=models)).inspect(interaction)
    labels = models / MODEL_FOLDER / "labels.json"
    data = json.loads(labels.read_text("utf-8"))
    labels.unlink()
    data["bias"] += 0.5  # a retrained model: other weights
    labels.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    after = Inspector(Settings(models_dir=models)).inspect(interaction)
    assert after.versions["model_digests"][MODEL_FOLDER] != before.versions["model_digests"][MODEL_FOLDER]
    assert after.satisfaction.source != before.satisfaction.source
    assert after.satisfaction.predicted == pytest.approx(min(2.0, before.satisfaction.predicted + 0.5), abs=2e-3)
    others = lambda r: {k: v for k, v in r.versions["model_digests"].items() if k != MODEL_FOLDER}  # noqa: E731
    assert others(after) == others(before)


# --- scorecard dimension customer_outcome -------------------------------------------------------------


def _card_with_outcome(weight: float, dissatisfied_deduct: float = 0) -> dict[str, Scorecard]:
    cards = load_scorecards(Settings().scorecards_path)
    out = {}
    for channel, card in cards.items():
        data = card.model_dump()
        data["dimensions"]["customer_outcome"] = {"weight": weight}
        data["customer_outcome"] = {"dissatisfied_deduct": dissatisfied_deduct}
        out[channel] = Scorecard.model_validate(data)
    return out


def test_default_cards_leave_customer_outcome_out_so_scores_do_not_change(inspector):
    interaction = chat(*OPENING, *UNHAPPY_ENDINGS[0])
    with_model = inspector.inspect(interaction)
    without = Inspector(Settings(satisfaction=False)).inspect(interaction)
    assert "customer_outcome" not in with_model.dimensions
    assert (with_model.score, with_model.flag, with_model.dimensions) == (without.score, without.flag, without.dimensions)


def test_customer_outcome_scores_the_prediction_when_a_centre_weights_it():
    inspector = Inspector(Settings(), scorecards=_card_with_outcome(0.3, dissatisfied_deduct=20))
    plain = Inspector(Settings())
    chase = (*UNHAPPY_ENDINGS[0][:2], ("customer", "每次都说催促，到底什么时候能到？"), ("agent", "请您再耐心等待"),
             UNHAPPY_ENDINGS[0][-1])
    for turns in (chase, UNHAPPY_ENDINGS[0], HAPPY_ENDINGS[0]):
        result = inspector.inspect(chat(*OPENING, *turns))
        sat = result.satisfaction
        dim = result.dimensions["customer_outcome"]
        expected = 100 * (sat.predicted + 2) / 4 - (20 if sat.dissatisfied >= 0.5 else 0)
        assert dim.score == pytest.approx(max(0.0, expected), abs=0.06) and dim.weight == 0.3
        assert any("预测客户满意度" in d for d in dim.deductions)
        others = plain.inspect(chat(*OPENING, *turns))
        total = sum(d.weight for d in others.dimensions.values()) + 0.3
        weighted = sum(d.score * d.weight for d in others.dimensions.values()) + dim.score * 0.3
        assert result.score == pytest.approx(round(weighted / total, 1), abs=0.051)
    bad = inspector.inspect(chat(*OPENING, *chase))
    assert bad.satisfaction.dissatisfied >= 0.5
    assert any("预测客户不满意" in d for d in bad.dimensions["customer_outcome"].deductions)
    good = inspector.inspect(chat(*OPENING, *HAPPY_ENDINGS[0]))
    assert good.dimensions["customer_outcome"].score > bad.dimensions["customer_outcome"].score


def test_a_card_weighting_customer_outcome_needs_the_model_and_unknown_dimensions_are_refused():
    with pytest.raises(RulePackError, match="customer_outcome needs the satisfaction model"):
        Inspector(Settings(satisfaction=False), scorecards=_card_with_outcome(0.2))
    data = load_scorecards(Settings().scorecards_path)["chat"].model_dump()
    data["dimensions"]["customer_outcomes"] = {"weight": 0.1}
    with pytest.raises(ValueError, match="unknown dimensions"):
        Scorecard.model_validate(data)


# --- the statistics of the evaluation (numpy, no scipy) ----------------------------------------------


def test_rank_spearman_auc_and_calibration_on_known_values():
    assert rank([3, 1, 2, 2]).tolist() == [3.0, 0.0, 1.5, 1.5]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert auc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auc([0.9, 0.1, 0.8, 0.2], [True, True, False, False]) == 0.5
    assert auc([0.5, 0.5], [True, False]) == 0.5
    import numpy as np

    raw = np.linspace(-2, 2, 41)
    cal = platt(raw, (raw < 0).astype(float) * 0.8 + 0.1)  # soft labels: a finite fit
    assert cal["a"] < 0  # lower prediction, more likely dissatisfied


# --- USS valid as training data: the out-of-fold protocol must not leak ------------------------------

USS_OVERALL = np.repeat([0, 1, 2], [33, 39, 258])  # USS JDDC valid's OVERALL classes (SOURCE.md counts)


def test_uss_splits_hold_each_dialogue_out_once_per_seed_and_keep_the_classes():
    seen = {}
    for seed, train, test in uss_splits(USS_OVERALL):
        assert not set(train) & set(test) and len(train) + len(test) == len(USS_OVERALL)
        assert 6 <= (USS_OVERALL[test] == 0).sum() <= 7  # 33 dissatisfied over 5 folds
        seen.setdefault(seed, []).extend(test.tolist())
    assert len(seen) == USS_SEEDS
    assert all(sorted(tests) == list(range(len(USS_OVERALL))) for tests in seen.values())
    assert seen[0] != seen[1]  # the repeats cut differently


def test_the_uss_adapted_ridge_and_the_second_stage_learn_nothing_about_a_held_out_dialogue():
    """A kernel / features where each dialogue resembles only itself: out of fold, the held-out
    dialogues' labels cannot be read back (AUC 0.5); fitted on them (a leak), they would (AUC near 1)."""
    rng = np.random.RandomState(0)
    overall = rng.permutation(np.repeat([0, 1, 2], [11, 13, 86]))  # a third of USS's classes, shuffled
    n = len(overall)
    dis = overall == 0
    target = np.array([-1.5, 0.0, 1.0])[overall]
    kernel, base, onehot = np.eye(n), np.zeros(n), np.eye(n)
    ridge, second = np.zeros(n), np.zeros(n)
    for seed, train, test in uss_splits(overall, seeds=1):
        ridge[test] = adapted(base, kernel, 0.03, target, 1.0, train, test)
        second[test] = stage2(onehot, dis.astype(float), overall, train, test, seed)
        assert np.ptp(second[test]) < 1e-9  # one score for every held-out dialogue
    assert np.all(ridge == 0.0)
    assert auc(-ridge, dis) == 0.5 and abs(auc(second, dis) - 0.5) < 0.1  # folds differ only in intercept
    everything = np.arange(n)
    leaked = adapted(base, kernel, 0.03, target, 1.0, everything, everything)
    assert auc(-leaked, dis) > 0.99
    assert auc(stage2(onehot, dis.astype(float), overall, everything, everything, 0), dis) > 0.95


def test_a_model_built_for_other_features_is_refused_with_the_rebuild_command(tmp_path):
    from qa_engine.ml.satisfaction import BUILD, SatisfactionModel

    folder = tmp_path / MODEL_FOLDER
    folder.mkdir()
    src = Settings().models_dir / MODEL_FOLDER
    (folder / "model.onnx").symlink_to(src / "model.onnx")
    labels = json.loads((src / "labels.json").read_text("utf-8"))
    labels["dense_features"] = labels["dense_features"][:-1]
    (folder / "labels.json").write_text(json.dumps(labels, ensure_ascii=False), "utf-8")
    with pytest.raises(ValueError, match=re.escape(BUILD)):
        SatisfactionModel(folder)


def test_the_committed_metrics_and_the_eval_report_show_model_beside_baseline():
    from qa_engine.eval.satisfaction_eval import format_report
    from qa_engine.ml.model_digest import folder_digest

    metrics = json.loads((Settings().models_dir / MODEL_FOLDER / "metrics.json").read_text("utf-8"))
    model, baseline = metrics["models"]
    assert model["stc3_cv_spearman"] >= 0.80 and model["stc3_cv_spearman"] > baseline["stc3_cv_spearman"]
    assert model["uss_dissatisfied_auc"] > baseline["uss_dissatisfied_auc"]
    assert metrics["uss_valid"] == {"dialogues": 330, "dissatisfied": 33, "definition": "OVERALL satisfaction 0 (of 0/1/2)"}
    text = format_report(metrics)
    assert "baseline: ridge on char uni+bigram bag" in text and f"{model['uss_dissatisfied_auc']:.4f}" in text
    # the USS out-of-fold protocol beside it: the STC-3-only row is the reference of every gain
    oof = metrics["uss_out_of_fold"]
    assert (oof["seeds"], oof["folds"]) == (USS_SEEDS, 5)
    assert set(oof["models"]) == {"stc3_only", "ridge_uss", "stage2", "baseline_uss"}
    assert oof["models"]["stc3_only"]["per_fold_gain_mean"] == 0 == oof["models"]["stc3_only"]["uss_oof_auc_sd"]
    assert "USS valid as training data, out of fold" in text and f"{oof['models']['stage2']['uss_oof_auc_mean']:.4f}" in text
    # the figures name the model folder's current content
    assert metrics["model_source"].split("@")[1] == folder_digest(Settings().models_dir / MODEL_FOLDER)


def test_each_evidence_variant_is_the_dialogue_with_that_customer_turn_blanked(inspector):
    """features() computes the variants' rows in closed form (sums and the two largest values); each
    must equal the features of the same dialogue recomputed with that customer turn said nothing, on
    the engine's own inputs of dialogues with ties, one, two and many customer turns."""
    from dataclasses import replace

    import numpy as np

    from qa_engine.ml.satisfaction import features, parts_of

    dialogues = [chat(*OPENING, *UNHAPPY_ENDINGS[0]), chat(*OPENING, *HAPPY_ENDINGS[2]),
                 chat(("customer", "在吗")), chat(("customer", "太差了"), ("customer", "太差了")),
                 chat(("agent", "您好"), ("customer", "还没到"), ("customer", "我要投诉，太差了"), ("agent", "抱歉"))]
    model = inspector.satisfaction
    for item in dialogues:
        result = inspector.inspect(item)
        parts = parts_of([t.role for t in item.turns], [t.text for t in item.turns], result.emotion.turns, result.hits)
        got = features(parts, model.markers)
        assert got.dense.shape == (1 + len(got.customer_turns), 26)
        for j, turn in enumerate(got.customer_turns):
            blanked = replace(parts, texts=[("" if i == turn else t) for i, t in enumerate(parts.texts)],
                              polarities=[(None if i == turn else p) for i, p in enumerate(parts.polarities)])
            np.testing.assert_allclose(got.dense[1 + j], features(blanked, model.markers).dense[0], atol=1e-12)
