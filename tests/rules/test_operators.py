"""Each operator on its own, through real YAML packs written to a temporary lexicon folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import REPO, chat, rule_ids
from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.rulepack import RulePackError
from qa_engine.schema import Interaction


def make_inspector(tmp_path: Path, rules: list[dict], scorecard_rules: dict | None = None) -> Inspector:
    lex = tmp_path / "lexicons"
    shutil.copytree(REPO / "lexicons" / "words", lex / "words")
    (lex / "packs").mkdir(parents=True)
    (lex / "packs" / "test.yaml").write_text(yaml.safe_dump({"pack": "test", "rules": rules}, allow_unicode=True), encoding="utf-8")
    (lex / "scorecards").mkdir()
    for channel in ("call", "chat"):
        card = {
            "name": f"test-{channel}",
            "channel": channel,
            "dimensions": {d: {"weight": 1} for d in ("politeness", "forbidden_words", "empathy", "script_compliance", "emotion", "call_signals")},
            "rules": scorecard_rules or {},
        }
        (lex / "scorecards" / f"{channel}.yaml").write_text(yaml.safe_dump(card), encoding="utf-8")
    return Inspector(Settings(lexicons_dir=lex, rule_packs=["test"]))


def kw(id_: str, **params) -> dict:
    return {"id": id_, "dimension": "forbidden_words", "operator": "keyword", "roles": ["agent"], **params}


def timed(*turns: tuple[str, str, float, float], channel: str = "call") -> Interaction:
    return Interaction.model_validate(
        {"interaction_id": "t", "channel": channel, "turns": [{"role": r, "text": t, "start": s, "end": e} for r, t, s, e in turns]}
    )


def test_keyword_modes(tmp_path):
    insp = make_inspector(
        tmp_path,
        [
            kw("t.any", words=["退款", "退货"]),
            kw("t.all", words=["退款", "退货"], mode="all"),
            kw("t.least", words=["退款", "退货", "换货"], mode="at_least", n=2, within="interaction"),
            kw("t.none", words=["您好"], mode="none", severity="major"),
        ],
    )
    one = insp.inspect(chat(("agent", "可以退款")))
    assert rule_ids(one) == {"t.any", "t.none"}
    both = insp.inspect(chat(("agent", "可以退款也可以退货"), ("agent", "您好")))
    assert {"t.any", "t.all", "t.least"} <= rule_ids(both) and "t.none" not in rule_ids(both)
    assert len([h for h in both.hits if h.rule_id == "t.any"]) == 2
    spread = insp.inspect(chat(("agent", "可以退款"), ("agent", "或者换货")))
    assert "t.least" in rule_ids(spread) and "t.all" not in rule_ids(spread)


def test_regex_with_exclusion(tmp_path):
    insp = make_inspector(
        tmp_path,
        [{"id": "t.promise", "dimension": "forbidden_words", "operator": "regex", "roles": ["agent"],
          "patterns": ["保证.{0,4}(一定|肯定)"], "exclude": ["不能保证"], "exclude_context": 2}],
    )
    assert "t.promise" in rule_ids(insp.inspect(chat(("agent", "我保证明天一定到"))))
    assert not insp.inspect(chat(("agent", "我们不能保证明天一定到"))).hits


def test_regex_exclusion_in_the_scope_before_the_match(tmp_path):
    """exclude_before: a negation anywhere earlier in the match's clause drops it, however long the words
    between (a masked placeholder); a clause mark ends the scope, and so may the exclusion regex itself."""
    insp = make_inspector(
        tmp_path,
        [{"id": "t.promise", "dimension": "forbidden_words", "operator": "regex", "roles": ["agent"],
          "patterns": ["一定(送到|到)"], "exclude_before": ["(不能|无法)保证(?!.*但)"]}],
    )
    assert "t.promise" in rule_ids(insp.inspect(chat(("agent", "我保证[数字x]点一定送到"))))
    assert not insp.inspect(chat(("agent", "无法保证明天下午[数字x]点前一定送到"))).hits
    assert "t.promise" in rule_ids(insp.inspect(chat(("agent", "不能保证明天，后天一定到"))))
    assert "t.promise" in rule_ids(insp.inspect(chat(("agent", "不能保证明天但后天一定到"))))
    # a negation after the match is not its scope
    assert "t.promise" in rule_ids(insp.inspect(chat(("agent", "一定送到的无法保证别的"))))


def test_keyword_with_exclusion(tmp_path):
    insp = make_inspector(tmp_path, [kw("t.sneer", words=["呵呵"], exclude=["\\[呵呵\\]"], exclude_context=1)])
    assert not insp.inspect(chat(("agent", "已为您登记[呵呵]"))).hits
    assert "t.sneer" in rule_ids(insp.inspect(chat(("agent", "呵呵，随便你"))))
    assert len(insp.inspect(chat(("agent", "[呵呵]呵呵"))).hits) == 1


def test_negation_aware_phrase(tmp_path):
    insp = make_inspector(tmp_path, [{"id": "t.empathy", "dimension": "empathy", "operator": "phrase", "roles": ["agent"], "words": ["理解您"]}])
    assert rule_ids(insp.inspect(chat(("agent", "我很理解您的心情")))) == {"t.empathy"}
    assert not insp.inspect(chat(("agent", "我不太理解您的意思"))).hits
    # A negator in an earlier clause does not negate.
    assert rule_ids(insp.inspect(chat(("agent", "别急，理解您")))) == {"t.empathy"}


def test_position_scope_first_last_and_near(tmp_path):
    insp = make_inspector(
        tmp_path,
        [
            kw("t.first", words=["您好"], scope={"first_turns": 1}),
            kw("t.last", words=["再见"], scope={"last_turns": 1}),
            kw("t.complaint", words=["投诉"], roles=["customer"]),
            kw("t.sorry_near", words=["抱歉"], scope={"near": {"rule": "t.complaint", "turns": 1}}),
            kw("t.early", words=["您好"], scope={"first_seconds": 5}),
        ],
    )
    r = insp.inspect(
        timed(
            ("agent", "您好", 0, 1), ("customer", "我要投诉", 2, 3), ("agent", "抱歉", 4, 5),
            ("agent", "您好，抱歉", 20, 21), ("agent", "再见", 22, 23),
        )
    )
    by_rule = {rid: [h.turn for h in r.hits if h.rule_id == rid] for rid in rule_ids(r)}
    assert by_rule["t.first"] == [0]
    assert by_rule["t.last"] == [4]
    assert by_rule["t.sorry_near"] == [2]
    assert by_rule["t.early"] == [0]


def test_boolean_and_or_not(tmp_path):
    insp = make_inspector(
        tmp_path,
        [
            kw("t.a", words=["退款"]),
            kw("t.b", words=["马上"]),
            kw("t.c", words=["抱歉"]),
            {"id": "t.and_not", "dimension": "forbidden_words", "operator": "boolean", "all": ["t.a"], "any": ["t.b"], "none": ["t.c"], "severity": "major", "explanation": "退款承诺未致歉"},
            {"id": "t.same_turn", "dimension": "forbidden_words", "operator": "boolean", "all": ["t.a", "t.b"], "within": "turn", "roles": ["agent"]},
            {"id": "t.prefix", "dimension": "forbidden_words", "operator": "boolean", "any": ["t.*"], "none": ["t.and_not"]},
        ],
    )
    r = insp.inspect(chat(("agent", "马上给您退款")))
    assert {"t.and_not", "t.same_turn"} <= rule_ids(r)
    assert "t.prefix" not in rule_ids(r)
    hit = next(h for h in r.hits if h.rule_id == "t.and_not")
    assert hit.turn is None and "t.a@0" in hit.explanation
    r2 = insp.inspect(chat(("agent", "抱歉，马上给您退款")))
    assert "t.and_not" not in rule_ids(r2) and "t.prefix" in rule_ids(r2)
    r3 = insp.inspect(chat(("agent", "退款"), ("agent", "马上")))
    assert "t.same_turn" not in rule_ids(r3) and "t.and_not" in rule_ids(r3)


def test_boolean_rule_cycle_and_unknown_reference_rejected(tmp_path):
    with pytest.raises(RulePackError, match="unknown rule"):
        make_inspector(tmp_path / "a", [{"id": "t.x", "dimension": "empathy", "operator": "boolean", "all": ["t.missing"]}])
    with pytest.raises(RulePackError, match="cycle"):
        make_inspector(
            tmp_path / "b",
            [{"id": "t.x", "dimension": "empathy", "operator": "boolean", "all": ["t.y"]},
             {"id": "t.y", "dimension": "empathy", "operator": "boolean", "all": ["t.x"]}],
        )


def test_unless_vetoes_hits_on_the_same_turn_for_any_operator(tmp_path):
    # RuleSpec.unless: no hit of the rule on a turn where a listed rule (id or prefix.*) hit; a prefix
    # matching no loaded rule (its pack not loaded) vetoes nothing, an unknown id is refused
    phrase = {"id": "e.calm", "dimension": "empathy", "operator": "phrase", "roles": ["agent"], "words": ["您放心"],
              "unless": ["t.*", "paraphrase.*"]}
    insp = make_inspector(tmp_path / "a", [kw("t.rude", words=["快点说"]), phrase])
    r = insp.inspect(chat(("agent", "您放心，快点说"), ("agent", "您放心")))
    assert [(h.rule_id, h.turn) for h in r.hits if h.rule_id.startswith(("e.", "t."))] == [("t.rude", 0), ("e.calm", 1)]
    with pytest.raises(RulePackError, match="unknown rule 't.missing'"):
        make_inspector(tmp_path / "b", [{**phrase, "unless": ["t.missing"]}])


def test_bad_rule_pack_messages(tmp_path):
    with pytest.raises(RulePackError, match="unknown operator 'nope'"):
        make_inspector(tmp_path / "a", [{"id": "t.x", "dimension": "empathy", "operator": "nope"}])
    with pytest.raises(RulePackError, match="t.x.*mode"):
        make_inspector(tmp_path / "b", [kw("t.x", words=["a"], mode="sometimes")])
    with pytest.raises(RulePackError, match="bad regex"):
        make_inspector(tmp_path / "c", [{"id": "t.x", "dimension": "empathy", "operator": "regex", "patterns": ["(unclosed"]}])
    with pytest.raises(RulePackError, match="unknown rules"):
        make_inspector(tmp_path / "d", [kw("t.x", words=["a"])], scorecard_rules={"t.other": {"deduct": 5}})


def test_silence_with_hold_phrase_exception(tmp_path):
    insp = make_inspector(
        tmp_path,
        [{"id": "t.silence", "dimension": "call_signals", "operator": "silence", "roles": ["agent"], "min_seconds": 5, "max_excused": 30}],
    )
    plain = insp.inspect(timed(("customer", "查一下订单", 0, 2), ("agent", "查到了", 9, 10)))
    hit = next(h for h in plain.hits if h.rule_id == "t.silence")
    assert hit.turn == 1 and hit.time == (2, 9) and "7.0 秒" in hit.explanation
    held = insp.inspect(timed(("customer", "查一下订单", 0, 2), ("agent", "请您稍等，我帮您查一下", 2.5, 4), ("agent", "查到了", 12, 13)))
    assert not held.hits
    too_long = insp.inspect(timed(("agent", "请您稍等", 0, 1), ("agent", "查到了", 40, 41)))
    assert "稍等" in too_long.hits[0].explanation


def test_interruption_by_role(tmp_path):
    insp = make_inspector(
        tmp_path,
        [{"id": "t.cut", "dimension": "call_signals", "operator": "interruption", "roles": ["agent"], "min_seconds": 0.3}],
    )
    r = insp.inspect(timed(("customer", "我想问一下那个", 0, 3), ("agent", "你说重点", 2.0, 3.5)))
    assert r.hits[0].turn == 1 and r.hits[0].time == (2.0, 3)
    short = insp.inspect(timed(("customer", "我想问一下", 0, 3), ("agent", "嗯", 2.9, 3.5)))
    assert not short.hits


def test_speech_rate_and_response_time(tmp_path):
    insp = make_inspector(
        tmp_path,
        [
            {"id": "t.rate", "dimension": "call_signals", "operator": "speech_rate", "roles": ["agent"], "max_cpm": 300, "min_talk_seconds": 1},
            {"id": "t.reply", "dimension": "call_signals", "operator": "response_time", "roles": ["agent"], "first_max_seconds": 30, "reply_max_seconds": 60},
        ],
    )
    fast = insp.inspect(timed(("agent", "您好很高兴为您服务请问有什么可以帮您的吗", 0, 2)))  # 19 chars in 2 s = 600/min
    assert "t.rate" in rule_ids(fast) and "600" in fast.hits[0].explanation
    slow_chat = insp.inspect(
        timed(("customer", "在吗", 0, 0), ("agent", "在的", 45, 45), ("customer", "退款", 50, 50), ("customer", "快点", 70, 70), ("agent", "好的", 100, 100), channel="chat")
    )
    replies = [h for h in slow_chat.hits if h.rule_id == "t.reply"]
    assert [h.turn for h in replies] == [1]  # 45 s > 30 s first response; 50 s < 60 s reply
    assert "首次响应" in replies[0].explanation


def test_scorecard_weights_flags_and_critical(tmp_path):
    insp = make_inspector(
        tmp_path,
        [kw("t.bad", words=["随便你"], severity="critical"), kw("t.meh", words=["快点"], severity="minor")],
        scorecard_rules={"t.bad": {"critical": True}, "t.meh": {"deduct": 30}},
    )
    clean = insp.inspect(chat(("agent", "好的")))
    assert clean.score == 100 and clean.flag == "green"
    meh = insp.inspect(chat(("agent", "快点"), ("agent", "快点")))
    assert meh.dimensions["forbidden_words"].score == 40
    assert meh.score == pytest.approx((5 * 100 + 40) / 6, abs=0.1) and meh.flag == "green"
    bad = insp.inspect(chat(("agent", "随便你")))
    assert bad.score == 0 and bad.flag == "red" and bad.critical == ["t.bad"]


def test_rule_group_counts_overlapping_evidence_once(tmp_path):
    insp = make_inspector(
        tmp_path,
        [
            kw("t.words", words=["不归我管"], group="t.deflect"),
            {"id": "t.pattern", "dimension": "forbidden_words", "operator": "regex", "roles": ["agent"], "group": "t.deflect",
             "patterns": ["(不归|不是)我(们)?管"]},
            kw("t.other", words=["不归我管"]),
        ],
        scorecard_rules={"t.words": {"deduct": 30}, "t.pattern": {"deduct": 30}},
    )
    r = insp.inspect(chat(("agent", "这个不归我管"), ("agent", "也不是我们管的")))
    grouped = [(h.rule_id, h.turn) for h in r.hits if h.rule_id in {"t.words", "t.pattern"}]
    assert sorted(grouped) == [("t.pattern", 1), ("t.words", 0)]
    # A rule outside the group keeps its own hit on the same words.
    assert [h.turn for h in r.hits if h.rule_id == "t.other"] == [0]
    assert r.dimensions["forbidden_words"].score == 40


def test_similar_operator_matches_paraphrase_not_lookalike(tmp_path):
    insp = make_inspector(
        tmp_path,
        [{"id": "t.deflect", "dimension": "forbidden_words", "operator": "similar", "roles": ["agent"],
          "exemplars": ["这件事不归我们管，你去找别的部门吧"],
          "negatives_file": "similar_forbidden_negatives.txt", "threshold": 0.9, "margin": 0.0}],
    )
    hit = insp.inspect(chat(("agent", "这事儿不是我们负责的，你找其他部门去"))).hits
    assert hit and {h.rule_id for h in hit} == {"t.deflect"}
    assert all(h.score >= 0.9 and "语义相似度" in h.explanation for h in hit)
    assert {h.text for h in hit} <= {"这事儿不是我们负责的", "你找其他部门去"}
    assert not insp.inspect(chat(("agent", "今天天气不错，适合出去走走"))).hits
    # A polite referral is closer to the harmless look-alikes than to the exemplar.
    assert not insp.inspect(chat(("agent", "这个问题需要售后部门处理，我马上帮您转接过去"))).hits
