"""`modelmint scout` through the CLI: the terminal table with reasons, --json, --html, and
`scout promote` registering the winner through data add -> train -> register."""

from __future__ import annotations

import json


def test_scout_cli_table_json_html_and_promote(mm, scenarios, tmp_path):
    page = tmp_path / "out" / "scout.html"
    out = mm("scout", str(scenarios), "--quick", "--budget", "10m", "--html", str(page))
    assert "Scenario scout: 2 candidates" in out.out
    assert "1. clear-reviews: ranked 1st: the highest margin" in out.out
    assert "2. random-labels: ranked 2nd: not learnable from this data" in out.out
    assert "audit: 120 rows, 2 classes" in out.out
    assert "next: modelmint scout promote clear-reviews" in out.out
    assert page.read_text(encoding="utf-8").count("<svg") == 2

    js = json.loads(mm("scout", "run", str(scenarios), "--quick", "--json").out)
    assert [r["name"] for r in js["ranking"]] == ["clear-reviews", "random-labels"]
    assert js["ranking"][1]["learnable"] is False

    assert "clear-reviews" not in mm("models", "list").out
    out = mm("scout", "promote", "clear-reviews")
    assert "model clear-reviews:1 registered" in out.out
    assert "clear-reviews" in mm("models", "list").out


def test_scout_help(mm):
    assert "promote" in mm("scout", "--help").out
    assert "--budget" in mm("scout", "run", "--help").out
