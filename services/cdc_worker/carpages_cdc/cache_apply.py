"""Applies a batch's Work to Valkey: selectors to cars, then fenced, batched rebuilds.

Blocking (the builder uses pymysql and the sync Valkey client); the applier runs it in a thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from carpages_shared import keys

from carpages_cdc import car_lookup
from carpages_cdc.builder import CacheBuilder, CountingQuery
from carpages_cdc.fencing import FENCED_WRITE, Fence, FenceRefused
from carpages_cdc.metrics import Metrics
from carpages_cdc.work import Work

log = logging.getLogger(__name__)

Build = Callable[[Fence, list[int]], Any]


class FenceContention(RuntimeError):
    """Memberships kept changing underneath for every retry (the batch is retried later)."""


@dataclass
class Applied:
    """What one batch rebuilt."""

    cars: int = 0
    buyers: int = 0
    slugs: bool = False
    refused: int = 0


class CacheApplier:
    """Rebuilds the cars, buyers and slug map a batch affects, each write fenced."""

    def __init__(self, builder: CacheBuilder, metrics: Metrics, retries: int = 8,
                 before_write: Callable[[], None] | None = None) -> None:
        self.builder = builder
        self.metrics = metrics
        self.retries = retries
        self.before_write = before_write
        self.script = builder.client.register_script(FENCED_WRITE)

    def apply(self, work: Work, force: bool = False) -> Applied:
        """Rebuild everything `work` names (selectors are resolved first, in one query each)."""
        if work.selectors:
            conn = self.builder.connect()
            try:
                work.resolve(car_lookup.resolve(CountingQuery(conn), work.selectors))
            finally:
                conn.close()
        done = Applied()
        if work.cars:
            self.metrics.rebuild_size.labels("cars").observe(len(work.cars))
            done.refused += self._fenced(
                lambda fence, ids: self.builder.build_cars(ids, fence=fence),
                keys.car_position, work.cars, force, "cars")
            done.cars = len(work.cars)
        if work.buyers:
            self.metrics.rebuild_size.labels("buyers").observe(len(work.buyers))
            done.refused += self._fenced(
                lambda fence, ids: self.builder.build_buyers(ids, fence=fence),
                keys.buyer_position, work.buyers, force, "buyers")
            done.buyers = len(work.buyers)
        if work.slugs is not None:
            done.refused += self._fenced(
                lambda fence, ids: self.builder.build_slugs(fence=fence),
                lambda _: keys.slugs_position(), {0: work.slugs}, force, "slugs", fixed=True)
            done.slugs = True
        return done

    def _fenced(self, build: Build, position_key: Callable[[int], str],
                tokens: Mapping[int, str], force: bool, kind: str, fixed: bool = False) -> int:
        """Build until written or refused as stale; returns how many entities were refused."""
        pending = dict(tokens)
        refused = 0
        for _ in range(self.retries):
            if not pending:
                return refused
            fence = Fence(self.script, position_key, pending,
                          entities=list(pending) if fixed else None, force=force,
                          before_write=self.before_write)
            try:
                build(fence, sorted(pending))
                return refused
            except FenceRefused as exc:
                # Stale: a newer change's rebuild already wrote these. Conflicted: memberships
                # moved under us; the next attempt re-reads them.
                for entity in exc.stale:
                    pending.pop(entity, None)
                refused += len(exc.stale)
                self.metrics.fence_refused.labels(kind).inc(len(exc.stale))
                log.debug("fenced %s write: %s", kind, exc)
        raise FenceContention(f"{kind} write kept conflicting after {self.retries} attempts")
