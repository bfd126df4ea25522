"""Pure ASGI middleware: request ids, a hard cap on body size (before anything reads it), and
request counts and latency per route template for /metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from ulid import ULID

Scope = dict[str, Any]


class RequestIdAndBodyLimit:
    def __init__(
        self,
        app: Any,
        max_body_bytes: int,
        on_response: Callable[[str, int, float], None] | None = None,
    ) -> None:
        self.app = app
        self.max = max_body_bytes
        self.on_response = on_response  # (route template, status, seconds)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = str(ULID())
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        length = None
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    length = int(v)
                except ValueError:
                    length = None
        if length is not None and length > self.max:
            await self._too_large(send_with_id, rid)
            self._observe(scope, 413, started)
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

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        if self.on_response is not None:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.on_response(path, status, time.perf_counter() - started)

    async def _too_large(self, send: Any, rid: str) -> None:
        body = json.dumps(
            {
                "ok": False,
                "error": f"request body is larger than {self.max} bytes; send fewer or shorter inputs",
                "errors": [],
                "status": 413,
                "request_id": rid,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
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
