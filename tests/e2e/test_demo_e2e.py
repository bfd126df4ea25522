"""The demo flow end to end, as a user runs it: a real server process, real HTTP traffic."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_runs_the_whole_loop_on_a_small_sample(tmp_path):
    home = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELMINT_")}
    env["COLUMNS"] = "160"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelmint",
            "demo",
            "--home",
            str(home),
            "--sample",
            "400",
            "--traffic",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    for step in (
        "1. Data",
        "2. Train",
        "3. Evaluate",
        "4. Serve",
        "5. Traffic (simulated)",
        "6. Retrain",
        "7. Summary",
    ):
        assert step in out
    assert "This is a sample: 400 of 35,123 reviews" in out
    assert re.search(r"60 predictions served", out)
    assert re.search(r"throughput: \d+ predictions/s with 16 concurrent clients", out)
    assert re.search(r"calls in [\d.]+ s, 0 failed", out)
    assert re.search(r"PROMOTED|NOT PROMOTED", out)
    assert "acme owes (plan starter)" in out and "modelmint --home" in out
    assert "acme's invoice for" in out and "invoices close --period" in out
    assert list((home / "reports").glob("invoice-acme-*-draft.html"))
    # the workspace it leaves behind is a normal one
    ls = subprocess.run(
        [sys.executable, "-m", "modelmint", "--home", str(home), "models", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert '"review-sentiment:2"' in ls.stdout
    usage = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelmint",
            "--home",
            str(home),
            "usage",
            "--tenant",
            "acme",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert '"total_units": 61' in usage.stdout
