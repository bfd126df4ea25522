"""Connection limits on a real server over a real socket (issue 12 §1): oversized and too many
headers are refused with 431 before they are buffered, and idle, slow-header and slow-body
clients are cut off. Waits are deadlines on socket reads, never sleeps."""

from __future__ import annotations

import socket

import pytest
from tests.live import serving

from modelmint.serve import create_app
from modelmint.serve.http import LimitedHttpToolsProtocol, uvicorn_options


@pytest.fixture
def server(ws):
    settings = ws.settings.model_copy(
        update={
            "max_header_bytes": 8192,
            "max_headers": 50,
            "header_timeout_seconds": 0.5,
            "body_timeout_seconds": 0.5,
            "keepalive_timeout_seconds": 5.0,
        }
    )

    class Protocol(LimitedHttpToolsProtocol):
        pass

    Protocol.settings = settings
    options = {**uvicorn_options(settings), "http": Protocol}
    with serving(create_app(settings, ws.store), **options) as url:
        yield int(url.rsplit(":", 1)[1])


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


def _read_all(s: socket.socket) -> bytes | None:
    """Everything until the server closes; None if it kept the connection open past the 10 s
    deadline of a read."""
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        return None
    return out


def test_a_normal_keep_alive_connection_still_works(server):
    s = _connect(server)
    for _ in range(2):
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        head = s.recv(65536)
        assert head.startswith(b"HTTP/1.1 200") and b"nosniff" in head
    s.close()


def test_an_oversized_header_is_refused_before_it_is_buffered(server):
    s = _connect(server)
    sent = 0
    chunk = b"a" * 65536
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ")
        while sent < 40 * 1024 * 1024:  # a 40 MB header, as in the review
            s.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert sent < 20 * 1024 * 1024  # the server closed long before 40 MB (socket buffers aside)
    reply = _read_all(s)
    assert reply is not None and (
        reply == b"" or reply.startswith(b"HTTP/1.1 431")
    )  # a reset may eat the reply


def test_a_header_just_over_the_limit_gets_431(server):
    s = _connect(server)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    reply = _read_all(s)
    assert reply is not None
    assert reply.startswith(b"HTTP/1.1 431") and b"MODELMINT_MAX_HEADER_BYTES" in reply


def test_too_many_headers_get_431(server):
    s = _connect(server)
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(60))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n")
    reply = _read_all(s)
    assert reply is not None
    assert reply.startswith(b"HTTP/1.1 431") and b"MODELMINT_MAX_HEADERS" in reply


def test_idle_and_slow_header_connections_are_closed(server):
    idle = _connect(server)  # sends nothing at all
    slow = _connect(server)
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # and never the blank line
    for s in (idle, slow):
        reply = _read_all(s)  # returns when the server closes, well within the 10 s deadline
        assert reply is not None and reply.startswith(b"HTTP/1.1 408")


def test_a_stalled_body_is_abandoned(server):
    s = _connect(server)
    s.sendall(
        b"POST /v1/feedback HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b'Authorization: Bearer mm_live_nothing\r\nContent-Length: 100\r\n\r\n{"predic'
    )
    assert _read_all(s) == b""  # closed without an answer: the body never came
