"""The robustness check: each perturbation changes what an encoder sees (none is undone by
NFKC, which is why the full-width/half-width check was dropped), does what its name says, and
the report shows a drop when a perturbation hurts the model: the check can fail.

Most models here train on a keyword encoder registered through the real `register_encoder`
seam (one feature per sentiment word), so the real train, load and robustness code runs in
milliseconds and its numbers are exact; one test runs the real e5 encoder."""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from modelmint import data, registry
from modelmint.evaluate.html import model_card, render_report
from modelmint.evaluate.robustness import (
    NEIGHBOURS,
    PERTURBATIONS,
    SHAPE_ALIKES,
    Perturbation,
    robustness,
)
from modelmint.modeling import load_model_dir
from modelmint.modeling.encoders import register_encoder, unregister_encoder
from modelmint.train import TrainConfig, train_model
from modelmint.types import Example

ENGLISH = "The delivery was fast and the quality is great, I would buy it again."
CHINESE = "这个质量很好，发货也快，客服态度不错，非常满意，下次还会再来买！"
SAMPLE = {"en": ENGLISH, "zh": CHINESE, "any": CHINESE}


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_each_perturbation_changes_the_text_and_nfkc_does_not_undo_it(name):
    p = PERTURBATIONS[name]
    text = SAMPLE[p.language]
    out = p(text, random.Random(f"0:{name}:0"))
    assert out != text
    assert _nfkc(out) != _nfkc(text)  # what the encoders see differs too
    assert p(text, random.Random(f"0:{name}:0")) == out  # seeded: the same every time
    assert p.what


def test_perturbations_change_texts_of_their_language_only_where_they_apply():
    rng = random.Random(0)
    assert PERTURBATIONS["homophones"](ENGLISH, rng) == ENGLISH
    assert PERTURBATIONS["shape-alike characters"]("电脑屏幕", rng) == "电脑屏幕"
    assert PERTURBATIONS["keyboard typos"](CHINESE, rng) == CHINESE
    assert PERTURBATIONS["word drops"]("one", rng) == "one"


