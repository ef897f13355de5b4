"""CDC freshness: MySQL commit -> visible through the API, single rows and a bulk price change."""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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
    valkey_p50_ms: float = float("nan")
    """Commit -> page in Valkey (the CDC pipeline alone), when watched through Valkey."""
    valkey_p99_ms: float = float("nan")
    latencies_ms: list[float] = field(default_factory=list)
    """Every confirmed commit -> API latency, in commit order (the charts' CDF)."""
    valkey_latencies_ms: list[float] = field(default_factory=list)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class _Update:
    car_id: int
    price: int
    committed: float
    visible: float | None = None
    in_valkey: float | None = None


class _Writer(threading.Thread):
    """Commits one single-row UPDATE every `step` s from `offset` on its own connection (off the
    event loop, so a slow commit or a busy loop never lowers the offered rate); hands each to
    the loop. Several writers interleave to offer rates one connection's commits cannot."""

    def __init__(self, mysql: dict[str, Any], plan: list[tuple[int, int]], step: float,
                 offset: float, loop: asyncio.AbstractEventLoop,
                 out: asyncio.Queue[_Update | None]) -> None:
        super().__init__(name="freshness-writer", daemon=True)
        self.mysql, self.plan, self.step, self.offset = mysql, plan, step, offset
        self.loop, self.out = loop, out
        self.started = 0.0
        self.elapsed = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            conn = pymysql.connect(autocommit=True, **self.mysql)
            try:
                for n, (car_id, price) in enumerate(self.plan):
                    time.sleep(max(0.0, self.started + self.offset + n * self.step
                                   - time.monotonic()))
                    with conn.cursor() as cur:
                        cur.execute("UPDATE car SET price = %s WHERE id = %s", (price, car_id))
                    update = _Update(car_id, price, time.monotonic())
                    self.loop.call_soon_threadsafe(self.out.put_nowait, update)
                self.elapsed = time.monotonic() - self.started
            finally:
                conn.close()
        except BaseException as exc:  # reported by the caller
            self.error = exc
        finally:
            self.loop.call_soon_threadsafe(self.out.put_nowait, None)


WRITER_RATE = 400.0
"""Commits per second one writer connection is asked for (a commit takes ~0.5–1 ms here)."""


def _writers(mysql: dict[str, Any], plan: list[tuple[int, int]], rate: float,
             loop: asyncio.AbstractEventLoop,
             out: asyncio.Queue[_Update | None]) -> list[_Writer]:
    """Writers that together commit `plan` in order-ish at `rate`: writer k takes every n-th
    update from the k-th, offset by k / rate."""
    n = max(1, math.ceil(rate / WRITER_RATE))
    return [_Writer(mysql, plan[k::n], n / rate, k / rate, loop, out) for k in range(n)]


