"""HTTP reads of the API under test: pages, listing counts, and behaviour during an outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.chaos.oracle import ListingQuery

Answer = tuple[int, dict[str, Any] | None]
"""(HTTP status, parsed JSON body or None); status 0 = no answer (connection error, timeout)."""


async def fetch(client: httpx.AsyncClient, path: str, limit_s: float = 5.0) -> Answer:
    try:
        resp = await client.get(path, timeout=limit_s)
    except httpx.HTTPError:
        return 0, None
    try:
        body = resp.json()
    except ValueError:
        body = None
    return resp.status_code, body if isinstance(body, dict) else None


async def pages(client: httpx.AsyncClient, car_ids: Iterable[int],
                concurrency: int = 32) -> dict[int, Answer]:
    """Anonymous `GET /listing/{id}/` for every car, at most `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)
    out: dict[int, Answer] = {}

    async def one(car_id: int) -> None:
        async with gate:
            out[car_id] = await fetch(client, f"/listing/{car_id}/")
    await asyncio.gather(*(one(i) for i in car_ids))
    return out


async def counts(client: httpx.AsyncClient, queries: Sequence[ListingQuery],
                 concurrency: int = 8) -> dict[str, int | None]:
    """The listing's `count` for each query (None when it did not answer 200)."""
    gate = asyncio.Semaphore(concurrency)
    out: dict[str, int | None] = {}

    async def one(q: ListingQuery) -> None:
        params: list[tuple[str, str | int | float | bool | None]] = [
            *q.params, ("order_by", "price_asc"), ("page_size", "1")]
        async with gate:
            try:
                resp = await client.get("/listing/", params=params, timeout=5.0)
                out[q.name] = int(resp.json()["count"]) if resp.status_code == 200 else None
            except (httpx.HTTPError, ValueError, KeyError):
                out[q.name] = None
    await asyncio.gather(*(one(q) for q in queries))
    return out


@dataclass
class OutageStats:
    """What the API answered while Valkey was frozen or down."""

    requests: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    max_latency_s: float = 0.0
    slow: int = 0  # answered after more than 1 s
    bad: int = 0  # not 200 / JSON 503 with Retry-After, or no answer within the timeout

    def add(self, status: int, latency: float, retry_after: bool, json_body: bool) -> None:
        self.requests += 1
        self.codes[str(status)] = self.codes.get(str(status), 0) + 1
        self.max_latency_s = max(self.max_latency_s, latency)
        if latency > 1.0:
            self.slow += 1
        if not (status == 200 or (status == 503 and retry_after and json_body)):
            self.bad += 1

    @property
    def ok(self) -> bool:
        return self.requests > 0 and self.slow == 0 and self.bad == 0


async def watch_outage(client: httpx.AsyncClient, paths: Sequence[str], stop: asyncio.Event,
                       stats: OutageStats) -> None:
    """Request `paths` in turn (4 at a time) until `stop`; record codes and latency."""
    async def one(path: str) -> None:
        started = time.monotonic()
        try:
            resp = await client.get(path, timeout=3.0)
            try:
                resp.json()
                is_json = True
            except ValueError:
                is_json = False
            stats.add(resp.status_code, time.monotonic() - started,
                      "retry-after" in resp.headers, is_json)
        except httpx.HTTPError:
            stats.add(0, time.monotonic() - started, False, False)
    i = 0
    while not stop.is_set():
        batch = [paths[(i + k) % len(paths)] for k in range(4)]
        i += 4
        await asyncio.gather(*(one(p) for p in batch))
        await asyncio.sleep(0.05)


async def until_ready(client: httpx.AsyncClient, since: float,
                      limit_s: float = 60.0) -> float | None:
    """Seconds after `since` until `/readyz` and `/listing/` both answer 200 (None: never)."""
    while time.monotonic() - since < limit_s:
        ready, listing = await asyncio.gather(fetch(client, "/readyz", 1.0),
                                              fetch(client, "/listing/?page_size=1", 2.0))
        if ready[0] == 200 and listing[0] == 200:
            return time.monotonic() - since
        await asyncio.sleep(0.1)
    return None


async def until_price(client: httpx.AsyncClient, car_id: int, price: int, since: float,
                      limit_s: float = 60.0) -> float | None:
    """Seconds after `since` until the car's page shows `price` (None: never)."""
    while time.monotonic() - since < limit_s:
        status, body = await fetch(client, f"/listing/{car_id}/", 1.0)
        if status == 200 and body and body.get("price") == price:
            return time.monotonic() - since
        await asyncio.sleep(0.1)
    return None
