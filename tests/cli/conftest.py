"""CLI test fixtures: `mm(*args, code=0)` runs `modelmint` in-process against the test home."""

from __future__ import annotations

import pytest

from modelmint.cli import main


@pytest.fixture
def mm(settings, capsys, monkeypatch, shared_cache):
    monkeypatch.setenv("MODELMINT_DATABASE_URL", settings.database_url)
    home = str(settings.home)

    def run(*args: str, code: int = 0):
        rc = main(["--home", home, *args])
        out = capsys.readouterr()
        assert rc == code, f"exit {rc}\nstdout: {out.out}\nstderr: {out.err}"
        return out

    return run
