"""Issue 12: no raw personal data or client secrets at rest. Outcome events are redacted before
they are stored; Idempotency-Keys are stored as their SHA-256 (and keys stored before are
hashed by migration 0006); the database, MODELMINT_HOME and model folders are private
(SQLite, and PostgreSQL when MODELMINT_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import String, Text, make_url, select

from modelmint import billing, feedback
from modelmint.billing.rules import RULES
from modelmint.data import redact
from modelmint.serve import create_app
from modelmint.store import new_id, open_store
from modelmint.store import tables as t
from modelmint.types import MeterItem, MeterOutcome

EMAIL, MOBILE = "zhang.wei@example.com", "13812345678"
POSIX = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def _tenant(ws) -> int:
    billing.create_plan(ws.store, "p", price_per_1k="1")
    return billing.create_tenant(ws.store, "acme", plan="p")["id"]


def _item(tenant_id: int, pid: str, idempotency_key: str | None) -> MeterItem:
    return MeterItem(
        request_id=new_id(),
        tenant_id=tenant_id,
        key_id="k",
        scenario="reviews",
        period=billing.current_period(),
        quota=None,
        prediction_rows=(
            dict(id=pid, model_version=1, input_text="好", label="pos", score=1.0, latency_ms=1),
        ),
        idempotency=(idempotency_key, "request-hash", '{"ok": true}') if idempotency_key else None,
    )


def _predict(ws, tenant_id: int, *, idempotency_key: str | None = None) -> str:
    """One metered prediction, written the way the server writes it; returns its id."""
    pid = new_id()
    outcome = ws.store.billing.record_request(_item(tenant_id, pid, idempotency_key), RULES)
    assert outcome == MeterOutcome.OK
    return pid


def _stored_text(ws) -> str:
    """Every text column of every table, concatenated: what someone reading the database sees."""
    out = []
    with ws.store.db.read() as c:
        for table in t.metadata.sorted_tables:
            cols = [col for col in table.columns if isinstance(col.type, String | Text)]
            if cols:
                out += [str(v) for row in c.execute(select(*cols)) for v in row if v is not None]
    return "\n".join(out)


def _events(ws) -> list[str]:
    with ws.store.db.read() as c:
        return [r[0] for r in c.execute(select(t.outcomes.c.event))]


# 1. outcome events ------------------------------------------------------------------------


def test_an_outcome_event_is_redacted_before_it_is_stored(ws):
    pid = _predict(ws, _tenant(ws))
    tenant_id = ws.store.billing.tenant("acme")["id"]
    feedback.record_outcome(
        ws.store, tenant_id, pid, f"callback {MOBILE} / {EMAIL}", 1.0, redact=redact
    )
    feedback.record_outcome(ws.store, tenant_id, pid, "converted", None, redact=redact)
    assert _events(ws) == ["callback [PHONE] / [EMAIL]", "converted"]
    stored = _stored_text(ws)
    assert MOBILE not in stored and EMAIL not in stored


def test_a_redacted_event_still_fits_its_column(ws):
    pid = _predict(ws, _tenant(ws))
    tenant_id = ws.store.billing.tenant("acme")["id"]
    event = "x" * 89 + " a://b:c@d"  # 100 characters; the placeholder is longer than the URL
    feedback.record_outcome(ws.store, tenant_id, pid, event, None, redact=redact)
    [stored] = _events(ws)
    assert len(stored) == 100 and "b:c@d" not in stored


def test_post_outcomes_stores_the_event_redacted(ws):
    """The route of the report: an email and a mobile number sent as an outcome's event."""
    tenant_id = _tenant(ws)
    key, _ = billing.create_key(ws.store, "acme")
    pid = _predict(ws, tenant_id)
    with TestClient(create_app(ws.settings, ws.store)) as client:
        r = client.post(
            "/v1/outcomes",
            json={"prediction_id": pid, "event": f"mail {EMAIL} tel {MOBILE}", "value": 2.5},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert r.status_code == 201, r.text
    assert _events(ws) == ["mail [EMAIL] tel [PHONE]"]
    stored = _stored_text(ws)
    assert MOBILE not in stored and EMAIL not in stored


# 2. Idempotency-Key ------------------------------------------------------------------------


def test_an_idempotency_key_is_stored_as_its_hash_and_still_found(ws):
    tenant_id = _tenant(ws)
    raw = f"retry-{EMAIL}-{MOBILE}"
    _predict(ws, tenant_id, idempotency_key=raw)
    stored = _stored_text(ws)
    assert raw not in stored and EMAIL not in stored and MOBILE not in stored
    with ws.store.db.read() as c:
        [key] = [r[0] for r in c.execute(select(t.idempotency_keys.c.key))]
    assert key == hashlib.sha256(raw.encode()).hexdigest()
    # callers keep passing the raw key: the replay lookup and the duplicate check both work
    found = ws.store.billing.idempotent_response(tenant_id, raw)
    assert found is not None and found["response"] == '{"ok": true}'
    assert ws.store.billing.idempotent_response(tenant_id, "another key") is None
    # a second call with the same raw key finds its hash taken: nothing of it is written
    again = ws.store.billing.record_request(_item(tenant_id, new_id(), raw), RULES)
    assert again == MeterOutcome.CONFLICT


def test_migration_0006_hashes_the_keys_stored_before(db_url):
    from alembic import command
    from alembic.config import Config

    from modelmint.store.db import MIGRATIONS_DIR

    store = open_store(db_url, migrate=False)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))

    def upgrade(to: str) -> None:
        with store.db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, to)

    try:
        upgrade("0004")
        with store.db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO plans (name, version, currency, price_per_1k_micros, created_at) "
                "VALUES ('p', 1, 'CNY', 0, CURRENT_TIMESTAMP)"
            )
            plan_id = conn.exec_driver_sql("SELECT id FROM plans").scalar_one()
            conn.exec_driver_sql(
                "INSERT INTO tenants (name, plan_id, status, created_at) "
                f"VALUES ('acme', {plan_id}, 'active', CURRENT_TIMESTAMP)"
            )
            tenant_id = conn.exec_driver_sql("SELECT id FROM tenants").scalar_one()
            for raw in (EMAIL, MOBILE):
                conn.execute(
                    t.idempotency_keys.insert().values(
                        tenant_id=tenant_id,
                        key=raw,
                        request_hash="h",
                        response="{}",
                        created_at=datetime.now(UTC),
                    )
                )
        upgrade("head")
        with store.db.engine.connect() as conn:
            keys = sorted(r[0] for r in conn.execute(select(t.idempotency_keys.c.key)))
        assert keys == sorted(hashlib.sha256(k.encode()).hexdigest() for k in (EMAIL, MOBILE))
        assert store.billing.idempotent_response(tenant_id, EMAIL) is not None
    finally:
        store.close()


