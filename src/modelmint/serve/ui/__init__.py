"""The web pages: one sign-in page for staff and tenant developers (`/login`), and the owner's
and operator's dashboard (`/ui/`). Server-rendered (Jinja2) with charts drawn on the server as
inline SVG; the stylesheet and the one script ship in the package (`static/`), nothing comes
from a CDN, and no page has an inline script (the CSP forbids them).

Sessions: a random token in an HttpOnly, SameSite=Strict cookie (Secure over TLS), looked up in
the database on each request (modelmint.people.sessions). Every form carries a CSRF token: the
session's, or before sign-in a double-submit token in its own cookie. What a page shows follows
the role's rights (modelmint.people.roles): an area the role may not read is left out of the
navigation, and its pages answer 403."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modelmint import audit, people
from modelmint.errors import ModelMintError
from modelmint.settings import Settings
from modelmint.store import Store

HERE = Path(__file__).parent
STATIC = HERE / "static"
SESSION_COOKIE = "mm_session"
LOGIN_CSRF_COOKIE = "mm_login_csrf"
MAX_FORM_BYTES = 8192

# (path, label, area it shows): the navigation, filtered by what the role may read
NAV = (("/ui/", "Overview", None),)


def _templates() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Pages:
    """Renders pages and keeps the session rules in one place."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.env = _templates()
        self.idle = timedelta(minutes=settings.session_idle_minutes)
        self.lifetime = timedelta(hours=settings.session_hours)

    def render(
        self,
        template: str,
        status: int = 200,
        session: people.Session | None = None,
        **ctx: Any,
    ) -> HTMLResponse:
        nav: list[tuple[str, str]] = []
        if session is not None and session.role == "developer":
            nav = [("/portal/", "Your API")]
        elif session is not None:
            nav = [
                (href, label)
                for href, label, area in NAV
                if area is None or people.allowed(session.role, area, False)
            ]
        html = self.env.get_template(template).render(session=session, nav=nav, **ctx)
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    async def session(self, request: Request) -> people.Session | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        s = await run_in_threadpool(people.session_of, self.store, token, idle=self.idle)
        if s is not None:
            audit.set_actor(audit.Actor(s.actor, getattr(request.state, "request_id", None)))
        return s

    def set_cookie(
        self, response: Response, request: Request, name: str, value: str, age: int
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=age,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )


