"""Pure ASGI middleware: request ids, security headers on every response, a hard cap on body
size (before anything reads it), throttling of clients that keep failing authentication, and
request counts and latency per route template for /metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from ulid import ULID

from modelmint.serve.security import AuthFailures, credential_bucket, security_headers

Scope = dict[str, Any]


class RequestIdAndBodyLimit:
    def __init__(
        self,
        app: Any,
        max_body_bytes: int,
        on_response: Callable[[str, int, float], None] | None = None,
        auth_failures: AuthFailures | None = None,
    ) -> None:
        self.app = app
        self.max = max_body_bytes
        self.on_response = on_response  # (route template, status, seconds)
        self.auth_failures = auth_failures

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = str(ULID())
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500

        extra = [
            (b"x-request-id", rid.encode()),
            *security_headers(scope.get("path", ""), scope.get("scheme") == "https"),
        ]

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).extend(extra)
            await send(message)

        length = None
        authorization = None
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    length = int(v)
                except ValueError:
                    length = None
            elif k == b"authorization":
                authorization = v.decode("latin-1")
        if length is not None and length > self.max:
            await self._reply(
                send_with_id,
                rid,
                413,
                f"request body is larger than {self.max} bytes; send fewer or shorter inputs",
            )
            self._observe(scope, 413, started)
            return
        sources: list[str] = []
        path = scope.get("path", "")
        if self.auth_failures is not None and (path.startswith("/v1/") or path == "/login"):
            client = scope.get("client")
            sources = [f"addr:{client[0]}"] if client else []
            bucket = credential_bucket(authorization)
            if bucket:
                sources.append(f"key:{bucket}")
            wait = self.auth_failures.retry_after(sources)
            if wait is not None:
                await self._reply(
                    send_with_id,
                    rid,
                    429,
                    "too many failed authentications from this address or for this key; retry "
                    f"after {wait} s with a valid key (keys: `modelmint keys list`) or password",
                    [(b"retry-after", str(wait).encode())],
                    [{"limit": "auth_failures", "retry_after": wait}],
                )
                self._observe(scope, 429, started)
                return
        seen = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max:
                    raise _BodyTooLarge(self.max)
            return message

        # an oversize streamed body raises _BodyTooLarge from receive(); it is an HTTPException,
        # so the app's own handler answers 413 in the error shape
        try:
            await self.app(scope, limited_receive, send_with_id)
        finally:
            self._observe(scope, status, started)
            if status == 401 and sources and self.auth_failures is not None:
                self.auth_failures.failed(sources)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        if self.on_response is not None:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.on_response(path, status, time.perf_counter() - started)

    async def _reply(
        self,
        send: Any,
        rid: str,
        status: int,
        message: str,
        headers: list[tuple[bytes, bytes]] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        """An error in the one JSON shape, answered here without running the app."""
        body = json.dumps(
            {
                "ok": False,
                "error": message,
                "errors": errors or [],
                "status": status,
                "request_id": rid,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *(headers or []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(StarletteHTTPException):
    """Raised from receive(); an HTTPException so FastAPI's body parsing lets it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"request body is larger than {limit} bytes; send fewer or shorter inputs"
        )
