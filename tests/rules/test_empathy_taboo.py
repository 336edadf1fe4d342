"""Issue 14 point 3: empathy never credited to a rude turn, and the classic apology-for-inconvenience
forms found. Real sentences with obvious answers, through the real engine with the default packs (the
committed ONNX models included), and `qa-engine eval empathy` on the in-domain empathy set."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from conftest import chat, rule_ids
from qa_engine.cli import main

# 服务禁语 in stock wording and variants, with and without 您 / 放心 / apology words around them
RUDE = [
    "你找别人去",
    "您找别人去吧",
    "您放心，这事您找别人去",
    "给您带来不便，还请您见谅，你找别人去吧",
    "不要拉倒",
    "您不要就拉倒",
    "请您放心，不要拉倒",
    "不买拉倒，您放心",
    "非常抱歉给您带来不便，不要拉倒",
    "急什么",
    "您急什么呀，放心吧",
    "别着急，急什么",
    "您急什么，我理解您的心情",
    "让您久等了，急什么",
    "快点说",
    "您快点说",
    "您快点说，别着急",
    "请您放心，快点说吧",
    "说快点，您放心",
]
EMPATHY = [
    "给您带来不便，还请您见谅",
    "非常抱歉给您带来不便",
    "对您造成的不便很是抱歉",
    "让您久等了",
    "换作是我遇到这种事也会很着急的",
    # the formal helpdesk shapes of the same apology (empathy.apology_pattern; WEIBO.md)
    "您好，很抱歉给您的使用带来不便，请问是从什么时候开始的？",
    "给您带来不愉快的体验，我们致以诚挚的歉意",
    "您所反馈的问题我们深感抱歉",
    "您好，抱歉影响您了，方便的话请私信您的号码",
    "给您使用带来的不便，还请谅解",
]
NOT_EMPATHY = [
    "抱歉，这个需要您自己申请",  # a procedural apology is politeness, not empathy (EMPATHY_JD.md)
    "不好意思，这款已经没有货了",
    "好的，辛苦您了",  # a thanks formula
]


def empathy_hits(result, turn: int = 0) -> list:
    return [h for h in result.hits if h.dimension == "empathy" and h.turn == turn]


@pytest.mark.parametrize("text", RUDE)
def test_rude_turn_earns_no_empathy(inspector, text):
    result = inspector.inspect(chat(("agent", text)))
    assert any(h.dimension == "forbidden_words" for h in result.hits), f"no forbidden hit on {text}"
    assert not empathy_hits(result), [(h.rule_id, h.text) for h in empathy_hits(result)]
    assert result.stats.empathy_turns == 0


def test_rude_turn_does_not_answer_an_upset_customer(inspector):
    # the empathy words inside a rude turn do not count: the customer's anger went unanswered
    result = inspector.inspect(chat(("customer", "气死我了，等了一个星期还没到！"), ("agent", "请您放心，快点说吧")))
    assert not empathy_hits(result, 1)
    assert "empathy.missing_when_upset" in rule_ids(result)


def test_veto_is_per_turn(inspector):
    # a rude turn vetoes its own empathy, not the next turn's
    result = inspector.inspect(chat(("agent", "急什么，您放心"), ("agent", "非常抱歉给您带来不便，您放心")))
    assert not empathy_hits(result, 0) and empathy_hits(result, 1)


def test_veto_is_declared_in_the_packs(inspector):
    rules = {r.spec.id: r for r in inspector.ruleset.rules}
    for rid in ("empathy.phrase", "empathy.soothing", "empathy.model"):
        assert {"forbidden.*", "paraphrase.*"} <= set(rules[rid].spec.unless), rid
    order = list(rules)
    assert max(order.index(r) for r in rules if r.startswith("forbidden.")) < order.index("empathy.phrase")


@pytest.mark.parametrize("text", EMPATHY)
def test_apology_for_inconvenience_is_empathy(inspector, text):
    result = inspector.inspect(chat(("agent", text)))
    hits = empathy_hits(result)
    assert hits and not any(h.dimension == "forbidden_words" for h in result.hits), [(h.rule_id, h.text) for h in result.hits]
    assert result.stats.empathy_turns == 1


@pytest.mark.parametrize("text", NOT_EMPATHY)
def test_procedural_apology_is_not_empathy(inspector, text):
    assert not empathy_hits(inspector.inspect(chat(("agent", text))))


def test_negated_apology_is_not_empathy(inspector):
    assert not empathy_hits(inspector.inspect(chat(("agent", "这样操作不会给您带来不便的"))))


@pytest.mark.parametrize("text", ["为避免给您的使用带来不便，请提前备份数据", "以免影响您的使用，请提前备份数据，抱歉"])
def test_a_warning_that_names_an_inconvenience_is_not_empathy(inspector, text):
    """The apology patterns need an apology word: a warning about a trouble to come is not an apology."""
    assert not empathy_hits(inspector.inspect(chat(("agent", text))))


def test_eval_empathy_on_the_weibo_set():
    out = CliRunner().invoke(main, ["eval", "empathy", "--set", "weibo", "--split", "dev"])
    assert out.exit_code == 0, out.output
    after = [line.split() for line in out.output.splitlines() if line.startswith("dev") and "after: engine" in line][0]
    assert float(after[5]) >= 0.90, out.output  # 0.831 before the apology patterns, 0.962 with them


def test_eval_empathy_prints_the_table():
    out = CliRunner().invoke(main, ["eval", "empathy"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    for split in ("dev", "test"):
        for row in ("before: lexicon only", "before: engine", "after: lexicon only", "after: engine"):
            assert any(line.startswith(split) and row in line for line in lines), (split, row, out.output)
    after = [line.split() for line in lines if line.startswith("test") and "after: engine" in line][0]
    # precision, recall, f1, tp, fp, fn, taboo hits n/N, forbidden+empathy turns
    f1, taboo, both = float(after[5]), after[9], int(after[10])
    assert f1 >= 0.85 and taboo.startswith("0/") and both == 0, out.output