class _Http:
    """Keep-alive HTTP/1.1 GETs on raw asyncio streams: ~20x less client CPU per request than
    httpx, so the bench's own process is not what delays the confirmations it times."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self, path: str) -> tuple[int, bytes]:
        """Status and body of GET `path` (no-cache, so a cache in front could not answer)."""
        reader, writer = (self._idle.pop() if self._idle
                          else await asyncio.open_connection(self.host, self.port))
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                     "Cache-Control: no-cache\r\n\r\n".encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip()
                  for k, _, v in (line.partition(":") for line in head[1:] if line)}
        body = await reader.readexactly(int(fields["content-length"]))
        if fields.get("connection", "").lower() == "close":
            writer.close()
        else:
            self._idle.append((reader, writer))
        return int(head[0].split()[1]), body

    async def aclose(self) -> None:
        """Close every idle connection."""
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def _api_shows(http: _Http, update: _Update, deadline: float) -> None:
    """Poll the API for one car until it shows the new price (or the deadline passes)."""
    while time.monotonic() < deadline:
        status, body = await http.get(f"/listing/{update.car_id}/")
        if status == 200 and orjson.loads(body)["price"] == update.price:
            update.visible = time.monotonic()
            return
        await asyncio.sleep(0.005)


async def single_rows(api_url: str, mysql: dict[str, Any], car_ids: list[int], rate: float,
                      samples: int, valkey_url: str | None = None) -> Freshness:
    """Update one car's price at `rate` per second (each car once); time each until the API
    shows it.

    The writers run in threads so the offered rate is real. With `valkey_url`, pending cars
    are watched through their fencing tokens (`keys.car_position`, written in the same atomic
    script as the page) with one MGET every 2 ms; a car whose token moved has its page read and
    checked, and is then confirmed through the API (the time recorded is when the API answered
    with the new price). Polling the API itself every few ms for every pending car would load
    it far past what it serves and measure its queue instead of the pipeline, and reading every
    pending page each look would cost the bench more than the API at 2,000 rows/s. Without it,
    each pending car polls the API every 5 ms.
    """
    rng = random.Random(7)
    plan = [(car_id, 100_000 + rng.randrange(1, 9_000_000))
            for car_id in rng.sample(car_ids, samples)]
    queue: asyncio.Queue[_Update | None] = asyncio.Queue()
    writers = _writers(mysql, plan, rate, asyncio.get_running_loop(), queue)
    updates: list[_Update] = []
    watching: dict[int, _Update] = {}
    confirms: list[asyncio.Task[None]] = []
    store = valkey.asyncio.Valkey.from_url(valkey_url) if valkey_url else None
    http = _Http(api_url)
    tokens: dict[int, bytes | None] = {}
    if store is not None:
        ids = [car_id for car_id, _ in plan]
        tokens = dict(zip(ids, await _mget(store, [keys.car_position(i) for i in ids]),
                          strict=True))
    started = time.monotonic()
    for writer in writers:
        writer.started = started
        writer.start()
    writing = len(writers)
    try:
        while writing or watching:
            while writing and not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    writing -= 1
                    continue
                updates.append(item)
                if store is None:
                    confirms.append(asyncio.create_task(
                        _api_shows(http, item, item.committed + 10)))
                else:
                    watching[item.car_id] = item
            if store is not None and watching:
                for update in await _moved(store, watching, tokens):
                    del watching[update.car_id]
                    confirms.append(asyncio.create_task(
                        _api_shows(http, update, update.committed + 10)))
            await asyncio.sleep(0.002)
        await asyncio.gather(*confirms)
    finally:
        if store is not None:
            await store.aclose()
        await http.aclose()
        for writer in writers:
            writer.join(5)
    for writer in writers:
        if writer.error is not None:
            raise writer.error
    elapsed = max(w.elapsed for w in writers)
    seen = [(u.visible - u.committed) * 1000 for u in updates if u.visible is not None]
    missed = len(updates) - len(seen)
    latencies = seen or [float("nan")]
    in_valkey = [(u.in_valkey - u.committed) * 1000 for u in updates if u.in_valkey is not None]
    pipeline = in_valkey or [float("nan")]
    return Freshness(samples, statistics.median(latencies), _percentile(latencies, 0.99),
                     max(latencies), samples / max(elapsed, 1e-9), missed,
                     statistics.median(pipeline), _percentile(pipeline, 0.99),
                     [round(x, 2) for x in seen], [round(x, 2) for x in in_valkey])


async def _moved(store: valkey.asyncio.Valkey, watching: dict[int, _Update],
                 tokens: dict[int, bytes | None]) -> list[_Update]:
    """The watched updates whose page now shows the new price (stamped `in_valkey`) or whose
    10 s ran out (not stamped); a token that moved for another change is remembered."""
    ids = list(watching)
    now_tokens = await store.mget([keys.car_position(i) for i in ids])
    now = time.monotonic()
    moved = [i for i, t in zip(ids, now_tokens, strict=True) if t != tokens[i]]
    for car_id, token in zip(ids, now_tokens, strict=True):
        tokens[car_id] = token
    pages = await store.mget([keys.dedicated_page(i) for i in moved]) if moved else []
    shown = {i for i, raw in zip(moved, pages, strict=True)
             if raw is not None and orjson.loads(raw)["price"] == watching[i].price}
    done = []
    for car_id in ids:
        update = watching[car_id]
        if car_id in shown:
            update.in_valkey = now
            done.append(update)
        elif now > update.committed + 10:
            done.append(update)
    return done


async def bulk_price_change(valkey_url: str, mysql: dict[str, Any], limit_s: float = 120,
                            timeline: list[tuple[float, int]] | None = None,
                            statements: int = 1,
                            on_commit: Callable[[float], None] | None = None) -> float:
    """One transaction changes every live car's price; seconds until every page shows it.

    `statements` > 1 repeats the UPDATE within the transaction (each car's row changes that
    many times: a bigger change on the same catalogue); `on_commit` gets the commit's
    time.monotonic().

    Watching 10,000 pages of ~7 KB by MGET every few ms would move ~70 MB and parse 10,000
    JSON documents per look, on the two cores the pipeline under test also needs. Instead each
    car's fencing token (`keys.car_position`, written in the same atomic script as its page) is
    watched, which costs a few hundred KB per look, and a car's page is read and checked only
    once its token has moved: the time reported is still when the page showed the new price.
    `timeline`, when given, gets (seconds since the commit, pages showing it) after each look.
    """
    conn = pymysql.connect(autocommit=False, **mysql)
    with conn.cursor() as cur:
        cur.execute("SELECT id, price FROM car WHERE status = 'live'")
        expected = {int(i): int(p) + 1000 * statements for i, p in cur.fetchall()}
    client = valkey.asyncio.Valkey.from_url(valkey_url)
    try:
        tokens = dict(zip(expected, await _mget(client, [keys.car_position(i) for i in expected]),
                          strict=True))
        with conn.cursor() as cur:
            for _ in range(statements):
                cur.execute("UPDATE car SET price = price + 1000 WHERE status = 'live'")
        conn.commit()
        committed = time.monotonic()
        if on_commit is not None:
            on_commit(committed)
        conn.close()
        remaining = dict(expected)
        while remaining and time.monotonic() - committed < limit_s:
            ids = list(remaining)
            now_tokens = await _mget(client, [keys.car_position(i) for i in ids])
            moved = {i: t for i, t in zip(ids, now_tokens, strict=True) if t != tokens[i]}
            pages = await _mget(client, [keys.dedicated_page(i) for i in moved])
            for (car_id, token), raw in zip(moved.items(), pages, strict=True):
                tokens[car_id] = token  # look at this page again only when it moves again
                if raw is not None and orjson.loads(raw)["price"] == remaining[car_id]:
                    del remaining[car_id]
            if timeline is not None:
                timeline.append((round(time.monotonic() - committed, 3),
                                 len(expected) - len(remaining)))
            if remaining:
                await asyncio.sleep(0.01)
    finally:
        await client.aclose()
    if remaining:
        return float("nan")
    return time.monotonic() - committed


async def _mget(client: valkey.asyncio.Valkey, names: list[str]) -> list[bytes | None]:
    """MGET in chunks of 2,000 keys (one huge reply would block Valkey for its length)."""
    out: list[bytes | None] = []
    for start in range(0, len(names), 2000):
        out.extend(await client.mget(names[start:start + 2000]))
    return out
