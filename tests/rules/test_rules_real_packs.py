"""The shipped rule packs on hand-written turns: what must and must not fire."""

import pytest

from conftest import chat, rule_ids
from qa_engine.config import Settings
from qa_engine.engine import Inspector


def test_forbidden_phrase_found_with_evidence(inspector):
    result = inspector.inspect(chat(("customer", "我要退货"), ("agent", "这个不归我管，你自己去找售后。")))
    hit = next(h for h in result.hits if h.rule_id == "forbidden.deflect")
    assert (hit.turn, hit.role, hit.text) == (1, "agent", "不归我管")
    assert "这个不归我管，你自己去找售后。"[hit.start : hit.end] == "不归我管"
    assert "推诿" in hit.explanation and hit.severity == "major"


def test_traditional_text_hit_offsets_in_original(inspector):
    text = "這個不歸我們管，你自己去找別的部門吧。"
    result = inspector.inspect(chat(("agent", text)))
    hits = [h for h in result.hits if h.dimension == "forbidden_words"]
    assert hits and all(text[h.start : h.end] == h.text for h in hits)
    assert any("歸" in h.text for h in hits)


def test_phrase_inside_longer_word_is_not_a_hit(inspector):
    result = inspector.inspect(chat(("agent", "这款滚筒洗衣机需要先交保证金，不管是哪种型号都可以。")))
    assert not [h for h in result.hits if h.dimension == "forbidden_words"]


def test_insult_is_critical_and_zeroes_the_score(inspector):
    result = inspector.inspect(chat(("agent", "您好"), ("customer", "怎么还没到"), ("agent", "你有病吧，随便你投诉。")))
    assert result.score == 0 and result.flag == "red"
    assert any(r.startswith("forbidden.mock_insult") for r in result.critical)


def test_negated_apology_is_not_politeness(inspector):
    polite = inspector.inspect(chat(("agent", "非常抱歉给您添麻烦了")))
    negated = inspector.inspect(chat(("agent", "我不想跟你道歉")))
    assert "politeness.apology" in rule_ids(polite)
    assert not [h for h in negated.hits if h.dimension == "politeness"]


def test_role_filter_customer_insults_are_not_agent_violations(inspector):
    result = inspector.inspect(chat(("customer", "你们客服都是神经病吗，滚！"), ("agent", "非常抱歉，请您消消气。")))
    assert not [h for h in result.hits if h.dimension == "forbidden_words"]


def test_script_steps_and_order(inspector):
    good = inspector.inspect(
        chat(
            ("agent", "您好，很高兴为您服务，请问有什么可以帮您？"),
            ("customer", "查一下快递"),
            ("agent", "请提供一下您的订单号，核实一下您的身份。"),
            ("customer", "123"),
            ("agent", "好的，已为您查询。请问还有其他可以帮您的吗？"),
            ("customer", "没有了"),
            ("agent", "感谢您的来电，祝您生活愉快，再见！"),
            channel="call",
        )
    )
    steps = good.script.steps
    assert steps["greeting"].present and steps["greeting"].turn == 0
    assert steps["identity"].present and steps["closing"].present
    assert good.script.order_ok
    bare = inspector.inspect(chat(("agent", "说吧"), ("customer", "查快递"), ("agent", "明天到"), channel="call"))
    assert not bare.script.steps["greeting"].present
    assert bare.dimensions["script_compliance"].score < 50
    assert any("greeting" in d for d in bare.dimensions["script_compliance"].deductions)


def test_upset_customer_without_empathy_is_flagged(inspector):
    cold = inspector.inspect(chat(("customer", "气死我了，等了一个星期还没到！"), ("agent", "明天到。")))
    warm = inspector.inspect(chat(("customer", "气死我了，等了一个星期还没到！"), ("agent", "非常理解您的心情，您先别着急，我马上为您处理。")))
    assert "empathy.missing_when_upset" in rule_ids(cold)
    assert "empathy.missing_when_upset" not in rule_ids(warm)
    assert warm.dimensions["empathy"].score > cold.dimensions["empathy"].score
    assert cold.emotion.customer_start == "negative"


