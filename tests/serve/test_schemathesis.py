"""Property-based tests of the live server from its own OpenAPI document, with schemathesis's
CLI over real HTTP: every operation, tenant routes with a tenant key and admin routes with the
admin token, a bounded number of generated requests each (deterministic generation, so a
failure reproduces). No request may get a 5xx, and every answer must match the documented
status codes, content types and schemas. Runs once, on SQLite (marked slow)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from tests.live import serving

from modelmint import billing
from modelmint.serve import create_app

ADMIN = "schemathesis-admin-token-0123456789abcdef"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
EXAMPLES = 40  # per operation: 27 operations, about 1,000 generated requests


def _run(url: str, token: str, paths: list[str], report: Path) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).with_name("schemathesis")
    return subprocess.run(
        [
            str(cli),
            "run",
            f"{url}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            str(EXAMPLES),
            "--generation-deterministic",
            "--phases",
            "examples,coverage,fuzzing",
            "--suppress-health-check",
            "all",
            "--header",
            f"Authorization: Bearer {token}",
            "--request-timeout",
            "60",
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(report),
            *paths,
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        cwd=report.parent,  # its cache (.schemathesis/) goes to the test's folder
    )


@pytest.mark.slow
def test_no_server_errors_and_no_schema_violations(ws, trained, tmp_path):
    billing.create_plan(ws.store, "starter", price_per_1k="2.00", quota=100_000)
    billing.create_tenant(ws.store, "acme", plan="starter")
    key, _ = billing.create_key(ws.store, "acme")
    settings = ws.settings.model_copy(
        update={
            "admin_token": SecretStr(ADMIN),
            "auth_failures_per_minute": 1_000_000,  # generated credentials fail on purpose
            "request_timeout_seconds": 60.0,
        }
    )
    with serving(create_app(settings, ws.store)) as url:
        tenant = _run(url, key, ["--exclude-path-regex", "^/v1/admin/"], tmp_path / "t.xml")
        admin = _run(url, ADMIN, ["--include-path-regex", "^/v1/admin/"], tmp_path / "a.xml")
    for name, run in (("tenant routes", tenant), ("admin routes", admin)):
        assert run.returncode == 0, f"{name}:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
        assert "No issues found" in run.stdout or "passed" in run.stdout, run.stdout[-3000:]
