"""One active publisher at a time: a lease row (owner + expiry) renewed while publishing.

A second replica waits as a standby and takes over once the lease expires (or is released on a
clean exit). The holder stops publishing a margin *before* its lease could have expired on the
server if it cannot renew (MySQL unreachable), and the checkpoint save is itself fenced by the
lease (carpages_cdc.publish.cdc_store), so a paused, deposed publisher can never move the
checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pymysql

from carpages_cdc.lifecycle import sleep_unless
from carpages_cdc.publish.cdc_store import CdcStore, LeaseLost

log = logging.getLogger(__name__)

SAFETY = 0.8
"""Fraction of the TTL we trust our lease for after a renewal started (clock and RTT margin)."""


class Lease:
    """Acquire, keep and release the publisher lease of one pipeline."""

    def __init__(self, store: CdcStore, ttl_s: float) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.held = False
        self.valid_until = 0.0

    async def _try(self) -> tuple[bool, str]:
        started = time.monotonic()
        held, owner = await asyncio.to_thread(self.store.try_acquire, self.ttl_s)
        if held:
            self.held, self.valid_until = True, started + self.ttl_s * SAFETY
        return held, owner

    async def acquire(self, stop: asyncio.Event, waiting: Callable[[str], None]) -> bool:
        """Wait as a standby until the lease is ours; False if `stop` came first."""
        announced = ""
        while not stop.is_set():
            try:
                held, owner = await self._try()
            except pymysql.err.Error as exc:
                held, owner = False, f"(unknown: {exc})"
            if held:
                log.info("lease %r acquired by %s", self.store.name, self.store.owner)
                return True
            if owner != announced:
                log.info("standby: lease %r held by %s", self.store.name, owner)
                announced = owner
            waiting(owner)
            await sleep_unless(stop, self.ttl_s / 3)
        return False

    async def keep(self) -> None:
        """Renew until lost; raises LeaseLost (never returns normally)."""
        while True:
            await asyncio.sleep(max(0.05, min(self.ttl_s / 3,
                                              self.valid_until - time.monotonic() - 0.05)))
            try:
                held, owner = await self._try()
            except pymysql.err.Error as exc:
                log.warning("lease renewal failed: %s", exc)
                held, owner = time.monotonic() < self.valid_until, "(unknown)"
                if held:
                    continue
            if not held:
                self.held = False
                raise LeaseLost(f"lease {self.store.name!r} lost to {owner}")

    async def release(self) -> None:
        """Give the lease up (clean exit): a standby takes over at once."""
        if not self.held:
            return
        self.held = False
        try:
            await asyncio.to_thread(self.store.release)
        except pymysql.err.Error as exc:
            log.warning("lease release failed (it expires by itself): %s", exc)