@pytest.mark.parametrize(("scorer", "source"), [("lstm", "onnx:emotion_lstm"), ("lexicon", "lexicon-baseline")])
def test_emotion_trajectory_deescalated(scorer, source):
    inspector = Inspector(Settings(emotion_scorer=scorer))
    result = inspector.inspect(
        chat(("customer", "你们太过分了，我要投诉！"), ("agent", "非常抱歉，我马上为您处理。"), ("customer", "好的，谢谢，那就好。"))
    )
    assert result.emotion.customer_start == "negative"
    assert result.emotion.customer_end != "negative"
    assert result.emotion.deescalated is True
    assert result.emotion.source.startswith(source)
    assert result.versions["models"]["emotion"] == result.emotion.source


def test_default_emotion_scorer_is_the_lstm(inspector):
    # with the guideline's customer cues on top (qa_engine.ml.customer_cues)
    assert inspector.emotion_scorer.source.startswith("onnx:emotion_lstm + customer cues@sha256:")


def test_result_matches_contract_fields(inspector):
    result = inspector.inspect(chat(("agent", "您好"), ("customer", "你好")))
    data = result.model_dump()
    for key in ("interaction_id", "agent_id", "channel", "score", "flag", "dimensions", "hits", "script", "emotion", "versions"):
        assert key in data
    assert {"politeness", "forbidden_words", "empathy", "script_compliance", "emotion"} <= set(data["dimensions"])
    hit = data["hits"][0]
    for key in ("dimension", "rule_id", "turn", "start", "end", "text", "role", "severity", "explanation"):
        assert key in hit
    assert data["versions"]["ruleset"]


# --- E-commerce courtesy and JD script wording (issue 14 point 6) ---------------------------------


def _politeness(inspector, text):
    return {h.rule_id for h in inspector.inspect(chat(("agent", text))).hits if h.dimension == "politeness"}


@pytest.mark.parametrize("text", ["亲，在的", "在的哦亲", "亲亲，您好", "亲爱的客户，订单已发货", "不支持哦亲爱哒", "好的亲", "没有的亲"])
def test_address_forms_are_politeness(inspector, text):
    assert "politeness.address" in _politeness(inspector, text)


@pytest.mark.parametrize("text", ["您可以亲自来取", "放亲戚家代收也可以", "亲人代签也可以", "亲属关系证明", "亲身体验一下",
                                  "父亲节礼盒", "母亲的手机号", "去相亲", "亲测有效", "面料亲肤透气", "价格亲民", "亲子装有货"])
def test_words_holding_qin_are_not_politeness(inspector, text):
    assert not _politeness(inspector, text)


def test_greeting_in_the_opening_of_a_jd_chat(inspector):
    result = inspector.inspect(chat(("customer", "在吗"), ("agent", "亲，在的"), ("customer", "查快递"), ("agent", "明天到")))
    assert result.script.steps["greeting"].present and result.script.steps["greeting"].turn == 1
    for opening in ("您好，在的", "在的哦亲", "请问您是咨询之前的问题还是有其他的问题需要处理呢?"):
        assert inspector.inspect(chat(("agent", opening), ("customer", "查快递"))).script.steps["greeting"].present


@pytest.mark.parametrize("text", ["请问还有其他的业务类问题，我可以帮您解答的呢", "请问还有其他还可以帮到您的吗?",
                                  "还有什么业务能为您效劳吗", "还有没有其他可以帮您的呢"])
def test_jd_further_help_questions(inspector, text):
    result = inspector.inspect(chat(("customer", "好的"), ("agent", text), ("customer", "没有了")))
    assert result.script.steps["further_help"].present


def test_bare_wait_thanks_reply_and_festival_wishes_are_politeness(inspector):
    assert "politeness.wait" in _politeness(inspector, "您稍等")
    assert "politeness.wait" in _politeness(inspector, "稍等哈，我帮您看看")
    assert "politeness.thanks" in _politeness(inspector, "您客气了")
    assert "politeness.thanks" in _politeness(inspector, "您客气啦")
    assert "politeness.farewell" in _politeness(inspector, "新年快乐哦")
    assert not _politeness(inspector, "稍后为您回电")


def test_jd_closing_and_rating_invitation(inspector):
    result = inspector.inspect(chat(
        ("customer", "没有了，谢谢"),
        ("agent", "有不周到的地方请多包涵，麻烦您给我一个评价，期待再次为您服务"),
    ))
    assert result.script.steps["closing"].present and result.script.steps["satisfaction"].present
