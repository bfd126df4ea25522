"""The hourly rollup the insights read is the ledger's own sum: written in the metering
transaction with the calls it counts, and built by migration 0010 from the rows a database held
before it (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from modelmint.store import open_store
from modelmint.store.db import MIGRATIONS_DIR


def _rollup(store) -> dict:
    with store.db.engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT tenant_id, scenario, unit_type, model_version, live, shadow, period, "
                "calls, units, predictions, measured, compute_ms FROM usage_hourly"
            )
        ).all()
    out: dict = {}  # summed over hours
    for r in rows:
        prev = out.get(tuple(r[:7]), (0, 0, 0, 0, 0.0))
        out[tuple(r[:7])] = tuple(a + b for a, b in zip(prev, r[7:], strict=True))
    return out


def test_migration_builds_the_rollup_from_existing_rows(db_url):
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = create_engine(db_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0009")
    at = datetime(2026, 10, 3, 14, 25, tzinfo=UTC)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO plans (name, currency, price_per_1k_micros, created_at, version, "
                "tier_mode, fee_micros, included_units, trial_days) VALUES ('p', 'USD', 1000000, "
                ":at, 1, 'graduated', 0, 0, 0)"
            ),
            {"at": at},
        )
        c.execute(
            text(
                "INSERT INTO tenants (name, plan_id, status, created_at, discount_bp) "
                "VALUES ('acme', 1, 'active', :at, 0)"
            ),
            {"at": at},
        )
        for rid, units, version, shadow_ms in (("r1", 2, 1, None), ("r2", 1, 2, 9.0)):
            c.execute(
                text(
                    "INSERT INTO usage (id, request_id, tenant_id, key_id, scenario, unit_type, "
                    "units, period, created_at, live) VALUES (:id, :rid, 1, 'k', 'reviews', "
                    "'predict', :units, '2026-10', :at, true)"
                ),
                {"id": "u" + rid, "rid": rid, "units": units, "at": at},
            )
            for k in range(units):
                c.execute(
                    text(
                        "INSERT INTO predictions (id, request_id, tenant_id, key_id, scenario, "
                        "model_version, input_text, label, score, latency_ms, created_at, "
                        "compute_ms) VALUES (:id, :rid, 1, 'k', 'reviews', :v, 'x', 'pos', 0.9, "
                        "1.0, :at, 5.0)"
                    ),
                    {"id": f"p{rid}{k}", "rid": rid, "v": version, "at": at},
                )
            if shadow_ms is not None:
                c.execute(
                    text(
                        "INSERT INTO predictions (id, request_id, tenant_id, key_id, scenario, "
                        "model_version, input_text, label, score, latency_ms, created_at, "
                        "compute_ms, arm, paired_id) VALUES ('s1', :rid, 1, 'k', 'reviews', 3, "
                        "'x', 'pos', 0.9, 1.0, :at, :ms, 'shadow', 'pr20')"
                    ),
                    {"rid": rid, "at": at, "ms": shadow_ms},
                )
    engine.dispose()
    store = open_store(db_url)  # migrates to the head: 0010 builds the rollup
    try:
        got = _rollup(store)
        assert got == {
            (1, "reviews", "predict", 1, True, False, "2026-10"): (1, 2, 2, 2, 10.0),
            (1, "reviews", "predict", 2, True, False, "2026-10"): (1, 1, 1, 1, 5.0),
            (1, "reviews", "predict", 3, True, True, "2026-10"): (0, 0, 1, 1, 9.0),
        }
        with store.db.engine.connect() as c:
            versions = dict(c.execute(text("SELECT request_id, model_version FROM usage")).all())
        assert versions == {"r1": 1, "r2": 2}  # backfilled from the logged predictions
    finally:
        store.close()


def test_metering_keeps_the_rollup_equal_to_the_ledger(ws):
    import time_machine

    from modelmint import billing
    from modelmint.billing.rules import RULES
    from modelmint.store import new_id
    from modelmint.types import MeterItem

    billing.create_plan(ws.store, "p", price_per_1k="1.00")
    billing.create_tenant(ws.store, "acme", plan="p")
    billing.create_tenant(ws.store, "beta", plan="p")
    ids = {t["name"]: t["id"] for t in ws.store.billing.tenants()}

    def rows(n, v, ms):
        return tuple(
            dict(
                id=new_id(),
                model_version=v,
                input_text="x",
                label="pos",
                score=0.9,
                latency_ms=1.0,
                compute_ms=ms,
                arm=None,
                paired_id=None,
            )
            for _ in range(n)
        )

    items = []
    for k in range(12):  # one group commit: two tenants, two versions, a test key, a shadow
        prod = rows(1 + k % 3, 1 + k % 2, 2.0 if k % 4 else None)
        shadow = (
            tuple(
                dict(
                    r, id=new_id(), model_version=7, arm="shadow", paired_id=r["id"], compute_ms=3.0
                )
                for r in prod
            )
            if k % 5 == 0
            else ()
        )
        items.append(
            MeterItem(
                request_id=new_id(),
                tenant_id=ids["acme" if k % 3 else "beta"],
                key_id="k",
                scenario="reviews",
                period="2026-11",
                quota=None,
                prediction_rows=prod,
                shadow_rows=shadow,
                live=k != 7,
                unit_type="explain" if k == 4 else "predict",
            )
        )
    with time_machine.travel(datetime(2026, 11, 5, 9, 59, 59, tzinfo=UTC), tick=False):
        ws.store.billing.record_requests(items[:6], RULES)
    with time_machine.travel(datetime(2026, 11, 5, 10, 0, 1, tzinfo=UTC), tick=False):
        ws.store.billing.record_requests(items[6:], RULES)
    with ws.store.db.engine.connect() as c:
        usage = c.execute(
            text(
                "SELECT tenant_id, unit_type, model_version, live, COUNT(*), SUM(units) FROM usage "
                "GROUP BY tenant_id, unit_type, model_version, live"
            )
        ).all()
        compute = c.execute(
            text(
                "SELECT model_version, COUNT(*), COUNT(compute_ms), COALESCE(SUM(compute_ms), 0) "
                "FROM predictions GROUP BY model_version"
            )
        ).all()
    roll = _rollup(ws.store)
    for tid, ut, v, live, calls, units in usage:
        got = [
            x
            for k, x in roll.items()
            if k[0] == tid and k[2] == ut and k[3] == v and bool(k[4]) == bool(live) and not k[5]
        ]
        assert (sum(x[0] for x in got), sum(x[1] for x in got)) == (calls, int(units))
    for v, n, measured, ms in compute:
        got = [x for k, x in roll.items() if k[3] == v]
        assert sum(x[2] for x in got) == n and sum(x[3] for x in got) == measured
        assert sum(x[4] for x in got) == float(ms)
    with ws.store.db.engine.connect() as c:
        hours = c.execute(text("SELECT COUNT(DISTINCT hour) FROM usage_hourly")).scalar()
    assert hours == 2  # each call in the hour it was metered