def test_keyboard_typos_touch_only_letters_with_neighbouring_keys():
    for a, near in NEIGHBOURS.items():  # the neighbour relation is symmetric
        assert all(a in NEIGHBOURS[b] for b in near), a
    assert set(NEIGHBOURS["g"]) == set("fhtyvb")
    text = "Order 42 arrived, 3 days late; refund #7 please."
    for seed in range(20):
        out = PERTURBATIONS["keyboard typos"](text, random.Random(seed))
        assert out != text
        # digits, spaces and punctuation stay, in order: only letters were edited
        assert [c for c in out if not c.isalpha()] == [c for c in text if not c.isalpha()]
        assert abs(len(out) - len(text)) <= max(1, sum(c.isalpha() for c in text) // 12)


def test_word_drops_leave_out_about_one_word_in_seven_and_keep_the_order():
    text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    out = PERTURBATIONS["word drops"](text, random.Random(1)).split()
    words = text.split()
    assert len(out) == len(words) - 2
    it = iter(words)
    assert all(w in it for w in out)  # a subsequence
    assert PERTURBATIONS["word drops"]("two words", random.Random(0)) in ("two", "words")


def test_homophones_keep_the_pinyin():
    from pypinyin import Style, lazy_pinyin

    text = "物流很快质量非常好客服态度也不错"  # CJK only: one syllable per character
    readings = lazy_pinyin(text, style=Style.NORMAL)
    for seed in range(10):
        out = PERTURBATIONS["homophones"](text, random.Random(seed))
        assert len(out) == len(text)
        changed = [i for i, (a, b) in enumerate(zip(text, out, strict=True)) if a != b]
        assert changed and len(changed) <= 3  # about 1 in 7 of 16
        for i in changed:
            assert lazy_pinyin(out[i], style=Style.NORMAL)[0] == readings[i]


def test_shape_alikes_come_from_the_table():
    groups = [set(g) for g in SHAPE_ALIKES]
    for seed in range(10):
        out = PERTURBATIONS["shape-alike characters"](CHINESE, random.Random(seed))
        assert len(out) == len(CHINESE)
        pairs = [(a, b) for a, b in zip(CHINESE, out, strict=True) if a != b]
        assert pairs
        assert all(any({a, b} <= g for g in groups) for a, b in pairs)


def test_traditional_simplified_both_ways_by_phrase():
    p = PERTURBATIONS["traditional/simplified"]
    rng = random.Random(0)
    assert p("这个质量很好", rng) == "這個質量很好"
    assert p("头发，发货", rng) == "頭髮，發貨"  # 发 is 髮 in hair and 發 in shipping
    assert p("東西不錯，物流很快", rng) == "东西不错，物流很快"  # traditional in, simplified out


def _split(i: int) -> str:
    return ("test", "validation", "train", "train")[i % 4]


KEYWORDS = (
    *("好", "满意", "不错", "喜欢", "快", "值", "推荐", "棒", "漂亮", "舒服"),
    *("差", "退", "慢", "坏", "失望", "不好", "垃圾", "问题", "不能", "贵", "没有"),
    *("great", "wonderful", "loved", "superb", "brilliant"),
    *("dull", "boring", "hated", "awful", "tedious"),
)


class KeywordEncoder:
    """One feature per keyword present (after NFKC, as the real encoders normalise), plus a
    constant, L2-normalised: a model that reads words, so misspelt words mislead it."""

    name = "test-keywords"
    dim = len(KEYWORDS) + 1
    runtime = "keywords"

    def count_tokens(self, text: str) -> int:
        return len(text) + 2

    def token_counts(self, texts: list[str]) -> list[int]:
        return [self.count_tokens(t) for t in texts]

    def embed(self, texts: list[str], max_tokens: int) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            folded = _nfkc(text).lower()
            out[i, :-1] = [k in folded for k in KEYWORDS]
            out[i, -1] = 1.0
            out[i] /= np.linalg.norm(out[i])
        return out


@pytest.fixture
def keywords():
    register_encoder(KeywordEncoder.name, KeywordEncoder)
    yield KeywordEncoder.name
    unregister_encoder(KeywordEncoder.name)


def _train(tmp_path, examples, encoder):
    out = tmp_path / "model"
    train_model(examples, "text-classification", TrainConfig(base_model=encoder), out)
    return load_model_dir(out)


@pytest.fixture
def chinese_model(tmp_path, review_rows, keywords):
    examples = [
        Example(text=r["text"], label=r["label"], split=_split(i))
        for i, r in enumerate(review_rows)
    ]
    return _train(tmp_path, examples, keywords), examples


def _destroy(text: str, rng: random.Random) -> str:
    return "。"


DESTROY = Perturbation("destroyed", "any", "every text becomes one full stop", _destroy)


def _full_width(text: str, rng: random.Random) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def test_chinese_perturbations_run_and_homophones_and_shape_alikes_cost_accuracy(chinese_model):
    model, examples = chinese_model
    report = robustness(model, examples)
    rows = report["perturbations"]
    assert report["language"] == "zh" and report["n"] == 30
    assert report["clean_accuracy"] == pytest.approx(0.7)
    assert set(rows) == {
        "homophones",
        "shape-alike characters",
        "traditional/simplified",
        "punctuation",
    }
    for row in rows.values():
        assert row["changed"] > 0 and row["example"] and row["what"]
        assert row["delta"] == pytest.approx(row["accuracy"] - report["clean_accuracy"], abs=1e-5)
    # misspelt sentiment words (好 -> 号, 满意 -> 瞒意) mislead a model that reads words
    assert rows["homophones"]["delta"] < 0
    assert rows["shape-alike characters"]["delta"] < 0
    assert robustness(model, examples) == report  # seeded


def test_the_check_can_fail_where_the_full_width_check_could_not(chinese_model):
    model, examples = chinese_model
    perturbations = {
        "destroyed": DESTROY,
        "full width": Perturbation("full width", "any", "ASCII as full-width forms", _full_width),
    }
    report = robustness(model, examples, perturbations=perturbations)
    clean = report["clean_accuracy"]
    destroyed, width = report["perturbations"]["destroyed"], report["perturbations"]["full width"]
    assert destroyed["accuracy"] == 0.5  # one prediction for every text; the split is balanced
    assert destroyed["delta"] == pytest.approx(0.5 - clean) and destroyed["delta"] < -0.15
    # the old check: every text changed, and NFKC gave the model back what it had
    assert width["changed"] == 30 and width["delta"] == 0


def test_the_real_encoder_shows_the_drop_too(ws, trained):
    _, model = registry.load(ws.store, trained.model.ref)
    ds = ws.store.datasets.get("reviews", None)
    examples = data.read_examples(Path(ds["path"]))
    report = robustness(model, examples, perturbations={"destroyed": DESTROY})
    row = report["perturbations"]["destroyed"]
    majority = (
        max(sum(e.label == lab for e in examples if e.split == "test") for lab in ("pos", "neg"))
        / report["n"]
    )
    assert report["clean_accuracy"] > majority + 0.1
    assert row["accuracy"] <= majority and row["delta"] < -0.1


def test_english_data_gets_the_english_perturbations(tmp_path, keywords):
    pos = ["a great film", "wonderful and moving", "i loved it", "superb acting", "brilliant fun"]
    neg = ["a dull mess", "boring and long", "i hated it", "awful acting", "tedious stuff"]
    rows = [
        (f"{t}{' really' * k}", lab)
        for k in range(4)
        for lab, texts in (("pos", pos), ("neg", neg))
        for t in texts
    ]
    examples = [Example(text=t, label=lab, split=_split(i)) for i, (t, lab) in enumerate(rows)]
    report = robustness(_train(tmp_path, examples, keywords), examples)
    assert report["language"] == "en" and report["clean_accuracy"] == 1.0
    rows_ = report["perturbations"]
    assert set(rows_) == {"keyboard typos", "word drops", "casing", "punctuation"}
    assert rows_["keyboard typos"]["delta"] < 0  # "grwat" is not "great"
    assert rows_["casing"]["delta"] == 0  # this model lower-cases, as uncased encoders do


def test_reports_name_each_perturbation_and_what_it_does(chinese_model):
    model, examples = chinese_model
    rob = robustness(model, examples)
    report = {"split": "test", "n": rob["n"], "task": "text-classification", "accuracy": 0.9}
    page = render_report("reviews:1", report, {"dataset": "reviews:1"}, robustness=rob)
    card = model_card("reviews:1", report, {"task": "text-classification"}, rob)
    for text in (page, card):
        assert "full/half width" not in text
        for name, row in rob["perturbations"].items():
            assert name in text and row["what"].split(" (")[0] in text
    assert "Chinese perturbations" in page
