from qa_engine.text.normalize import normalize


def test_traditional_fullwidth_and_case_are_normalised():
    n = normalize("這個不歸我們管，ＶＩＰ會員")
    assert n.text == "这个不归我们管,vip会员"


def test_offsets_point_into_original_text():
    original = "您 好 ，這個  不歸我管"
    n = normalize(original)
    assert n.text == "您好,这个不归我管"
    start = n.text.index("不归我管")
    s, e = n.to_original(start, start + 4)
    assert original[s:e] == "不歸我管"


def test_spaces_between_latin_words_are_kept_once():
    assert normalize("order   ID  123").text == "order id 123"
    assert normalize("  ").text == ""


def test_simplified_original_is_to_simplified_of_the_original() -> None:
    from qa_engine.text.normalize import simplified_original, to_simplified

    for text in ["這個問題", "这个问题", "ＡＢＣ這個", "Hello 這個 問題", "您好\u3000请问", "USB接口", "", "  前後空格  "]:
        assert simplified_original(normalize(text)) == to_simplified(text), text
