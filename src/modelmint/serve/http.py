"""Connection limits for the HTTP server: header size and count, and read timeouts.

uvicorn's httptools protocol has no limit on the size or number of headers (a 40 MB header was
accepted and left 194 MB allocated) and no timeout while it waits for a request's head or body
(only for idle keep-alive connections), so idle, slow-header and slow-body clients could hold a
connection forever. This subclass adds, from the settings:

* ``max_header_bytes`` / ``max_headers``: the bytes received while a request's head is
  incomplete, and the headers the parser delivers, are counted; past either bound the server answers 431 and closes the connection, so
  memory never grows with what a client sends.
* ``header_timeout_seconds``: from the connection's opening (and from each request's first
  byte) to the end of its headers; past it, 408 and close.
* ``body_timeout_seconds``: the longest silence between two reads of a body; past it the
  connection is closed (the app sees the client leave).

It is a subclass because uvicorn offers no hook for these (h11 bounds header bytes, but not
count or time, and is slower); the overridden methods are the parser callbacks of uvicorn's
own protocol, pinned by the tests in tests/serve/test_connection_limits.py.
"""

from __future__ import annotations

import asyncio
import os
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from modelmint.settings import Settings, load_settings

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@cache
def _limits() -> Settings:
    """The settings of this server process (the environment `modelmint serve` set)."""
    return load_settings(home=os.environ.get("MODELMINT_HOME"))


class _Refused(Exception):
    pass


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    settings: Settings | None = None  # tests set it; servers read the environment

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings or _limits()
        self.max_header_bytes = s.max_header_bytes
        self.max_headers = s.max_headers
        self.header_timeout = s.header_timeout_seconds
        self.body_timeout = s.body_timeout_seconds
        self._in_head = True
        self._head_bytes = 0  # raw bytes received since the current request's head began
        self._head_count = 0
        self._parsed = 0  # request line and headers as parsed
        self._refusal: tuple[int, str] | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # --- timers ---------------------------------------------------------------------------
    def _arm_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _disarm(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self._answer(
                408, f"request headers not received within {self.header_timeout:g} s; closing"
            )

    def _body_too_slow(self) -> None:
        self._body_timer = None
        if not self.transport.is_closing():
            self.transport.close()  # the app's receive() sees http.disconnect

    def _answer(self, status: int, message: str) -> None:
        body = message.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, _REASONS[status], len(body), body)
        )
        self.transport.close()

    # --- uvicorn's protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        if self._refusal is not None:  # a limit, raised from a parser callback
            self._answer(*self._refusal)
            return
        super().send_400_response(msg)

    def _too_big(self) -> tuple[int, str]:
        return (
            431,
            f"request line and headers exceed {self.max_header_bytes} bytes; send smaller "
            "headers (MODELMINT_MAX_HEADER_BYTES)",
        )

    def data_received(self, data: bytes) -> None:
        # Bytes that arrive while a request's head is incomplete are head bytes: count them
        # here, before httptools buffers a header whole (it would hold 40 MB of one header).
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._in_head
            and self._head_bytes > self.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._answer(*self._too_big())

    def on_message_begin(self) -> None:
        self._head_count = self._parsed = 0
        self._arm_head()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._parsed += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # a head that arrived whole in one read is measured here, as the parser delivers it
        self._head_count += 1
        self._parsed += len(name) + len(value) + 4
        if self._parsed > self.max_header_bytes:
            self._refusal = self._too_big()
            raise _Refused
        if self._head_count > self.max_headers:
            self._refusal = (
                431,
                f"more than {self.max_headers} headers; send fewer (MODELMINT_MAX_HEADERS)",
            )
            raise _Refused  # httptools turns it into a parser error: send_400_response above
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._body_timer = self.loop.call_later(self.body_timeout, self._body_too_slow)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self.loop.call_later(self.body_timeout, self._body_too_slow)
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._in_head, self._head_bytes = True, 0  # what comes next is the next request's head
        super().on_message_complete()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What `modelmint serve` passes to uvicorn for these limits."""
    return {
        "http": LimitedHttpToolsProtocol,
        "timeout_keep_alive": settings.keepalive_timeout_seconds,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }
