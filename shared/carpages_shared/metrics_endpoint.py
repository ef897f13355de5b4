"""`/metrics` over HTTP for the worker processes (the API serves it from its own app)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server


@contextlib.contextmanager
def serve(registry: CollectorRegistry, port: int) -> Iterator[None]:
    """Serve `registry` on `port` (0 = not at all) for the duration of the block."""
    if not port:
        yield
        return
    server, thread = start_http_server(port, addr="0.0.0.0", registry=registry)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
