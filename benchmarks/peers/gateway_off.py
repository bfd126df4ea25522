"""B2 peer: ModelMint's own app with the gateway layers switched off.

The same `create_app` (routing, validation, the model pool and batcher, the prediction path,
PII redaction of the logged text, JSON responses), with:
- auth off: `GatewayOff.authenticate` returns a fixed caller (no key lookup);
- rate limits and concurrency off: that caller's plan has none;
- metering off: `GatewayOff.meter` answers "ok" without the usage and prediction-log
  transaction (no writer round trip either).

    MODELMINT_HOME=... python benchmarks/peers/gateway_off.py --port 8001 --tenant t

Only for benchmarks: never serve this."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import uvicorn

from modelmint import billing
from modelmint.serve import create_app
from modelmint.serve.gateway import Gateway
from modelmint.settings import load_settings
from modelmint.types import MeterOutcome


class GatewayOff(Gateway):
    """The predict path with two steps overridden: a fixed caller instead of the key lookup,
    and no metering transaction (no usage rows, no prediction log, no quota counter)."""

    caller: billing.Caller

    async def authenticate(self, authorization: str | None) -> billing.Caller:
        return self.caller

    async def meter(self, call, rows, response) -> MeterOutcome:
        return MeterOutcome.OK


def build(tenant: str | None = None):
    """The app; `tenant` defaults to $B2_TENANT (uvicorn's factory under --workers)."""
    tenant = tenant or os.environ["B2_TENANT"]
    settings = load_settings()
    app = create_app(settings, gateway_class=GatewayOff)
    store = app.state.store
    t = store.billing.tenant(tenant)
    plan = store.billing.plan_by_id(t["plan_id"])
    # no rate limits or concurrency: the caller's plan has none
    app.state.gateway.caller = billing.Caller(
        key_id="gateway-off",
        tenant_id=t["id"],
        tenant=t["name"],
        plan=plan["name"],
        currency=plan["currency"],
        price_per_1k_micros=plan["price_per_1k_micros"],
        monthly_quota=None,
        rate_limit_rps=None,
        burst=None,
    )
    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tenant", required=True)
    p.add_argument("--workers", type=int, default=1)
    a = p.parse_args()
    os.environ["B2_TENANT"] = a.tenant
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    uvicorn.run(
        "benchmarks.peers.gateway_off:build",
        factory=True,
        host="127.0.0.1",
        port=a.port,
        workers=a.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
