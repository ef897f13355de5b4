"""Process lifecycle helpers: the stop event SIGTERM sets, sleeping until it, racing tasks."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable
from typing import Any


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: roles stop taking work, drain, and exit 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True if `stop` was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
    return stop.is_set()


def stray_cancel(exc: BaseException) -> bool:
    """Whether `exc` is a CancelledError nobody asked this task for: a library awaiting a task
    it cancelled itself (aiokafka's producer, stopped after its sender was halted, re-raises the
    cancelled in-flight request). That is a failure to handle like any other, not a request to
    stop — letting it through would end the process. A real cancellation of the current task
    (`cancelling()` > 0) is never stray."""
    task = asyncio.current_task()
    return (isinstance(exc, asyncio.CancelledError) and task is not None
            and task.cancelling() == 0)


async def first_of(*awaitables: Awaitable[Any]) -> None:
    """Run together until the first finishes; cancel the rest; re-raise the first's error."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()
