from __future__ import annotations

from benchmarks.pii_redaction import DATA, HOLDOUT, evaluate, load

from modelmint.data.redact import cn_id_valid, find_pii, luhn_valid, redact


def test_checksums():
    assert cn_id_valid("11010519491231002X") and not cn_id_valid("110105194912310021")
    assert not cn_id_valid("110105194913310020")  # month 13
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_typed_placeholders_and_counts():
    text, counts = redact("电话13812345678，邮箱a.b@example.com，卡 4111 1111 1111 1111")
    assert text == "电话[PHONE]，邮箱[EMAIL]，卡 [BANK_CARD]"
    assert counts == {"PHONE": 1, "EMAIL": 1, "BANK_CARD": 1}
    assert redact("没有隐私信息的评论，很好用") == ("没有隐私信息的评论，很好用", {})


def test_credentials_url_wins_over_email():
    kinds = [f.kind for f in find_pii("see https://bob:pw@example.com/x")]
    assert kinds == ["URL_CREDENTIALS"]


def test_precision_and_recall_on_the_labelled_sets():
    dev = evaluate(load(DATA))
    assert dev["overall"]["precision"] >= 0.95 and dev["overall"]["recall"] >= 0.95
    assert dev["negative_cases"] >= 20 and dev["spans"] >= 60
    held = evaluate(load(HOLDOUT))  # never used to tune the rules
    assert held["overall"]["precision"] >= 0.9 and held["overall"]["recall"] >= 0.9


# Issue 12: numbers typed in full-width digits, split by zero-width characters, or grouped by
# dots or no-break spaces were stored unredacted.
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]


def test_full_width_digits_are_found():
    assert redact("我的电话：１３８１２３４５６７８，到了请打") == (
        "我的电话：[PHONE]，到了请打",
        {"PHONE": 1},
    )
    assert redact("联系方式＋８６　１３８　１２３４　５６７８")[0] == "联系方式[PHONE]"
    assert redact("邮箱ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ谢谢")[0] == "邮箱[EMAIL]谢谢"
    assert redact("身份证１１０１０５１９４９１２３１００２Ｘ")[0] == "身份证[CN_ID]"
    assert redact("卡号４１１１１１１１１１１１１１１１")[0] == "卡号[BANK_CARD]"


def test_numbers_split_by_zero_width_characters_are_found():
    for zw in ZERO_WIDTH:
        text = f"加我 138{zw}1234{zw}5678 详聊"
        assert redact(text) == ("加我 [PHONE] 详聊", {"PHONE": 1}), repr(zw)
    assert redact("私信我：" + "\u200b".join("13812345678"))[0] == "私信我：[PHONE]"
    assert redact("卡 4111\u200c1111\u200c1111\u200c1111")[0] == "卡 [BANK_CARD]"
    assert redact("mail li\u200bsi@example\u200b.com now")[0] == "mail [EMAIL] now"


def test_cards_grouped_by_dots_or_no_break_spaces_are_found():
    for sep in [".", "\u00a0", "\u202f", "\u3000"]:
        text = f"card {sep.join(['4111'] + ['1111'] * 3)} declined"
        assert redact(text) == ("card [BANK_CARD] declined", {"BANK_CARD": 1}), repr(sep)
    assert redact("Amex 3782.822463.10005 exp")[0] == "Amex [BANK_CARD] exp"


def test_offsets_are_into_the_text_as_given_and_the_rest_is_kept():
    text = "x\u200by 电话１３８\u200b１２３４５６７８ end\u00a0"
    [f] = find_pii(text)
    assert text[f.start : f.end] == "１３８\u200b１２３４５６７８"
    # only the finding is replaced: invisible characters, full-width text and no-break spaces
    # outside it come back as sent
    assert redact(text)[0] == "x\u200by 电话[PHONE] end\u00a0"


def test_folding_makes_no_near_miss_into_pii():
    for text in [
        "订单号：６２２２０２１２３４５６７８９０１２",  # context word, full-width
        "工号 １３８１２３４５６７",  # 10 digits
        "编号 １２３４５６７８９０１",  # not a mobile prefix
        "卡号 4111.1111.1111.1112",  # Luhn fails
        "total 4111111111111111.50",  # a decimal, not a card
        "版本\u200b1.2.3.4 已发布",  # the context word is still seen
        "时间 １２：３０：４５",
        "👨\u200d👩\u200d👧 全家都喜欢",
    ]:
        assert find_pii(text) == [], text


def test_recall_on_the_holdout_evasion_cases():
    held = [c for c in load(HOLDOUT) if c.get("set") == "evasion"]
    assert len(held) >= 50 and sum(1 for c in held if not c["spans"]) >= 20
    report = evaluate(held)
    assert report["overall"]["recall"] >= 0.9 and report["overall"]["precision"] >= 0.9
