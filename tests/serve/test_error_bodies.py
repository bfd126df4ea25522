"""Error bodies a caller can act on, the errors in the OpenAPI document, and /docs and /redoc
that work without the internet (issue 12 §2)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.chromium import needs_chromium, open_page
from tests.live import serving

from modelmint import billing
from modelmint.serve import create_app

URL = "/v1/scenarios/reviews/predict"


@pytest.fixture
def client(ws):
    billing.create_plan(ws.store, "p", price_per_1k="1")
    billing.create_tenant(ws.store, "acme", plan="p")
    key, _ = billing.create_key(ws.store, "acme")
    c = TestClient(create_app(ws.settings, ws.store))
    c.headers["Authorization"] = f"Bearer {key}"
    return c


@pytest.mark.parametrize(
    ("inputs", "field", "says"),
    [
        ([{"age": [1]}], "inputs.0.age", "input 0 feature 'age' is a list; send a string"),
        ([{"a": {"b": 1}}], "inputs.0.a", "feature 'a' is an object"),
        (["ok", 5], "inputs.1", "input 1 is a number; send a text, an object of features"),
        ([None], "inputs.0", "input 0 is null"),
        ([["tok", 3]], "inputs.0", "a list input is the tokens of one text"),
    ],
)
def test_validation_errors_name_the_field_without_pydantic_internals(client, inputs, field, says):
    r = client.post(URL, json={"inputs": inputs})
    body = r.json()
    assert r.status_code == 422 and says in body["error"], body
    assert [e["field"] for e in body["errors"]] == [field]  # one error per input, not per branch
    assert "[" not in r.text.replace('"errors":[', "")  # no 'dict[str,nullable[...]]'


def test_a_body_that_is_not_utf8_or_not_json_says_so(client):
    r = client.post(
        URL,
        content='{"inputs": ["\xff"]}'.encode("latin-1"),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and "UTF-8" in r.json()["error"]
    r = client.post(URL, content='{"inputs": ["hi"]}', headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert (
        "Content-Type: application/json" in r.json()["error"] and "text/plain" in r.json()["error"]
    )
    r = client.post(URL, json=["not", "an", "object"])
    assert r.status_code == 422 and "must be a JSON object" in r.json()["error"]


def test_openapi_lists_every_error_status_with_the_error_schema(client):
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/v1/scenarios/{scenario}/predict"]["post"]["responses"]
    for code in ("400", "401", "403", "404", "409", "413", "415", "422", "429", "503", "504"):
        ref = predict[code]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorBody"), (code, ref)
    assert set(spec["components"]["schemas"]["ErrorBody"]["properties"]) == {
        "ok",
        "error",
        "errors",
        "status",
        "request_id",
    }
    admin = [
        op
        for path, ops in spec["paths"].items()
        if path.startswith("/v1/admin/")
        for op in ops.values()
    ]
    assert admin and all("401" in op["responses"] and "400" in op["responses"] for op in admin)


def test_docs_and_redoc_ship_their_assets(client):
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "cdn" not in html.lower() and "googleapis" not in html
        assets = [
            a
            for a in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
            if a in html
        ]
        assert assets
        for a in assets:
            r = client.get(f"/static/docs/{a}")
            assert r.status_code == 200 and len(r.content) > 100_000


@pytest.mark.browser
@needs_chromium
def test_docs_render_in_a_browser_with_no_internet(ws):
    """Every request that leaves localhost is aborted (and fails the test): the page must
    still render."""
    with serving(create_app(ws.settings, ws.store)) as url, open_page(allow=f"{url}/") as page:
        page.goto(f"{url}/docs")
        page.get_by_text("/v1/scenarios/{scenario}/predict").first.wait_for(timeout=20_000)
        page.goto(f"{url}/redoc")
        page.get_by_text("ModelMint API").first.wait_for(timeout=20_000)
