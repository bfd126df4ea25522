"""Monitoring's statistics and sketches on synthetic data with known truth (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from modelmint import monitor
from modelmint.errors import InvalidInput
from modelmint.intervals import wilson
from modelmint.monitor import stats
from modelmint.monitor.reference import Column, Embedding, Reference, script, unknown_share


def rng(seed=0):
    return np.random.default_rng(seed)


def test_small_reference_numeric_uses_ks_and_finds_a_shift():
    ref = Column.numeric("age", rng(0).normal(40, 10, 800), rng(1))
    same = stats.column_test(ref, rng(2).normal(40, 10, 500))
    shifted = stats.column_test(ref, rng(3).normal(46, 10, 500))
    assert same.method == shifted.method == "ks"
    assert not same.drifted and shifted.drifted
    assert shifted.statistic < 0.05 <= same.statistic


def test_large_reference_numeric_uses_normed_wasserstein_from_the_sketch():
    ref = Column.numeric("income", rng(0).lognormal(10, 0.5, 50_000), rng(1))
    assert ref.n == 50_000 and len(ref.sample) == 1000 and len(ref.quantiles) == 200
    same = stats.column_test(ref, rng(2).lognormal(10, 0.5, 20_000))
    shifted = stats.column_test(ref, rng(3).lognormal(10.3, 0.5, 20_000))
    assert same.method == "wasserstein" and not same.drifted
    assert shifted.drifted and shifted.statistic >= 0.1


def test_categorical_tests_by_reference_size():
    small = Column.categorical("plan", ["a"] * 300 + ["b"] * 300, rng())
    assert stats.column_test(small, ["a"] * 100 + ["b"] * 100).drifted is False
    moved = stats.column_test(small, ["a"] * 170 + ["b"] * 30)
    assert moved.method == "chi2" and moved.drifted
    big = Column.categorical("plan", ["a"] * 3000 + ["b"] * 3000, rng())
    assert stats.column_test(big, ["a"] * 500 + ["b"] * 500).drifted is False
    new_level = stats.column_test(big, ["a"] * 500 + ["c"] * 500)
    assert new_level.method == "jensen-shannon" and new_level.drifted


def test_level_counts_from_payload_codes_give_the_same_test_as_the_values():
    """A report of a million rows counts levels from the payload's codes (no string per row):
    the same statistic as testing the values themselves."""
    from collections import Counter

    from modelmint.monitor.report import level_counts

    ref = Column.categorical("plan", ["a"] * 3000 + ["b"] * 2000 + ["c"] * 10, rng())
    levels = list(ref.counts)
    codes = np.array([0] * 400 + [1] * 500 + [2] * 3 + [-1] * 7 + [np.nan] * 5, dtype=np.float32)
    counts = level_counts(codes, levels)
    values = [levels[int(c)] if c >= 0 else "(unseen)" for c in codes if not np.isnan(c)]
    assert counts == Counter(values) and counts["(unseen)"] == 7
    by_counts, by_values = stats.column_test(ref, counts), stats.column_test(ref, values)
    assert by_counts == by_values and by_counts.n_current == 910


def test_numeric_column_with_few_values_is_compared_as_levels():
    ref = Column.numeric("children", rng(0).integers(0, 3, 600).astype(float), rng(1))
    test = stats.column_test(ref, rng(2).integers(0, 3, 300).astype(float))
    assert test.method == "chi2" and not test.drifted


def test_embedding_domain_classifier_finds_a_shift_and_not_chance():
    e = Embedding.fit(rng(0).normal(size=(2000, 64)), rng(1))
    assert e.components.shape == (32, 64) and e.sample.shape == (1000, 33)
    same = e.project(rng(2).normal(size=(400, 64)))
    moved = rng(3).normal(size=(400, 64))
    moved[:, :3] += 0.6
    t_same, share_same = stats.embedding_test(e.sample, same)
    t_moved, _ = stats.embedding_test(e.sample, e.project(moved))
    assert not t_same.drifted and t_moved.drifted
    assert t_moved.statistic > 0.6 and share_same < 0.2


def test_false_alarm_rate_on_undrifted_windows_is_low():
    """40 windows drawn from the reference distribution: the domain classifier's alarms are
    at most what its 1% one-sided threshold allows with room (expected 0.4 of 40)."""
    e = Embedding.fit(rng(0).normal(size=(2000, 48)), rng(1))
    alarms = 0
    for k in range(40):
        test, _ = stats.embedding_test(e.sample, e.project(rng(100 + k).normal(size=(150, 48))))
        alarms += test.drifted
    assert alarms <= 2


def test_auc_threshold_grows_for_small_samples():
    assert stats.auc_threshold(1000, 1000) == 0.55
    assert stats.auc_threshold(20, 20) > 0.7


def test_wilson_interval():
    low, high = wilson(45, 50)
    assert 0.78 < low < 0.79 and 0.95 < high < 0.96
    assert wilson(0, 0) == (0.0, 1.0)


def test_text_signals():
    vocab = frozenset({"good", "film", "很", "好"})
    assert unknown_share("Good film!", vocab) == 0.0
    assert unknown_share("good popcorn", vocab) == 0.5
    assert script("质量很好 ok") == "han" and script("a great film") == "latin"
    assert script("12345 !!") == "none" and script("Привет мир") == "cyrillic"


def test_reference_round_trip_and_payloads(tmp_path):
    rows = [{"age": float(20 + i % 50), "city": ["bj", "sh", "gz"][i % 3]} for i in range(300)]
    ref = monitor.build("tabular-classification", ["no", "yes"], rows, outputs=None)
    ref.save(tmp_path)
    back = Reference.load(tmp_path)
    assert back.features == ["age", "city"] and back.payload == "tabular"
    blobs = back.encode_rows([{"age": 33, "city": "sh"}, {"city": "paris"}, {"age": "n/a"}])
    assert all(len(b) == 8 for b in blobs)  # two float32 columns
    x = back.decode(blobs)
    assert x[0, 0] == 33 and back.level_names("city")[int(x[0, 1])] == "sh"
    assert x[1, 1] == -1 and np.isnan(x[1, 0]) and np.isnan(x[2, 0])

    texts = ["质量很好", "太差了"] * 50
    emb = rng().normal(size=(100, 16))
    tref = monitor.build(
        "text-classification",
        ["neg", "pos"],
        texts,
        training_texts=texts,
        heldout_texts=["质量不错"],
        embeddings=emb,
        outputs=np.tile([[0.2, 0.8]], (100, 1)),
    )
    tref.save(tmp_path)
    back = Reference.load(tmp_path)
    assert back.payload == "embedding" and set(back.columns) == {
        "length",
        "unknown_tokens",
        "script",
    }
    assert back.columns["unknown_tokens"].sample == [0.5]  # 不 and 错 are new, 质 量 not
    payload = back.encode_embeddings(emb[:3])
    assert all(len(b) == back.embedding.width * 2 for b in payload)  # float16
    assert np.allclose(back.decode(payload), back.embedding.project(emb[:3]), atol=1e-2)
    assert set(back.outputs) == {"predicted", "confidence"}
    assert back.decode([b"short", None]).shape == (0, back.embedding.width)


def test_model_without_profile_loads_as_none(tmp_path):
    assert Reference.load(tmp_path) is None


@pytest.mark.parametrize(
    ("text", "span", "count"),
    [("1h", 3600, None), ("30m", 1800, None), ("7d", 7 * 86400, None), ("10000", None, 10000)],
)
def test_windows(text, span, count):
    spec = monitor.parse_window(text)
    assert (spec.span.total_seconds() if spec.span else None) == span and spec.count == count


@pytest.mark.parametrize("text", ["0m", "400d", "5", "99999999999", "1w", "", "-1h"])
def test_windows_out_of_range_or_unknown(text):
    with pytest.raises(InvalidInput, match="window"):
        monitor.parse_window(text)


def test_slices_cover_the_window():
    parts = monitor.slices(100)
    assert len(parts) == 12 and sum(len(p) for p in parts) == 100
    assert monitor.slices(5) == [range(i, i + 1) for i in range(5)]


def test_alerts_raise_once_and_clear_on_recovery():
    alert = {"state": "alert", "value": 0.8, "threshold": 0.55, "n": 200}
    ok = {"state": "ok", "value": 0.5, "threshold": 0.55, "n": 200}
    few = {"state": "insufficient", "value": 0.9, "threshold": 0.55, "n": 5}
    first = monitor.changes({"input_drift": alert}, {})
    assert [(c.action, c.signal) for c in first] == [("raise", "input_drift")]
    assert monitor.changes({"input_drift": alert}, {"input_drift": "A1"}) == []
    assert monitor.changes({"input_drift": few}, {"input_drift": "A1"}) == []
    assert monitor.changes({"input_drift": few}, {}) == []
    cleared = monitor.changes({"input_drift": ok}, {"input_drift": "A1"})
    assert [(c.action, c.alert_id) for c in cleared] == [("clear", "A1")]


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 100_003])
def test_sorted_quantiles_equal_numpy_linear_quantiles(n):
    x = rng(n).lognormal(3, 0.6, n)
    q = monitor.reference.quantile_points()
    assert np.allclose(stats.sorted_quantiles(np.sort(x), q), np.quantile(x, q), rtol=0, atol=1e-12)
