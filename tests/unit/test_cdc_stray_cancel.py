"""A CancelledError a library raises on its own is a failure, not a stop request.

Seen in the chaos suite: after a broker restart the publisher halts its producer (cancels the
sender task), and `producer.stop()` then re-raises the cancelled in-flight request. That
escaped every `except Exception` and ended the process.
"""

from __future__ import annotations

import asyncio

import pytest
from carpages_cdc.lifecycle import stray_cancel
from carpages_cdc.publish.publisher import stop_producer


class HaltedProducer:
    """Like aiokafka's producer after halt_producer: stop() awaits a task cancelled earlier."""

    def __init__(self) -> None:
        self.sender = asyncio.ensure_future(asyncio.sleep(3600))
        self.sender.cancel()
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True
        await self.sender


class SlowProducer:
    async def stop(self) -> None:
        await asyncio.sleep(3600)


async def test_a_cancellation_nobody_asked_for_is_stray() -> None:
    with pytest.raises(asyncio.CancelledError) as caught:
        await HaltedProducer().stop()
    assert stray_cancel(caught.value)
    assert not stray_cancel(ValueError("not a cancellation"))


async def test_stopping_a_halted_producer_does_not_raise() -> None:
    producer = HaltedProducer()
    await stop_producer(producer, timeout_s=5)
    assert producer.stopped


async def test_a_producer_that_will_not_stop_is_given_up_on() -> None:
    await asyncio.wait_for(stop_producer(SlowProducer(), timeout_s=0.05), 5)


async def test_cancelling_the_session_itself_still_cancels_it() -> None:
    entered = asyncio.Event()

    class Stuck:
        async def stop(self) -> None:
            entered.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(stop_producer(Stuck(), timeout_s=60))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_a_real_cancellation_is_not_stray() -> None:
    seen: list[bool] = []

    async def victim() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError as exc:
            seen.append(stray_cancel(exc))
            raise

    task = asyncio.create_task(victim())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == [False]
