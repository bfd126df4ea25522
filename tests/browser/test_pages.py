"""The web pages in a real browser against a real server (issue 15): sign-in fails and succeeds,
the overview draws its charts, the session cookie is HttpOnly and SameSite=Strict, no page has
an inline script or asks for anything outside 127.0.0.1, signing out ends the session, and a
page without a session sends the browser to /login and back after it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.chromium import needs_chromium, open_page
from tests.live import serving
from tests.usage import meter

from modelmint import billing, people
from modelmint.serve import create_app

PASSWORD = "correct horse battery"


def _sign_in(page, url: str, name: str, lands_on: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{lands_on}")


@pytest.fixture
def app(ws):
    billing.create_plan(ws.store, "p", price_per_1k="2.00")
    billing.create_tenant(ws.store, "acme", plan="p")
    for _ in range(3):
        meter(ws, "acme", 10)
    people.create_user(ws.store, "olivia", role="admin", password=PASSWORD)
    people.create_user(ws.store, "otto", role="operator", password=PASSWORD)
    return create_app(ws.settings, ws.store)


def test_pages_send_strict_headers_and_refuse_without_a_session(app):
    with TestClient(app, follow_redirects=False) as c:
        r = c.get("/ui/")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/ui/"
        page = c.get("/login")
        csp = page.headers["content-security-policy"]
        script_src = next(p for p in csp.split(";") if "script-src" in p)
        assert "'unsafe-inline'" not in script_src and "frame-ancestors 'none'" in csp
        assert "<script>" not in page.text and 'src="/ui/static/app.js"' in page.text
        # a post without the form's CSRF token is refused, whatever the password
        r = c.post("/login", data={"name": "olivia", "password": PASSWORD, "csrf": "forged"})
        assert r.status_code == 403 and "mm_session" not in r.cookies
        assert c.get("/ui/static/app.css").status_code == 200
        assert c.get("/ui/static/../../settings.py").status_code == 404


@pytest.mark.browser
@needs_chromium
def test_sign_in_overview_and_sign_out_in_a_browser(app, tmp_path):
    with serving(app) as url, open_page(allow=f"{url}/") as page:
        page.goto(f"{url}/ui/")
        assert page.url == f"{url}/login?next=/ui/"
        page.fill("#name", "olivia")
        page.fill("#password", "wrong password!!")
        page.click("button[type=submit]")
        assert page.get_by_role("alert").inner_text() == "wrong user name or password"
        page.screenshot(path=str(tmp_path / "login-failed.png"), full_page=True)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/ui/")
        assert page.title() == "Overview · ModelMint"
        cookie = next(c for c in page.context.cookies() if c["name"] == "mm_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        calls = page.get_by_role("img", name="Calls per day (UTC)")
        box = calls.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        assert page.get_by_role("img", name="Revenue and margin per month (USD)").count() == 1
        assert page.locator(".card .value").first.inner_text() == "3"  # calls, last 30 days
        page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{url}/login")
        page.goto(f"{url}/ui/")
        assert page.url.startswith(f"{url}/login")  # the session is gone


@pytest.mark.browser
@needs_chromium
def test_an_operator_sees_no_money(app, tmp_path):
    with serving(app) as url, open_page(allow=f"{url}/") as page:
        _sign_in(page, url, "otto", "/ui/")
        assert page.get_by_role("img", name="Calls per day (UTC)").count() == 1
        assert page.get_by_text("revenue").count() == 0
        page.screenshot(path=str(tmp_path / "overview-operator.png"), full_page=True)


@pytest.mark.browser
@needs_chromium
def test_a_developer_sees_only_their_tenant_with_names_escaped(ws, app, tmp_path):
    billing.create_tenant(ws.store, "other", plan="p")
    billing.create_key(ws.store, "acme", "<script>alert(1)</script>")
    other_key, _ = billing.create_key(ws.store, "other", "theirs")
    people.create_user(ws.store, "dana", role="developer", tenant="acme", password=PASSWORD)
    with serving(app) as url, open_page(allow=f"{url}/") as page:
        _sign_in(page, url, "dana", "/portal/")
        assert page.get_by_role("heading", name="acme").count() == 1
        assert page.locator(".card .value").first.inner_text() == "30"  # 3 calls x 10 units
        assert page.get_by_text("<script>alert(1)</script>").count() == 1  # shown, not run
        assert "theirs" not in page.content() and other_key[:14] not in page.content()
        assert page.get_by_role("img", name="Units per day (UTC)").count() == 1
        page.screenshot(path=str(tmp_path / "portal.png"), full_page=True)
        page.goto(f"{url}/ui/")  # the staff pages send a developer back to the portal
        assert page.url == f"{url}/portal/"
