"""`billing.PlanSpec` is the one description of a plan's options: every field is documented
(meaning, unit, range), stored in a `plans` column, offered by `modelmint plans create|update`
and by the admin API under the same name, and reaches billing from both, so adding a field to
PlanSpec is enough to offer it everywhere (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from pydantic import SecretStr

from modelmint import billing
from modelmint.billing import plans as plan_module
from modelmint.billing.plans import UNSETTABLE, PlanSpec, plan_fields
from modelmint.cli import app, main
from modelmint.errors import InvalidInput
from modelmint.serve import create_app
from modelmint.store.tables import metadata

TOKEN = "admin-token-for-the-plan-spec-tests-0123456789"
FIELDS = plan_fields()
UPDATABLE = plan_fields(updatable=True)


def _value(f: billing.PlanField) -> Any:
    """The field's example as PlanSpec holds it (a list field: a list of one line)."""
    base = typing.get_args(f.type)[0]  # X of X | None
    if typing.get_origin(base) is list:
        return [f.example]
    return base(f.example)


def _shown(f: billing.PlanField, currency: str = "USD") -> Any:
    """What plan_public shows once the example is stored."""
    return f.show(f.check(_value(f), currency, f.name), currency)


def _with_price(f: billing.PlanField, fields: dict[str, Any]) -> dict[str, Any]:
    """A plan needs a price: add one unless the field gives it (or gives tiers instead)."""
    return fields if f.name in ("price_per_1k", "tiers") else {"price_per_1k": "1", **fields}


def _command(path: str) -> Any:
    group = typer.main.get_command(app)
    for part in path.split():
        group = group.commands[part]  # type: ignore[attr-defined]
    return group


# documented once -----------------------------------------------------------------------------
def test_every_field_is_documented_with_meaning_unit_range_and_a_column():
    columns = set(metadata.tables["plans"].columns.keys())
    names = [f.name for f in dataclasses.fields(PlanSpec)]
    assert [f.name for f in FIELDS] == names
    for f in FIELDS:
        assert f.meaning and f.unit and f.range and f.example, f.name
        assert f.range in f.help and f.unit in f.help and f.meaning in f.help
        assert f.column in columns, f"{f.name}: no `plans` column {f.column}"
        assert f"{f.name} ({f.option})" in (PlanSpec.__doc__ or "")
        assert _value(f) is not None and _shown(f) is not None  # the example is valid
    # the ranges quoted are billing.ranges' bounds
    assert "1,000,000,000" in next(f for f in FIELDS if f.name == "fee").range
    assert "0 to 365" in next(f for f in FIELDS if f.name == "trial_days").range
    # what `--unset` may clear, and what plan_public shows, come from the fields too
    assert set(UNSETTABLE) == {f.name for f in FIELDS if f.unsettable}
    assert set(plan_module.PLAN_COLUMNS) == {f.column for f in FIELDS}
    assert [f.name for f in UPDATABLE] == [n for n in names if n != "currency"]


# reachable from the CLI ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "fields"), [("plans create", FIELDS), ("plans update", UPDATABLE)]
)
def test_every_field_is_an_option_of_the_plan_commands_with_its_help(path, fields):
    params = {p.name: p for p in _command(path).params}
    for f in fields:
        assert f.name in params, f"`modelmint {path}` has no option for PlanSpec.{f.name}"
        assert params[f.name].opts == [f.option] and params[f.name].help == f.help
    if path == "plans update":
        assert "currency" not in params  # a plan keeps its currency
        assert {"unset", "move_tenants"} <= set(params)


def test_help_shows_every_option_with_its_range(capsys):
    for path, fields in (("create", FIELDS), ("update", UPDATABLE)):
        assert main(["plans", path, "--help"]) == 0
        out = " ".join(capsys.readouterr().out.replace("│", " ").split())
        for f in fields:
            assert f.option in out, f.option
        assert "Range: 0 to 1,000,000,000,000" in out  # the quota's, from billing.ranges


@pytest.fixture
def seen(monkeypatch) -> list[PlanSpec]:
    """The PlanSpecs billing.create_plan and billing.update_plan are given (then run)."""
    specs: list[PlanSpec] = []
    create, update = billing.create_plan, billing.update_plan

    def create_plan(store, name, spec=None, **kw):
        specs.append(spec)
        return create(store, name, spec, **kw)

    def update_plan(store, name, spec=None, **kw):
        specs.append(spec)
        return update(store, name, spec, **kw)

    monkeypatch.setattr(billing, "create_plan", create_plan)
    monkeypatch.setattr(billing, "update_plan", update_plan)
    return specs


def _flags(f: billing.PlanField) -> list[str]:
    return [f.option, f.example]


