"""The audit trail (issue 15): administrative actions through the CLI and the admin API are
recorded with their actor, request id, before and after; the database refuses UPDATE and DELETE;
`audit verify` finds an edited, deleted, reordered, inserted or cut-off entry and names the first;
on SQLite and PostgreSQL (MODELMINT_TEST_DATABASE_URL)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text
from tests.clock import NOW

from modelmint import audit, billing, registry
from modelmint.errors import ConfigError
from modelmint.serve import create_app
from modelmint.store import open_store, store_for
from modelmint.store.repos import audit as audit_repo

TOKEN = "admin-token-for-the-audit-tests-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def mm(mm, monkeypatch):
    """The CLI, as the OS user `alice` would run it (MODELMINT_ACTOR names the actor)."""
    monkeypatch.setenv("MODELMINT_ACTOR", "alice")
    return mm


@pytest.fixture
def admin(ws):
    settings = ws.settings.model_copy(update={"admin_token": SecretStr(TOKEN)})
    with TestClient(create_app(settings, ws.store)) as c:
        c.headers.update(ADMIN)
        yield c


def _sql(ws, statement: str, **params: Any) -> None:
    with ws.store.db.engine.begin() as c:
        c.execute(text(statement), params)


def _drop_guards(ws) -> None:
    """What someone with full database access can do first."""
    if ws.store.dialect == "postgresql":
        _sql(ws, "DROP TRIGGER audit_log_append_only ON audit_log")
    else:
        _sql(ws, "DROP TRIGGER audit_log_no_update")
        _sql(ws, "DROP TRIGGER audit_log_no_delete")


def _rows(ws) -> list[dict[str, Any]]:
    return list(ws.store.audit.scan())


def _put_back(ws, rows: list[dict[str, Any]]) -> None:
    _sql(ws, "DELETE FROM audit_log")
    cols = ", ".join(rows[0])
    marks = ", ".join(f":{c}" for c in rows[0])
    for r in rows:
        _sql(ws, f"INSERT INTO audit_log ({cols}) VALUES ({marks})", **r)
    assert ws.store.audit.verify().ok


def _six_entries(ws) -> None:
    billing.create_plan(ws.store, "p", price_per_1k="1")
    for name in ("a", "b"):
        billing.create_tenant(ws.store, name, plan="p")
    _, key = billing.create_key(ws.store, "a")
    billing.revoke_key(ws.store, key["id"])
    billing.set_tenant_status(ws.store, "b", "suspended")


def test_cli_and_api_actions_are_recorded_with_actor_request_and_before_after(ws, mm, admin):
    mm("plans", "create", "pro", "--price-per-1k", "2.00")
    mm("tenants", "create", "acme", "--plan", "pro")
    r = admin.post("/v1/admin/keys", json={"tenant": "acme"})
    assert r.status_code == 201, r.text
    key_id, full_key = r.json()["id"], r.json()["key"]
    rid = r.headers["x-request-id"]
    assert admin.post(f"/v1/admin/keys/{key_id}/revoke").status_code == 200
    assert admin.post(f"/v1/admin/keys/{key_id}/revoke").status_code == 200  # no change
    mm("plans", "update", "pro", "--price-per-1k", "1.50")
    assert admin.post("/v1/admin/tenants/acme/suspend").status_code == 200

    rows, total = ws.store.audit.entries(limit=100)
    seen = [(e["actor"], e["action"], e["target"]) for e in reversed(rows)]
    assert seen == [
        ("cli:alice", "plan.create", "plan:pro"),
        ("cli:alice", "tenant.create", "tenant:acme"),
        ("token:admin", "key.create", f"tenant:acme/key:{key_id}"),
        ("token:admin", "key.revoke", f"tenant:acme/key:{key_id}"),
        ("cli:alice", "plan.update", "plan:pro"),
        ("token:admin", "tenant.status", "tenant:acme"),
    ]
    assert total == 6
    created = rows[3]
    assert created["request_id"] == rid
    stored = json.dumps(rows)
    assert full_key not in stored and billing.hash_key(full_key) not in stored  # redacted
    assert json.loads(created["after"])["key_hash"] == "[redacted]"
    update = rows[1]
    assert json.loads(update["before"])["price_per_1k"] == "2.00"
    assert json.loads(update["after"])["price_per_1k"] == "1.50"
    status = rows[0]
    assert (json.loads(status["before"]), json.loads(status["after"])) == (
        {"status": "active"},
        {"status": "suspended"},
    )
    # filters: a target finds what is under it; a prefix ends in ':' or '.'
    assert ws.store.audit.entries(target="tenant:acme")[1] == 4
    assert ws.store.audit.entries(action="key.")[1] == 2
    assert ws.store.audit.entries(actor="token:")[1] == 3
    # the API's list, paged, is itself audited
    page = admin.get("/v1/admin/audit", params={"limit": 2, "target": "plan:"}).json()
    assert page["total"] == 2 and [e["action"] for e in page["entries"]] == [
        "plan.update",
        "plan.create",
    ]
    last = ws.store.audit.entries(limit=1)[0][0]
    assert (last["action"], last["actor"]) == ("audit.read", "token:admin")
    assert admin.post("/v1/admin/audit/verify").json()["ok"] is True


def test_promotions_name_the_actor_in_the_audit_log_and_the_model_events(ws, trained):
    name = trained.model.name
    with audit.acting_as(audit.Actor("token:admin", "req-1")):
        registry.promote(ws.store, f"{name}:1", alias="candidate")
    entries = ws.store.audit.entries(action="model.")[0]
    assert [(e["action"], e["actor"], e["request_id"]) for e in reversed(entries)] == [
        ("model.promote", "cli:" + audit.os_actor().name.split(":", 1)[1], None),  # the fixture
        ("model.promote", "token:admin", "req-1"),
    ]
    assert json.loads(entries[0]["after"])["alias"] == "candidate"
    assert ws.store.models.events(name)[-1]["actor"] == "token:admin"


def test_the_database_refuses_update_delete_and_truncate(ws):
    _six_entries(ws)
    for statement in (
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log WHERE seq = 6",
        *(["TRUNCATE audit_log"] if ws.store.dialect == "postgresql" else []),
    ):
        with pytest.raises(Exception, match="append-only"):
            _sql(ws, statement)
    assert len(_rows(ws)) == 6 and ws.store.audit.verify().ok


@pytest.mark.parametrize("workers", [1, 3], ids=["one process", "three processes"])
def test_verify_names_the_first_edited_deleted_reordered_inserted_or_cut_entry(
    ws, workers, monkeypatch
):
    """With three processes the 7 entries are cut into runs 1-2, 3-4, 5-7: the tampering
    below falls inside runs and on their joins."""
    monkeypatch.setattr(audit_repo, "PARALLEL_FROM", 1)
    real_verify = ws.store.audit.verify
    monkeypatch.setattr(ws.store.audit, "verify", lambda cp=None: real_verify(cp, workers=workers))
    _six_entries(ws)
    cp = ws.store.audit.checkpoint()  # entry 7 records the checkpoint itself
    assert cp["count"] == 6
    _drop_guards(ws)
    good = _rows(ws)
    assert len(good) == 7

    def first_bad(checkpoint: dict | None = None) -> tuple[int, str]:
        v = ws.store.audit.verify(checkpoint)
        assert not v.ok
        return v.problem.seq, v.problem.kind

    _sql(ws, "UPDATE audit_log SET after = :a WHERE seq = 3", a='{"status": "trial"}')
    assert first_bad() == (3, "edited")
    _put_back(ws, good)

    _sql(ws, "DELETE FROM audit_log WHERE seq = 3")
    assert first_bad() == (3, "missing")
    _put_back(ws, good)

    # entries 3 and 4 swap places (each keeps its content, takes the other's number)
    third, fourth = good[2], good[3]
    _sql(ws, "DELETE FROM audit_log WHERE seq IN (3, 4)")
    cols = [c for c in third if c != "seq"]
    for seq, row in ((3, fourth), (4, third)):
        values = {c: row[c] for c in cols} | {"seq": seq}
        names = ", ".join(values)
        _sql(
            ws,
            f"INSERT INTO audit_log ({names}) VALUES ({', '.join(':' + n for n in values)})",
            **values,
        )
    assert first_bad() == (3, "out_of_order")
    _put_back(ws, good)

    # a forged entry slipped in after entry 2 (the rest renumbered), MAC made up without the key
    forged = dict(good[2]) | {"action": "plan.create", "target": "plan:backdoor", "mac": "0" * 64}
    shifted = good[:2] + [forged] + [r | {"seq": r["seq"] + 1} for r in good[2:]]
    shifted = [r | {"seq": i + 1} for i, r in enumerate(shifted)]
    _put_back_unchecked(ws, shifted)
    assert first_bad() == (3, "edited")
    _put_back(ws, good)

    # the newest entries cut off: the chain alone cannot tell, the checkpoint can
    _sql(ws, "DELETE FROM audit_log WHERE seq >= 5")
    assert ws.store.audit.verify().ok
    assert first_bad(cp) == (5, "cut_off")
    _put_back(ws, good)
    assert ws.store.audit.verify(cp).ok

    # a checkpoint whose count was raised to hide nothing: its signature no longer matches
    with pytest.raises(ValueError, match="signature does not match"):
        ws.store.audit.verify(cp | {"count": 7})


def _put_back_unchecked(ws, rows: list[dict[str, Any]]) -> None:
    _sql(ws, "DELETE FROM audit_log")
    for r in rows:
        names = ", ".join(r)
        _sql(ws, f"INSERT INTO audit_log ({names}) VALUES ({', '.join(':' + n for n in r)})", **r)


def test_another_server_key_is_refused_at_start_and_named_by_verify(ws, settings):
    _six_entries(ws)
    other = settings.model_copy(update={"secret_key": SecretStr("o" * 40)})
    with pytest.raises(ConfigError, match="MODELMINT_SECRET_KEY"):
        store_for(other)
    forged = open_store(
        settings.sqlalchemy_url, audit_key=audit.derive_key("o" * 40), migrate=False
    )
    v = forged.audit.verify()
    assert (v.problem.seq, v.problem.kind) == (1, "other_key")
    forged.close()


def test_appends_from_many_threads_keep_one_chain(ws):
    billing.create_plan(ws.store, "p", price_per_1k="1")

    def work(i: int) -> None:
        with audit.acting_as(audit.Actor(f"token:t{i}")):
            for j in range(25):
                ws.store.audit.record("test.append", f"thread:{i}", after={"j": j})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    v = ws.store.audit.verify()
    assert v.ok and v.entries == 101


def test_cli_list_verify_checkpoint_and_bad_input(ws, mm, tmp_path):
    mm("plans", "create", "pro", "--price-per-1k", "2.00")
    out = json.loads(mm("audit", "list", "--json").out)
    assert out["total"] == 1 and out["entries"][0]["action"] == "plan.create"
    assert "plan.create" in mm("audit", "list").out
    cp_file = tmp_path / "cp.json"
    mm("audit", "checkpoint", "--out", str(cp_file))
    assert "intact" in mm("audit", "verify", "--checkpoint", str(cp_file)).out
    _drop_guards(ws)
    _sql(ws, "UPDATE audit_log SET target = 'plan:free' WHERE seq = 1")
    err = mm("audit", "verify", code=10).err
    assert "BROKEN at entry 1" in err
    report = json.loads(mm("audit", "verify", "--json", code=10).out)
    assert report["first_bad"]["kind"] == "edited"
    assert "not a day or time" in mm("audit", "list", "--since", "yesterday", code=2).err
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    assert "not JSON" in mm("audit", "verify", "--checkpoint", str(bad), code=2).err
    bad.write_text('{"kind": "something else"}')
    assert (
        "not a ModelMint audit checkpoint"
        in mm("audit", "verify", "--checkpoint", str(bad), code=2).err
    )
