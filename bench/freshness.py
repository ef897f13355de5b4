"""CDC freshness: MySQL commit -> visible through the API, single rows and a bulk price change."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pymysql
import valkey.asyncio
from carpages_shared import keys


@dataclass
class Freshness:
    """Commit-to-visible figures."""

    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    rate_per_s: float
    missed: int


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _wait_visible(client: httpx.AsyncClient, car_id: int, price: int,
                        deadline: float) -> float | None:
    while time.monotonic() < deadline:
        resp = await client.get(f"/listing/{car_id}/", headers={"Cache-Control": "no-cache"})
        if resp.status_code == 200 and orjson.loads(resp.content)["price"] == price:
            return time.monotonic()
        await asyncio.sleep(0.002)
    return None


async def single_rows(api_url: str, mysql: dict[str, Any], car_ids: list[int], rate: float,
                      samples: int) -> Freshness:
    """Update one car's price at `rate` per second; time each until the API shows it."""
    conn = pymysql.connect(autocommit=True, **mysql)
    latencies: list[float] = []
    missed = 0
    rng = random.Random(7)
    chosen = rng.sample(car_ids, samples)
    async with httpx.AsyncClient(base_url=api_url, timeout=5) as client:
        pending: list[asyncio.Task[float | None]] = []
        started = time.monotonic()
        commits: list[float] = []
        for n, car_id in enumerate(chosen):
            price = 100_000 + rng.randrange(1, 9_000_000)
            with conn.cursor() as cur:
                cur.execute("UPDATE car SET price = %s WHERE id = %s", (price, car_id))
            commits.append(time.monotonic())
            pending.append(asyncio.create_task(
                _wait_visible(client, car_id, price, time.monotonic() + 10)))
            await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))
        seen = await asyncio.gather(*pending)
        elapsed = time.monotonic() - started
    conn.close()
    for committed, visible in zip(commits, seen, strict=True):
        if visible is None:
            missed += 1
        else:
            latencies.append((visible - committed) * 1000)
    latencies = latencies or [float("nan")]
    return Freshness(samples, statistics.median(latencies), _percentile(latencies, 0.99),
                     max(latencies), samples / elapsed, missed)


async def bulk_price_change(valkey_url: str, mysql: dict[str, Any],
                            limit_s: float = 120) -> float:
    """One transaction changes every live car's price; seconds until every page shows it."""
    conn = pymysql.connect(autocommit=False, **mysql)
    with conn.cursor() as cur:
        cur.execute("SELECT id, price FROM car WHERE status = 'live'")
        expected = {int(i): int(p) + 1000 for i, p in cur.fetchall()}
        cur.execute("UPDATE car SET price = price + 1000 WHERE status = 'live'")
    conn.commit()
    committed = time.monotonic()
    conn.close()
    client = valkey.asyncio.Valkey.from_url(valkey_url)
    remaining = dict(expected)
    try:
        while remaining and time.monotonic() - committed < limit_s:
            ids = list(remaining)
            for start in range(0, len(ids), 2000):
                chunk = ids[start:start + 2000]
                pages = await client.mget([keys.dedicated_page(i) for i in chunk])
                for car_id, raw in zip(chunk, pages, strict=True):
                    if raw is not None and orjson.loads(raw)["price"] == remaining[car_id]:
                        del remaining[car_id]
            if remaining:
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()
    if remaining:
        return float("nan")
    return time.monotonic() - committed
