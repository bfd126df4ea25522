"""B2 floor: uvicorn's hello world, a bare ASGI app answering every request with a small
fixed JSON body (no framework, no validation, no model). It reads the request body like a real
endpoint would.

    python benchmarks/peers/hello.py --port 8002"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

BODY = b'{"predictions":[{"label":"ok","score":1.0}]}'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    a = p.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    uvicorn.run(
        "benchmarks.peers.hello:app",
        host="127.0.0.1",
        port=a.port,
        workers=a.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