def _next_of(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (never //host or a URL)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value[:500]
    return "/ui/"


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    from urllib.parse import parse_qs

    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in parsed.items() if v}


def ui_router(store: Store, settings: Settings) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    pages = Pages(store, settings)

    async def staff(request: Request, area: str | None) -> people.Session | Response:
        """The signed-in staff session that may read `area`, or the response to send instead
        (the sign-in page for no session, 403 for a role without the right)."""
        s = await pages.session(request)
        if s is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
        if s.role == "developer":
            return RedirectResponse("/portal/", status_code=303)
        if area is not None and not people.allowed(s.role, area, False):
            return pages.render(
                "error.html",
                403,
                s,
                title="Not allowed",
                message=people.refusal(s.role, area, False),
            )
        return s

    @r.get("/")
    async def root(request: Request) -> Response:
        s = await pages.session(request)
        if s is None:
            return RedirectResponse("/login", status_code=303)
        return RedirectResponse("/portal/" if s.role == "developer" else "/ui/", status_code=303)

    @r.get("/login")
    async def login_page(request: Request, next: str | None = None) -> Response:
        s = await pages.session(request)
        if s is not None:
            return RedirectResponse(_next_of(next), status_code=303)
        csrf = secrets.token_urlsafe(32)
        resp = pages.render(
            "login.html", title="Sign in", csrf=csrf, next=_next_of(next), name="", error=None
        )
        pages.set_cookie(resp, request, LOGIN_CSRF_COOKIE, csrf, 3600)
        return resp

    @r.post("/login")
    async def login(request: Request) -> Response:
        form = await _form(request)
        expected = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
        sent = form.get("csrf", "")
        nxt = _next_of(form.get("next"))
        name = form.get("name", "")[:100]

        def again(error: str, status: int) -> Response:
            csrf = secrets.token_urlsafe(32)
            resp = pages.render(
                "login.html", status, title="Sign in", csrf=csrf, next=nxt, name=name, error=error
            )
            pages.set_cookie(resp, request, LOGIN_CSRF_COOKIE, csrf, 3600)
            return resp

        if not expected or not secrets.compare_digest(expected, sent):
            return again("The form expired; sign in again.", 403)
        client = request.client.host if request.client else None
        try:
            token, s = await run_in_threadpool(
                lambda: people.sign_in(
                    store,
                    name,
                    form.get("password", ""),
                    lifetime=pages.lifetime,
                    address=client,
                    user_agent=request.headers.get("user-agent"),
                )
            )
        except ModelMintError as exc:
            # 401 is counted by the server's failed-authentication limiter (per address)
            return again(exc.message, exc.http_status)
        home = "/portal/" if s.role == "developer" else nxt
        resp = RedirectResponse(home, status_code=303)
        pages.set_cookie(resp, request, SESSION_COOKIE, token, int(pages.lifetime.total_seconds()))
        resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return resp

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        s = await pages.session(request)
        form = await _form(request)
        if s is not None and s.csrf_ok(form.get("csrf")):
            await run_in_threadpool(people.sign_out, store, request.cookies.get(SESSION_COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @r.get("/portal/")
    async def portal(request: Request) -> Response:
        """A tenant developer's own tenant: usage, quota, keys and invoices."""
        s = await pages.session(request)
        if s is None:
            return RedirectResponse("/login?next=/portal/", status_code=303)
        if s.role != "developer" or s.tenant_id is None:
            return RedirectResponse("/ui/", status_code=303)
        ctx = await run_in_threadpool(_portal, store, s)
        return pages.render("portal.html", session=s, here="/portal/", title=ctx["tenant"], **ctx)

    @r.get("/ui/")
    async def overview(request: Request) -> Response:
        s = await staff(request, None)
        if not isinstance(s, people.Session):
            return s
        ctx = await run_in_threadpool(_overview, store, settings, s)
        return pages.render("overview.html", session=s, here="/ui/", title="Overview", **ctx)

    return r


def _overview(store: Store, settings: Settings, s: people.Session) -> dict[str, Any]:
    """Calls per day over the last 30 days, tenants, revenue and margin over the last 6 months
    (for roles that may read insights), and the latest monitoring alerts."""
    from modelmint import insights
    from modelmint.charts import bar_chart, line_chart

    now = datetime.now(UTC)
    start = (now - timedelta(days=29)).replace(hour=0, minute=0, second=0, microsecond=0)
    per_day: dict[str, int] = {}
    for hour, calls in store.insights.calls_by_hour(start, now + timedelta(hours=1)):
        day = hour.strftime("%m-%d")
        per_day[day] = per_day.get(day, 0) + calls
    days = [(start + timedelta(days=i)).strftime("%m-%d") for i in range(30)]
    tenants = store.billing.tenants()
    cards = [
        {"label": "calls, last 30 days", "value": f"{sum(per_day.values()):,}"},
        {"label": "calls today (UTC)", "value": f"{per_day.get(days[-1], 0):,}"},
        {
            "label": "tenants",
            "value": f"{len(tenants):,}",
            "note": ", ".join(
                f"{sum(1 for t in tenants if t['status'] == st)} {st}"
                for st in ("active", "trial", "suspended")
            ),
        },
    ]
    charts = [
        line_chart(
            "Calls per day (UTC)", [(d, float(per_day.get(d, 0))) for d in days], ylabel="calls"
        )
    ]
    notes: list[str] = []
    if people.allowed(s.role, "insights", False):
        first = (now.replace(day=1) - timedelta(days=150)).replace(day=1)
        try:
            m = insights.margin(
                store, settings, since=first.strftime("%Y-%m-%d"), until=now.strftime("%Y-%m-%d")
            )
        except ModelMintError as exc:
            notes.append(f"revenue and margin: {exc.message}")
        else:
            for cur in sorted({x["currency"] for x in m["series"]}):
                pts = [x for x in m["series"] if x["currency"] == cur]
                last = pts[-1] if pts else None
                if last is not None:
                    cards.append(
                        {
                            "label": f"revenue {last['period']} ({cur})",
                            "value": last["revenue"],
                            "note": f"margin {last.get('margin') or 'n/a'}",
                        }
                    )
                charts.append(
                    bar_chart(
                        f"Revenue and margin per month ({cur})",
                        [x["period"] for x in pts],
                        {
                            "revenue": [x["revenue_micros"] / 1e6 for x in pts],
                            "margin": [
                                None if x.get("margin_micros") is None else x["margin_micros"] / 1e6
                                for x in pts
                            ],
                        },
                        ylabel=cur,
                    )
                )
            notes += m.get("notes") or []
    alerts = [
        {
            "raised_at": a["raised_at"].strftime("%Y-%m-%d %H:%M") if a["raised_at"] else "",
            "scenario": a["scenario"],
            "signal": a["signal"],
            "state": a["state"],
        }
        for a in store.monitoring.alerts(limit=10)
    ]
    return {
        "cards": cards,
        "charts": charts,
        "alerts": alerts,
        "notes": notes,
        "span": f"as of {now:%Y-%m-%d %H:%M} UTC",
    }


def _portal(store: Store, s: people.Session) -> dict[str, Any]:
    from modelmint.billing import invoices
    from modelmint.charts import line_chart

    assert s.tenant_id is not None
    tenant = store.billing.tenant_name(s.tenant_id)
    usage = invoices.usage_summary(store, tenant=tenant)[0]
    per_day: dict[str, int] = {}
    for r in usage["by_day"]:
        day = str(r["day"])[5:10]
        per_day[day] = per_day.get(day, 0) + int(r["units"])
    quota = usage["quota"]
    cards = [
        {"label": "units this period", "value": f"{usage['total_units']:,}"},
        {"label": "requests", "value": f"{usage['requests']:,}"},
        {
            "label": "quota left",
            "value": "no quota" if quota is None else f"{max(0, quota - usage['total_units']):,}",
            "note": None if quota is None else f"of {quota:,}",
        },
        {
            "label": f"owed so far ({usage['currency']})",
            "value": usage["amount_due"],
            "note": "before tax",
        },
    ]
    now = datetime.now(UTC)
    keys = []
    for k in store.billing.keys(s.tenant_id):
        expired = k["expires_at"] is not None and k["expires_at"] <= now
        keys.append(
            {
                **k,
                "created": k["created_at"].strftime("%Y-%m-%d") if k["created_at"] else "",
                "expires": k["expires_at"].strftime("%Y-%m-%d %H:%M") if k["expires_at"] else None,
                "state": "revoked" if k["revoked_at"] else ("expired" if expired else "active"),
            }
        )
    docs = [
        {
            "number": i["number"],
            "period": i["period"],
            "total": invoices.public(i, tenant)["total"],
            "currency": i["currency"],
            "issued": i["issued_at"].strftime("%Y-%m-%d") if i["issued_at"] else "",
        }
        for i in store.invoices.list(s.tenant_id)
    ]
    first = datetime.strptime(usage["period"] + "-01", "%Y-%m-%d").replace(tzinfo=UTC)
    days = [
        (first + timedelta(days=i)).strftime("%m-%d")
        for i in range(max(1, min((now - first).days + 1, 31)))
    ]
    chart = line_chart(
        "Units per day (UTC)", [(d, float(per_day.get(d, 0))) for d in days], ylabel="units"
    )
    return {
        "tenant": tenant,
        "usage": usage,
        "cards": cards,
        "keys": keys,
        "invoices": docs,
        "chart": chart,
    }
