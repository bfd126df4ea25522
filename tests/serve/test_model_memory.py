"""The LRU bound on memory (`model_cache_mb`) with real models and their real sizes: a version
that cannot share an encoder costs what its directory holds (for LightGBM, mostly the booster's
own model.txt), and the bound is set from those sizes, with room for one model and not two."""

from __future__ import annotations

import math
from pathlib import Path

from fastapi.testclient import TestClient

from modelmint import billing, data, registry
from modelmint.pipeline import train_and_register
from modelmint.serve import create_app

MIB = 1024 * 1024
WINES = ("wine-a", "wine-b")


def _dir_bytes(path: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _post(c, scenario, row):
    return c.post(f"/v1/scenarios/{scenario}/predict", json={"inputs": [row]})


def test_models_that_cannot_share_load_lazily_within_the_memory_bound(ws, tmp_path):
    """Two real LightGBM scenarios (~1.4 MiB each) under a bound with room for one: the one
    used least recently leaves memory and is loaded again on its next request; under a bound
    with room for both, both stay. Both keep answering."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    for name in WINES:
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        data.add_dataset(
            ws.store, ws.settings.datasets_dir, name, path, label="target", features=["all"]
        )
        registry.promote(ws.store, train_and_register(ws, name).model.ref)
    sizes = {name: _dir_bytes(registry.get(ws.store, f"{name}:1").path) for name in WINES}
    # what is accounted is the model itself: the booster is nearly all of its directory
    _, model = registry.load(ws.store, "wine-a:1")
    assert len(model.booster.model_to_string()) > 0.9 * sizes["wine-a"]  # type: ignore[attr-defined]
    room_for_one = math.ceil(max(sizes.values()) / MIB)
    room_for_two = math.ceil(sum(sizes.values()) / MIB)
    assert room_for_one * MIB < sum(sizes.values()), (
        f"the wine models are {sizes} bytes: no whole number of MiB holds one and not two"
    )
    billing.create_plan(ws.store, "open", price_per_1k="1.00")
    billing.create_tenant(ws.store, "acme", plan="open")
    key, _ = billing.create_key(ws.store, "acme")
    row = {k: float(v) for k, v in frame.drop(columns="target").iloc[0].items()}

    settings = ws.settings.model_copy(update={"model_cache_mb": room_for_one})
    with TestClient(create_app(settings, ws.store)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        ready = c.get("/readyz").json()
        assert len(ready["loaded"]) == 1  # only one fits; the other loads when asked
        first = ready["loaded"][0].split(":")[0]
        other = "wine-a" if first == "wine-b" else "wine-b"
        assert ready["scenarios"][other] == {"ready": True, "loaded": False}
        for name in (other, first, other):
            r = _post(c, name, row)
            assert r.status_code == 200 and r.json()["predictions"][0]["label"] == "0", r.text
            assert c.get("/readyz").json()["loaded"] == [f"{name}:1"]

    settings = ws.settings.model_copy(update={"model_cache_mb": room_for_two})
    with TestClient(create_app(settings, ws.store)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        assert sorted(c.get("/readyz").json()["loaded"]) == ["wine-a:1", "wine-b:1"]
        for name in (*WINES, *WINES):
            assert _post(c, name, row).status_code == 200
        assert sorted(c.get("/readyz").json()["loaded"]) == ["wine-a:1", "wine-b:1"]
