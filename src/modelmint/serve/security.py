"""What the server refuses before any route runs: a weak admin token at start-up, clients that
keep failing authentication, /metrics to strangers; and the headers every response carries."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from functools import cache

from modelmint.errors import ConfigError
from modelmint.settings import Settings

MIN_ADMIN_TOKEN = 32
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
WINDOW_SECONDS = 60.0

# On every response. The API answers JSON only; /docs and /redoc get a policy that lets their
# own bundled scripts and styles run (see `page_policy`).
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
API_POLICY = b"default-src 'none'; frame-ancestors 'none'"
PAGE_POLICY = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; frame-ancestors 'none'"
)
# ModelMint's own pages: scripts only from the package's files (never inline); styles may be
# inline because the server-drawn SVG charts carry style attributes; forms post to this site.
APP_POLICY = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"script-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    b"frame-ancestors 'none'"
)
PAGES = ("/docs", "/redoc", "/static/")
APP_PAGES = ("/ui/", "/login", "/logout", "/portal/")


def security_headers(path: str, https: bool) -> tuple[tuple[bytes, bytes], ...]:
    """The headers for a response to `path` (built once per kind, not per request)."""
    if path == "/" or path.startswith(APP_PAGES):
        return _headers_for("app", https)
    return _headers_for("docs" if path.startswith(PAGES) else "api", https)


@cache
def _headers_for(kind: str, https: bool) -> tuple[tuple[bytes, bytes], ...]:
    policy = {"app": APP_POLICY, "docs": PAGE_POLICY, "api": API_POLICY}[kind]
    out = [*SECURITY_HEADERS, (b"content-security-policy", policy)]
    if kind == "api":
        out.append((b"cache-control", b"no-store"))
    if https:
        out.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return tuple(out)


def check_admin_token(settings: Settings) -> None:
    """An admin token that is set must be long enough to resist guessing; an empty one is a
    mistake (it used to switch the admin API on for an empty Bearer)."""
    token = settings.admin_token
    if token is None:
        return
    value = token.get_secret_value()
    if len(value.strip()) < MIN_ADMIN_TOKEN:
        what = "empty" if not value.strip() else f"{len(value.strip())} characters long"
        raise ConfigError(
            f"MODELMINT_ADMIN_TOKEN is {what}; it must be at least {MIN_ADMIN_TOKEN} characters. "
            f"Generate one with: {GENERATE}  (or unset it to keep the admin API off)"
        )


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def credential_bucket(authorization: str | None) -> str | None:
    """The part of a credential that names it without revealing it: the key's displayed prefix
    (mm_live_ + 6 characters), so guesses at one key are counted together."""
    if not authorization:
        return None
    _, _, token = authorization.partition(" ")
    token = token.strip()
    return token[:14] or None


class AuthFailures:
    """Failed authentications per client address and per credential prefix in a sliding
    60-second window; beyond `limit`, the caller is refused (429) without a credential check.
    Per process and in memory (bounded to `max_entries` sources, oldest forgotten first)."""

    def __init__(
        self,
        limit: int,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
    ) -> None:
        self.limit = limit
        self.clock = clock
        self.max_entries = max_entries
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, source: str, now: float) -> deque[float] | None:
        times = self._seen.get(source)
        if times is None:
            return None
        while times and times[0] <= now - WINDOW_SECONDS:
            times.popleft()
        if not times:
            del self._seen[source]
            return None
        return times

    def retry_after(self, sources: list[str]) -> int | None:
        """Seconds until one more attempt is allowed, or None when it is allowed now."""
        now = self.clock()
        with self._lock:
            wait = 0.0
            for source in sources:
                times = self._recent(source, now)
                if times is not None and len(times) >= self.limit:
                    wait = max(wait, times[-self.limit] + WINDOW_SECONDS - now)
            return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, sources: list[str]) -> None:
        now = self.clock()
        with self._lock:
            for source in sources:
                times = self._recent(source, now)
                if times is None:
                    times = self._seen[source] = deque(maxlen=self.limit)
                times.append(now)
                self._seen.move_to_end(source)
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
