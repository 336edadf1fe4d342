from qa_engine.redact import luhn_ok, redact_interaction, redact_text
from qa_engine.schema import Interaction


def test_typed_placeholders():
    text, spans = redact_text("手机13812345678，座机010-12345678，邮箱zhang.san@example.com")
    assert text == "手机[手机号]，座机[座机号]，邮箱[邮箱]"
    assert [k for _, _, k in spans] == ["email", "mobile", "landline"] or sorted(k for _, _, k in spans) == ["email", "landline", "mobile"]


def test_spoken_digits_and_id_card():
    assert redact_text("号码是一三八一二三四五六七八")[0] == "号码是[手机号]"
    assert redact_text("身份证11010519491231002X")[0] == "身份证[身份证号]"


def test_bank_card_needs_luhn():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert redact_text("卡号4111111111111111")[0] == "卡号[银行卡号]"
    assert redact_text("订单号4111111111111112")[0] == "订单号4111111111111112"


def test_address_and_ordinary_text_kept():
    assert redact_text("地址是北京市海淀区中关村大街27号3栋")[0] == "地址是[详细地址]"
    for plain in ("马路对面有家店", "一共三十个", "订单号123456789012"):
        assert redact_text(plain)[0] == plain


def test_hit_offsets_point_into_redacted_text(inspector):
    item = Interaction.model_validate(
        {"interaction_id": "r", "channel": "chat", "turns": [{"role": "agent", "text": "您的手机13812345678不归我管"}]}
    )
    red = redact_interaction(item)
    assert red.metadata["redacted"] == {"mobile": 1}
    text = red.turns[0].text
    hit = next(h for h in inspector.inspect(red).hits if h.rule_id.startswith("forbidden.deflect"))
    assert text[hit.start : hit.end] == hit.text == "不归我管"
