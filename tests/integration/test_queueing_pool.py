"""QueueingPool against a real Valkey: queueing, order, time limit, hand-over races."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import valkey.asyncio
from carpages_api.store.queueing_pool import QueueingPool


def client_over(url: str, size: int, wait_s: float) -> Any:
    pool = QueueingPool.from_url(url, max_connections=size, wait_s=wait_s)
    return valkey.asyncio.Valkey.from_pool(pool)


@asynccontextmanager
async def exhausted(url: str, wait_s: float) -> AsyncIterator[tuple[Any, Any]]:
    """A one-connection pool and its connection, held: every checkout now has to wait."""
    client = client_over(url, size=1, wait_s=wait_s)
    try:
        pool = client.connection_pool
        yield pool, await pool.get_connection("PING")
    finally:
        await client.aclose()


async def test_many_more_round_trips_than_connections_all_succeed(valkey_url: str) -> None:
    client = client_over(valkey_url, size=3, wait_s=5)
    try:
        async def one(i: int) -> Any:
            pipe = client.pipeline(transaction=False)
            pipe.set(f"test:pool:{i}", i)
            pipe.get(f"test:pool:{i}")
            return (await pipe.execute())[1]

        found = await asyncio.gather(*(one(i) for i in range(300)))
        assert found == [str(i).encode() for i in range(300)]
        pool = client.connection_pool
        assert len(pool._available_connections) + len(pool._in_use_connections) <= 3
        assert not pool._in_use_connections
    finally:
        await client.aclose()


async def test_waiters_are_served_in_arrival_order(valkey_url: str) -> None:
    async with exhausted(valkey_url, wait_s=5) as (pool, held):
        served: list[int] = []

        async def checkout(n: int) -> None:
            connection = await pool.get_connection("PING")
            served.append(n)
            await asyncio.sleep(0)
            await pool.release(connection)

        tasks = []
        for n in range(5):
            tasks.append(asyncio.create_task(checkout(n)))
            await asyncio.sleep(0)  # each is waiting before the next arrives
        await pool.release(held)
        await asyncio.gather(*tasks)
        assert served == [0, 1, 2, 3, 4]


async def test_a_checkout_gives_up_after_wait_s_and_leaves_no_trace(valkey_url: str) -> None:
    async with exhausted(valkey_url, wait_s=0.2) as (pool, held):
        started = time.monotonic()
        with pytest.raises(valkey.exceptions.ConnectionError, match="No connection available"):
            await pool.get_connection("PING")
        assert time.monotonic() - started >= 0.2
        assert not pool._waiters
        await pool.release(held)
        # The connection is free again, so the next checkout does not wait at all.
        again = await asyncio.wait_for(pool.get_connection("PING"), 0.05)
        await pool.release(again)


async def test_a_connection_handed_to_a_cancelled_checkout_is_passed_on(valkey_url: str) -> None:
    async with exhausted(valkey_url, wait_s=5) as (pool, held):
        waiting = asyncio.create_task(pool.get_connection("PING"))
        await asyncio.sleep(0)
        await pool.release(held)  # handed to `waiting`...
        waiting.cancel()  # ...which is cancelled before it runs again
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not pool._in_use_connections  # given back, not leaked
        again = await asyncio.wait_for(pool.get_connection("PING"), 0.05)
        await again.send_command("PING")
        assert await again.read_response() in (b"PONG", "PONG")  # a working connection
        await pool.release(again)
