"""The real CLI, through its entry point, on a real database and model."""

from __future__ import annotations

import json

import pytest
import typer

from modelmint.cli import app, main


def _json(out):
    return json.loads(out.out)


def test_billing_spellings(mm):
    mm("plans", "create", "starter", "--price-per-1k", "2.00", "--quota", "100000")
    plans = _json(mm("plans", "list", "--json"))
    assert plans[0]["price_per_1k"] == "2.00" and plans[0]["price_per_1k_micros"] == 2_000_000
    assert plans[0]["quota"] == 100000
    mm("plans", "create", "unlimited", "--price-per-1k", "0.5")
    assert _json(mm("plans", "list", "--json"))[1]["quota"] is None
    mm("tenants", "create", "acme", "--plan", "starter")
    assert _json(mm("tenants", "list", "--json"))[0]["name"] == "acme"
    key = _json(mm("keys", "create", "--tenant", "acme", "--json"))["key"]
    assert key.startswith("mm_live_")
    keys = _json(mm("keys", "list", "--json"))
    assert len(keys) == 1 and key not in json.dumps(keys)
    mm("keys", "revoke", keys[0]["id"])
    assert _json(mm("keys", "list", "--json"))[0]["revoked_at"]
    usage = _json(mm("usage", "--json"))
    assert usage[0]["tenant"] == "acme" and usage[0]["amount_due"] == "0.00"
    one = _json(mm("usage", "--tenant", "acme", "--json"))
    assert {"period", "total_units", "amount_due"} <= set(one)


def test_data_train_promote_eval(mm, reviews_csv):
    out = mm("data", "add", "reviews", str(reviews_csv))
    assert "reviews:1" in out.out and "duplicate" in out.out
    listed = _json(mm("data", "list", "--json"))
    assert isinstance(listed, list) and listed[0]["ref"] == "reviews:1" and listed[0]["rows"] == 120
    assert _json(mm("data", "show", "reviews", "--json"))["audit"]["rows"] == 120
    trained = _json(mm("train", "reviews", "--json"))
    assert trained["model"] == "reviews:1" and trained["test"]["n"] == 24
    mm("models", "promote", "reviews:1")
    models = _json(mm("models", "list", "--json"))
    assert models[0]["aliases"] == ["production"]
    shown = _json(mm("models", "show", "reviews:production", "--json"))
    assert shown["events"][0]["action"] == "promote"
    ev = _json(mm("eval", "reviews:1", "--json"))
    assert ev["accuracy"] == trained["test"]["accuracy"]
    out = mm("retrain", "reviews", code=2)
    assert "no new labelled feedback" in out.err
    # refused at the door: a job the worker could not run is never queued
    out = mm("retrain", "reviews", "--queue", "--json", code=2)
    assert "no new labelled feedback" in out.err
    assert "ran 0 job" in mm("worker", "--once").out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["tenants", "create", "acme", "--plan", "nosuch"], 4, "plans create"),
        (["data", "add", "x", "/no/such/file.csv"], 2, "does not exist"),
        (["plans", "create", "p", "--price-per-1k", "two"], 2, "decimal number"),
        (["models", "promote", "nosuch:1"], 4, "does not exist"),
        (["train", "nosuch"], 4, "data list"),
        (["usage", "--period", "2026-13"], 2, "YYYY-MM"),
    ],
)
def test_errors_are_one_red_line_with_exit_code(mm, args, code, message):
    out = mm(*args, code=code)
    assert message in out.err and out.err.startswith("error:")
    assert "Traceback" not in out.err and len(out.err.strip().splitlines()) <= 2


def _commands(group, prefix: list[str]):
    for name, cmd in group.commands.items():
        yield [*prefix, name]
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, [*prefix, name])


def test_every_command_has_help(capsys):
    root = typer.main.get_command(app)
    paths = list(_commands(root, []))
    expected = {
        "demo",
        "data add",
        "data list",
        "data show",
        "train",
        "eval",
        "models list",
        "models show",
        "models promote",
        "models rollback",
        "serve",
        "tenants create",
        "tenants list",
        "plans create",
        "plans list",
        "keys create",
        "keys list",
        "keys revoke",
        "usage",
        "retrain",
        "worker",
    }
    assert expected <= {" ".join(p) for p in paths}
    for p in paths:
        assert main([*p, "--help"]) == 0, p
        assert "Usage" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    assert main(["plans", "create", "x"]) == 2
    assert "--price-per-1k" in capsys.readouterr().err
    assert main(["nosuch"]) == 2
