"""Every bad input is refused with one line naming the problem (and the YAML line and key) and
the fix, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.scout.conftest import FakeClock

from modelmint.errors import InvalidInput
from modelmint.pipeline import run_scout
from modelmint.scout import load_spec, parse_budget


def edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def refused(ws, path: Path, match: str, budget: str = "2m") -> None:
    with pytest.raises(InvalidInput, match=match) as info:
        run_scout(ws, path, budget=budget, quick=True, clock=FakeClock())
    assert "\n" not in info.value.message
    scout = ws.settings.home / "scout"
    assert not scout.exists() or not any(scout.iterdir()), "something was written"
    assert ws.store.datasets.list() == []


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        # malformed YAML: the line of the problem
        (
            "    price_per_1k: 8.00\n",
            "    price_per_1k: [8.00\n",
            r"scenarios.yaml line \d+: .* - fix the YAML there",
        ),
        # a key that is not in the schema
        (
            "    price_per_1k: 8.00\n",
            "    price_per_1k: 8.00\n    prise: 3\n",
            r"scenarios.yaml line 9, scenarios\[0\]\.prise: Extra inputs are not permitted .* - "
            "remove it or check its spelling",
        ),
        # negative and absurd economics: every number has a range
        (
            "    price_per_1k: 8.00\n",
            "    price_per_1k: -8.00\n",
            r"scenarios.yaml line 8, scenarios\[0\]\.price_per_1k: Input should be greater than "
            r"or equal to 0 \(got -8.0\) - use a number in that range",
        ),
        (
            "    monthly_calls: 2000000\n",
            "    monthly_calls: 2000000000000000\n",
            r"line 9, scenarios\[0\]\.monthly_calls: Input should be less than or equal to "
            "10000000000",
        ),
        (
            "    cost_per_error: 0.05\n",
            "    cost_per_error: 50000\n",
            r"line 11, scenarios\[0\]\.cost_per_error: Input should be less than or equal to 10000",
        ),
        (
            "    monthly_calls: 2000000\n",
            "    monthly_calls: lots\n",
            r"scenarios\[0\]\.monthly_calls: Input should be a valid integer.* - write a plain "
            "number",
        ),
        # a missing key
        (
            "    monthly_calls: 2000000\n",
            "",
            r"line \d+, scenarios\[0\]\.monthly_calls: .* - add it",
        ),
        # two prices
        (
            "    price_per_1k: 8.00\n",
            "    price_per_1k: 8.00\n    monthly_fee: 100\n",
            r"line 5, scenarios\[0\]: give one price",
        ),
        # unknown currency
        ("currency: CNY", "currency: XYZ", r"line 1, currency: 'XYZ' is not an ISO 4217"),
        # a data file that is not there
        (
            "path: clear.csv",
            "path: nowhere.csv",
            r"line 6, scenarios\[0\]\.data\.path: nowhere.csv not found \(looked for .*\); fix "
            "the path",
        ),
        # a column that is not in the file: line of the key, and the closest column
        (
            "label: sentiment}\n    base_model: test-tiny\n    price_per_1k: 8.00",
            "label: sentimnet}\n    base_model: test-tiny\n    price_per_1k: 8.00",
            r"line 6, scenario 'clear-reviews' \(clear.csv\): column 'sentimnet' not found; "
            r"columns are review, sentiment - did you mean data.label: sentiment\?",
        ),
    ],
)
def test_bad_spec_is_refused_and_nothing_written(ws, scenarios, old, new, match):
    refused(ws, edit(scenarios, old, new), match)


def test_budget_too_small_for_one_pilot(ws, scenarios):
    refused(
        ws,
        scenarios,
        r"a budget of 30 s gives 15 s to each of 2 candidates; a quick pilot needs at least 20 s "
        r"- pass --budget 1m",
        budget="30s",
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("10x", "not a duration; write it like 90s, 10m or 1.5h"),
        ("5s", "out of range; use 10s to 24h"),
        ("48h", "out of range"),
    ],
)
def test_bad_budget(text, match):
    with pytest.raises(InvalidInput, match=match):
        parse_budget(text)


def test_budget_units():
    assert parse_budget("90s") == 90 and parse_budget("10m") == 600 and parse_budget("1.5h") == 5400
    assert parse_budget("120") == 120 and parse_budget(60) == 60


def test_relative_paths_resolve_against_the_yaml(scenarios, tmp_path):
    spec = load_spec(scenarios)
    assert spec.scenarios[0].data.path == (tmp_path / "clear.csv").resolve()
    assert spec.currency == "CNY" and spec.scenarios[1].price_per_1k == 40


def test_cli_refuses_with_one_red_line(mm, scenarios):
    out = mm("scout", str(edit(scenarios, "currency: CNY", "currency: ABC")), code=2)
    assert "error:" in out.err and "'ABC' is not an ISO 4217 currency code" in out.err
    assert out.err.strip().count("\n") <= 1
    out = mm("scout", "promote", "nothing", code=4)
    assert "no pilot named 'nothing'; none has run yet - run `modelmint scout" in out.err


def test_data_that_cannot_be_piloted_names_the_candidate(ws, scenarios, tmp_path):
    # one class only: found when the file is read, after the checks; nothing is kept
    (tmp_path / "clear.csv").write_text(
        "review,sentiment\n" + "".join(f"很好 {i},pos\n" for i in range(30)), encoding="utf-8"
    )
    refused(ws, scenarios, r"scenarios.yaml, scenario 'clear-reviews': only one class \('pos'\)")
