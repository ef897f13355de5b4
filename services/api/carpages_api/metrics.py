"""Prometheus metrics: request latency per route, cache hits and misses, Valkey errors."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.5, 1.0)


class Metrics:
    """One registry per app, so tests and multiple apps in a process never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("carpages_http_request_seconds", "request latency",
                                 ["route", "method", "status"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.cache = Counter("carpages_cache_lookups_total", "cache lookups by outcome",
                             ["kind", "outcome"], registry=self.registry)
        self.fills = Counter("carpages_page_fills_total", "pages filled from MySQL",
                             registry=self.registry)
        self.l1 = Counter("carpages_l1_lookups_total",
                          "dedicated-page L1: hit (no Valkey read), fill (read and stored), "
                          "bypass (tracking off)", ["outcome"], registry=self.registry)
        self.valkey_errors = Counter(
            "carpages_valkey_errors_total",
            "Valkey failures on the request path: `request` answered 503, `replica` read again "
            "from the primary", ["where", "error"], registry=self.registry)
        self.unhandled = Counter("carpages_unhandled_errors_total",
                                 "requests answered 500 because of an unexpected exception",
                                 registry=self.registry)
        # `labels()` validates and locks on every call; the children it returns are stable, so
        # the hot path looks them up once per label set.
        self._children: dict[tuple[Any, ...], Any] = {}

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, memoised."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def cache_lookup(self, kind: str, outcome: str) -> None:
        """Count one cache lookup."""
        self.child(self.cache, kind, outcome).inc()

    def valkey_error(self, where: str, exc: BaseException) -> None:
        """Count one Valkey failure, labelled by where it was caught and its class."""
        self.child(self.valkey_errors, where, type(exc).__name__).inc()

    def l1_lookup(self, outcome: str) -> None:
        """Count one dedicated-page L1 lookup."""
        self.child(self.l1, outcome).inc()


class MetricsMiddleware:
    """Pure ASGI middleware (BaseHTTPMiddleware would cost a task per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            name = getattr(route, "path", "unmatched")
            self.metrics.child(self.metrics.latency, name, scope["method"],
                               str(status[0])).observe(time.perf_counter() - started)
