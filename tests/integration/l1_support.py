"""Shared by the tests of the dedicated page's L1: waiting for its tracking connection."""

from __future__ import annotations

import asyncio

from carpages_api.dedicated.l1 import PageL1
from fastapi import FastAPI

WAIT_S = 15.0
"""Bound on waiting for tracking to come up or go down (reconnects back off up to 1 s)."""


def l1_of(app: FastAPI) -> PageL1:
    """The app's L1 (the test's settings enable it)."""
    l1 = app.state.services.pages.l1
    assert isinstance(l1, PageL1)
    return l1


async def wait_for_l1(app: FastAPI, usable: bool = True) -> None:
    """Wait (bounded) until the app's L1 is usable (tracking on), or not."""
    l1 = l1_of(app)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while l1.usable != usable:
        assert loop.time() < deadline, f"L1 usable never became {usable}"
        await asyncio.sleep(0.01)
