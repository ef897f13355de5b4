"""Reader thread -> event loop: a bounded asyncio.Queue both sides can wait on safely."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import TimeoutError as FutureTimeout

from carpages_cdc.binlog_reader import Item


async def take(queue: asyncio.Queue[Item]) -> Item | None:
    """The next reader item, or None after half a second without one (to re-check stop)."""
    try:
        return queue.get_nowait()
    except asyncio.QueueEmpty:
        pass
    try:
        async with asyncio.timeout(0.5):
            return await queue.get()
    except TimeoutError:
        return None


def deliver(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Item], item: Item,
            stop: threading.Event) -> bool:
    """Reader thread -> event loop, blocking while the queue is full; False once stopping."""
    future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
    while True:
        try:
            future.result(timeout=0.5)
            return not stop.is_set()
        except FutureTimeout:
            if stop.is_set() or loop.is_closed():
                future.cancel()
                return False
