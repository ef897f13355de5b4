"""Reader thread -> event loop: a bounded hand-off both sides can wait on safely.

The reader does not wait for the loop to accept each item (one loop round trip per row and per
transaction boundary made the reader as slow as a busy loop's turn): it takes a free slot of a
semaphore, schedules the put with `call_soon_threadsafe` and goes on reading. The pump frees a
slot for each item it takes, so at most `size` items are ever waiting (back-pressure).
"""

from __future__ import annotations

import asyncio
import threading

from carpages_cdc.publish.binlog_reader import Item

WAIT_S = 0.5
"""How often a waiting side re-checks whether it should stop."""


class Handoff:
    """A bounded FIFO from one reader thread to the event loop that created it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.loop = loop
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._slots = threading.BoundedSemaphore(size)

    def deliver(self, item: Item, stop: threading.Event) -> bool:
        """Reader side: hand `item` over, blocking while `size` items wait; False = stop now."""
        while not self._slots.acquire(timeout=WAIT_S):
            if stop.is_set() or self.loop.is_closed():
                return False
        try:
            self.loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop closed meanwhile
            return False
        return not stop.is_set()

    async def take(self) -> Item | None:
        """Loop side: the next item, or None after WAIT_S without one (to re-check stop)."""
        try:
            item = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            try:
                async with asyncio.timeout(WAIT_S):
                    item = await self._queue.get()
            except TimeoutError:
                return None
        self._slots.release()
        return item