def test_every_field_reaches_billing_from_the_cli(ws, seen, capsys, monkeypatch):
    monkeypatch.setenv("MODELMINT_DATABASE_URL", ws.settings.database_url)
    home = ["--home", str(ws.settings.home)]

    def cli(*args: str) -> dict[str, Any]:
        rc = main([*home, *args, "--json"])
        out = capsys.readouterr()
        assert rc == 0, f"{args}: exit {rc}\n{out.out}\n{out.err}"
        return json.loads(out.out)

    for i, f in enumerate(FIELDS):
        extra = [] if f.name in ("price_per_1k", "tiers") else ["--price-per-1k", "1"]
        shown = cli("plans", "create", f"c{i}", *_flags(f), *extra)
        assert getattr(seen[-1], f.name) == _value(f), f.name
        assert shown[f.shown_as or f.name] == _shown(f), f.name
    for i, f in enumerate(UPDATABLE):
        billing.create_plan(ws.store, f"u{i}", price_per_1k="3")
        shown = cli("plans", "update", f"u{i}", *_flags(f))
        assert getattr(seen[-1], f.name) == _value(f), f.name
        assert shown["version"] == 2 and shown[f.shown_as or f.name] == _shown(f), f.name


# reachable from the admin API ----------------------------------------------------------------
@pytest.fixture
def admin(ws):
    settings = ws.settings.model_copy(update={"admin_token": SecretStr(TOKEN)})
    with TestClient(create_app(settings, ws.store)) as c:
        c.headers.update({"Authorization": f"Bearer {TOKEN}"})
        yield c


def test_every_field_is_in_the_admin_api_schema_with_its_help(admin):
    schemas = admin.get("/openapi.json").json()["components"]["schemas"]
    for model, fields in (("PlanIn", FIELDS), ("PlanVersionIn", UPDATABLE)):
        props = schemas[model]["properties"]
        for f in fields:
            assert f.name in props, f"{model} has no field for PlanSpec.{f.name}"
            assert props[f.name]["description"] == f.help
    assert "currency" not in schemas["PlanVersionIn"]["properties"]
    assert schemas["PlanIn"]["properties"]["currency"]["anyOf"][0]["maxLength"] == 3


def test_every_field_reaches_billing_from_the_admin_api(admin, ws, seen):
    for i, f in enumerate(FIELDS):
        body = {"name": f"c{i}", **_with_price(f, {f.name: _value(f)})}
        r = admin.post("/v1/admin/plans", json=body)
        assert r.status_code == 201, (f.name, r.text)
        assert getattr(seen[-1], f.name) == _value(f), f.name
        assert r.json()[f.shown_as or f.name] == _shown(f), f.name
    for i, f in enumerate(UPDATABLE):
        billing.create_plan(ws.store, f"u{i}", price_per_1k="3")
        r = admin.post(f"/v1/admin/plans/u{i}/versions", json={f.name: _value(f)})
        assert r.status_code == 201, (f.name, r.text)
        assert getattr(seen[-1], f.name) == _value(f), f.name
        assert r.json()[f.shown_as or f.name] == _shown(f), f.name
    # unknown fields are still refused, and a version cannot change the currency
    assert admin.post("/v1/admin/plans", json={"name": "z", "price": "1"}).status_code == 422
    r = admin.post("/v1/admin/plans/c0/versions", json={"currency": "EUR"})
    assert r.status_code == 422


# the Python API --------------------------------------------------------------------------------
def test_create_and_update_take_a_plan_spec(ws):
    spec = PlanSpec(price_per_1k="2.00", quota=1000, fee="9.00", included=100, currency="EUR")
    p = billing.create_plan(ws.store, "pro", spec)
    q = billing.create_plan(ws.store, "same", **dataclasses.asdict(spec))  # the short form
    assert {k: p[k] for k in plan_module.PLAN_COLUMNS} == {
        k: q[k] for k in plan_module.PLAN_COLUMNS
    }
    assert (p["currency"], p["price_per_1k_micros"], p["monthly_quota"]) == ("EUR", 2_000_000, 1000)
    v2, _ = billing.update_plan(ws.store, "pro", PlanSpec(quota=5), unset=["fee"])
    assert (v2["version"], v2["monthly_quota"], v2["fee_micros"], v2["currency"]) == (
        2,
        5,
        0,
        "EUR",
    )
    assert spec.given() == {
        "price_per_1k": "2.00",
        "quota": 1000,
        "fee": "9.00",
        "included": 100,
        "currency": "EUR",
    }
    with pytest.raises(TypeError, match="not both"):
        billing.create_plan(ws.store, "x", spec, quota=3)
    with pytest.raises(TypeError):
        billing.create_plan(ws.store, "x", price=["a=1"])  # not a field: the CLI's spelling
    with pytest.raises(InvalidInput, match="keeps its currency"):
        billing.update_plan(ws.store, "pro", PlanSpec(currency="USD"))
    with pytest.raises(InvalidInput, match="quota"):
        PlanSpec(quota=-1).columns("USD")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.quota = 3  # type: ignore[misc]