# 4. file modes -----------------------------------------------------------------------------


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@POSIX
def test_the_workspace_and_its_sqlite_database_are_private(ws, settings):
    assert _mode(settings.home) == 0o700
    assert _mode(settings.models_dir) == 0o700 and _mode(settings.datasets_dir) == 0o700
    if ws.store.dialect != "sqlite":
        return
    db = Path(make_url(ws.store.db.url).database)  # the fixture's, beside the home
    _predict(ws, _tenant(ws))  # a write: the -wal and -shm files exist now
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        assert path.exists() and _mode(path) == 0o600, path


@POSIX
def test_a_sqlite_database_outside_the_home_is_created_private(tmp_path):
    db = tmp_path / "elsewhere" / "mm.db"
    store = open_store(f"sqlite:///{db}")
    try:
        assert _mode(db.parent) == 0o700 and _mode(db) == 0o600
    finally:
        store.close()


@POSIX
def test_a_registered_model_directory_is_private(ws, tmp_path):
    import numpy as np

    from modelmint import registry
    from modelmint.modeling.model_dir import save_model_dir

    staged = ws.settings.models_dir / "m" / f".staging-{new_id()}"
    save_model_dir(
        staged,
        config={
            "task": "text-classification",
            "base_model": "b",
            "labels": ["a", "b"],
            "train_config": {},
        },
        weight=np.zeros((2, 4), dtype=np.float32),
        bias=np.zeros(2, dtype=np.float32),
    )
    assert _mode(staged) == 0o700
    dataset = ws.store.datasets.create(
        name="m",
        content_hash="0" * 64,
        task="text-classification",
        path=str(tmp_path),
        n_rows=0,
        labels=["a", "b"],
        split_counts={},
        audit={},
        source={},
    )
    ref = registry.register(
        ws.store, ws.settings.models_dir, "m", staged, dataset_id=dataset["id"], metrics={}
    )
    folder = ws.settings.models_dir / "m" / f"v{ref.version}"
    assert _mode(folder) == 0o700
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files and all(_mode(p) == 0o400 for p in files)
