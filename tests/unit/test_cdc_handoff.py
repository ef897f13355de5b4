"""The reader thread -> event loop hand-off: ordered, bounded (the reader waits while `size`
items are pending) and stoppable from either side."""

from __future__ import annotations

import asyncio
import threading

from carpages_cdc.position import Checkpoint
from carpages_cdc.publish.binlog_reader import Boundary, ReaderStopped, Tick
from carpages_cdc.publish.handoff import Handoff


async def test_items_arrive_in_order() -> None:
    handoff = Handoff(asyncio.get_running_loop(), size=10)
    stop = threading.Event()
    items = [Boundary(Checkpoint("binlog.000001", p)) for p in range(5)]

    def reader() -> None:
        for item in items:
            assert handoff.deliver(item, stop)

    await asyncio.to_thread(reader)
    assert [await handoff.take() for _ in items] == items


async def test_the_reader_waits_while_the_queue_is_full() -> None:
    handoff = Handoff(asyncio.get_running_loop(), size=2)
    stop = threading.Event()
    delivered: list[int] = []

    def reader() -> None:
        for n in range(3):
            handoff.deliver(Tick(), stop)
            delivered.append(n)

    thread = threading.Thread(target=reader)
    thread.start()
    await asyncio.sleep(0.3)
    assert delivered == [0, 1]  # the third waits for a free slot
    assert isinstance(await handoff.take(), Tick)
    await asyncio.to_thread(thread.join, 5)
    assert delivered == [0, 1, 2]


async def test_a_waiting_reader_gives_up_once_stopped() -> None:
    handoff = Handoff(asyncio.get_running_loop(), size=1)
    stop = threading.Event()
    assert handoff.deliver(Tick(), stop)
    threading.Timer(0.1, stop.set).start()
    assert not await asyncio.to_thread(handoff.deliver, ReaderStopped(None), stop)


async def test_take_returns_none_when_nothing_comes() -> None:
    handoff = Handoff(asyncio.get_running_loop(), size=1)
    assert await handoff.take() is None
