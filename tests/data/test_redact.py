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
