from qa_engine.schema import Interaction
from qa_engine.text.redact import luhn_ok, redact_interaction, redact_text


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


def test_card_number_next_to_a_card_word_is_redacted_whatever_its_check_digit():
    assert not luhn_ok("6222021234567890123") and not luhn_ok("2026112212345678")
    for text, expected in (
        ("卡号是6222 0212 3456 7890 123", "卡号是[银行卡号]"),
        ("我的银行卡：6222-0212-3456-7890", "我的银行卡：[银行卡号]"),
        ("信用卡 6222021234567890123，谢谢", "信用卡 [银行卡号]，谢谢"),
        ("Card No. 6222021234567890", "Card No. [银行卡号]"),
        ("card number: 6222021234567890", "card number: [银行卡号]"),
        ("卡号为六二二二零二一二三四五六七八九零", "卡号为[银行卡号]"),
        ("卡号622202123456789012", "卡号[银行卡号]"),  # 18 digits: a card here, not an ID number
    ):
        assert redact_text(text)[0] == expected, text
    # without a card word a run that fails Luhn is kept (an order number), as is a card word far off
    for plain in ("订单号2026112212345678", "卡住了，订单号2026112212345678", "卡号是12345678901234567890123"):
        assert redact_text(plain)[0] == plain


def test_metadata_extra_and_turn_fields_are_redacted_recursively_keys_kept():
    item = Interaction.model_validate(
        {
            "interaction_id": "m",
            "channel": "chat",
            "turns": [{"role": "customer", "text": "你好", "nickname": "手机13812345678"}],
            "metadata": {
                "source": "crm",
                "customer": {"phone": "13812345678", "emails": ["zhang.san@example.com", 42, None, True]},
                "caller": 13912345678,
                "13700000000": "key kept",
                "amount": -1.5,
            },
            "note": "身份证11010519491231002X",
            "contacts": [{"card": "卡号是6222 0212 3456 7890 123"}],
        }
    )
    red = redact_interaction(item)
    assert red.metadata == {
        "source": "crm",
        "customer": {"phone": "[手机号]", "emails": ["[邮箱]", 42, None, True]},
        "caller": "[手机号]",
        "13700000000": "key kept",
        "amount": -1.5,
        "redacted": {"mobile": 3, "email": 1, "id_card": 1, "bank_card": 1},  # turns, metadata and extra
    }
    assert red.model_extra == {"note": "身份证[身份证号]", "contacts": [{"card": "卡号是[银行卡号]"}]}
    assert red.turns[0].model_extra == {"nickname": "手机[手机号]"}
    assert item.metadata["customer"]["phone"] == "13812345678"  # the input is left as it was


def test_redacting_twice_changes_nothing():
    item = Interaction.model_validate(
        {
            "interaction_id": "t2",
            "channel": "chat",
            "turns": [
                {"role": "customer", "text": "手机13812345678，地址是北京市海淀区中关村大街27号3栋，卡号是6222 0212 3456 7890 123"},
                {"role": "agent", "text": "好的，邮箱zhang.san@example.com"},
            ],
            "metadata": {"phone": "13812345678"},
            "note": "010-12345678",
        }
    )
    once = redact_interaction(item)
    assert once.metadata["redacted"] == {"mobile": 2, "address": 1, "bank_card": 1, "email": 1, "landline": 1}
    assert redact_interaction(once) == once
    again = redact_interaction(Interaction.model_validate(once.model_dump(mode="json", exclude_none=True)))
    assert again == once
