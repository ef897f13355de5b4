"""The raw floor: a bare ASGI app — no FastAPI, no routing, no middleware — that answers every
request with one recorded dedicated-page response (same body bytes, same app headers), served by
the same server and settings as the API. It is the most one Python worker can serve for a page
of that size, so every HTTP scenario reads as a share of it (`ratios.floors`).

`python -m bench.raw_floor --sample FILE --server uvicorn|granian --port P` serves it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from carpages_api.__main__ import SERVERS, serve

SAMPLE_ENV = "BENCH_RAW_FLOOR_SAMPLE"
"""Path of the recorded response; an environment variable because the server builds the app
in its own worker process from an import string (Granian), where no argument reaches it."""

# Written by the server (or about the connection), not by the app: the server adds its own.
_SERVER_OWNED = frozenset({"date", "server", "content-length", "connection", "keep-alive",
                           "transfer-encoding"})


def record(base_url: str, path: str, out: Path) -> dict[str, Any]:
    """GET `path` from the API and save its app headers and body to `out` (JSON)."""
    with urllib.request.urlopen(base_url + path, timeout=10) as response:
        body = response.read()
        headers = [(k.lower(), v) for k, v in response.getheaders()
                   if k.lower() not in _SERVER_OWNED]
    sample = {"path": path, "body": body.decode(), "headers": headers}
    out.write_text(json.dumps(sample))
    return sample


def create() -> Any:
    """The ASGI app answering with the sample named by $BENCH_RAW_FLOOR_SAMPLE."""
    sample = json.loads(Path(os.environ[SAMPLE_ENV]).read_text())
    body = sample["body"].encode()
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in sample["headers"]]
    headers.append((b"content-length", str(len(body)).encode()))
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    message = {"type": "http.response.body", "body": body}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # both servers run the lifespan protocol
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send(start)
        await send(message)

    return app


def main(argv: list[str] | None = None) -> int:
    """Serve the raw floor."""
    parser = argparse.ArgumentParser(prog="bench.raw_floor")
    parser.add_argument("--sample", type=Path, required=True)
    parser.add_argument("--server", choices=SERVERS, default="uvicorn")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ[SAMPLE_ENV] = str(args.sample.resolve())
    serve("bench.raw_floor:create", args.server, args.host, args.port, "warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
