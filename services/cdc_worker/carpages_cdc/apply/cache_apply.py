"""Applies a batch's Work to Valkey: selectors to cars, then fenced, batched rebuilds.

Every write converges by construction: entities already holding a newer token are dropped before
building (one round trip), a refused builder batch keeps what earlier batches wrote, each stale
refusal removes at least one entity, and memberships that keep moving underneath (another writer)
fall back to one entity at a time and, failing that, to the quarantine. A fault of the data (an
entity whose build raises something that is not transient) is isolated by bisection and
quarantined, so one bad car never blocks the stream; `repair` retries the quarantine.

Blocking (the builder uses pymysql and the sync Valkey client); the applier runs it in a thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from carpages_shared import keys

from carpages_cdc.apply import car_lookup, visibility
from carpages_cdc.apply.fencing import FENCED_WRITE, Fence, FenceRefused
from carpages_cdc.apply.quarantine import Quarantine
from carpages_cdc.apply.visibility import ChangedRow
from carpages_cdc.apply.work import Work
from carpages_cdc.cache.builder import CacheBuilder, CountingQuery
from carpages_cdc.metrics import Metrics
from carpages_cdc.transient import is_transient

log = logging.getLogger(__name__)

Build = Callable[[Fence, list[int], int | None], Any]
"""Builds a batch of entities with a fence, in the given generation (None = the current one)."""


@dataclass
class Applied:
    """What one batch rebuilt."""

    cars: int = 0
    buyers: int = 0
    slugs: bool = False
    refused: int = 0
    quarantined: int = 0


@dataclass(frozen=True)
class _Kind:
    """One kind of fenced entity: how to build a batch of them and where its tokens live."""

    name: str
    build: Build
    position_key: Callable[[int], str]
    fixed: bool = False  # the slug map: one entity (0) whatever the batch


class CacheApplier:
    """Rebuilds the cars, buyers and slug map a batch affects, each write fenced."""

    def __init__(self, builder: CacheBuilder, metrics: Metrics, retries: int = 8,
                 before_write: Callable[[], None] | None = None, visible_wait_s: int = 5) -> None:
        self.builder = builder
        self.visible_wait_s = visible_wait_s
        """How long a batch waits for its newest change's commit to be visible."""
        self.metrics = metrics
        self.retries = retries
        """Conflicted attempts of one batch before it falls back to one entity at a time."""
        self.before_write = before_write
        self.script = builder.client.register_script(FENCED_WRITE)
        self.quarantine = Quarantine(builder.client)
        self.kinds = {
            "cars": _Kind("cars", lambda fence, ids, build: builder.build_cars(
                ids, fence=fence, build=build), keys.car_position),
            "buyers": _Kind("buyers", lambda fence, ids, build: builder.build_buyers(
                ids, fence=fence, build=build), keys.buyer_position),
            "slugs": _Kind("slugs", lambda fence, ids, build: builder.build_slugs(fence=fence),
                           lambda _: keys.slugs_position(), fixed=True),
        }

    def warm(self) -> None:
        """Open a pooled MySQL connection and load the fenced script now, so the first change
        after start-up does not pay for them (a new connection alone cost ~60 ms there).
        Best effort: a dependency that is away is simply met later by `apply`."""
        try:
            self.builder.connect().close()
            self.builder.client.script_load(FENCED_WRITE)
        except Exception as exc:  # the loop's own retries meet an outage later
            log.info("warm-up skipped: %s", exc)

    # ------------------------------------------------------------------ a batch
    def apply(self, work: Work, force: bool = False, build: int | None = None,
              newest: ChangedRow | None = None) -> Applied:
        """Rebuild everything `work` names (selectors are resolved first, in one query each),
        in generation `build` (None = read the current one), once the commit of `newest` (the
        batch's newest change) is visible.

        Transient errors propagate (the caller retries the whole batch later: every write is
        idempotent); an entity that cannot be built is quarantined and the rest is written.
        """
        if newest is not None and not work.is_empty():
            self._wait_visible(newest)
        if work.selectors:
            self._resolve(work)
        done = Applied()
        for name, tokens in (("cars", work.cars), ("buyers", work.buyers),
                             ("slugs", {0: work.slugs} if work.slugs is not None else {})):
            if not tokens:
                continue
            if name != "slugs":
                self.metrics.rebuild_size.labels(name).observe(len(tokens))
            refused, failed = self._isolated(self.kinds[name], dict(tokens), force, build)
            done.refused += refused
            done.quarantined += len(failed)
            if failed:
                self.quarantine.add(name, failed)
                self.metrics.quarantined.labels(name).inc(len(failed))
        done.cars, done.buyers, done.slugs = len(work.cars), len(work.buyers), bool(work.slugs)
        return done

    def _wait_visible(self, newest: ChangedRow) -> None:
        conn = self.builder.connect()
        try:
            if not visibility.wait_visible(conn, newest, self.visible_wait_s):
                self.metrics.visibility_timeouts.inc()
        finally:
            conn.close()  # ends the transaction: the shared lock goes, the reads start afresh

    def _resolve(self, work: Work) -> None:
        conn = self.builder.connect()
        try:
            work.resolve(car_lookup.resolve(CountingQuery(conn), work.selectors))
        finally:
            conn.close()

    # ------------------------------------------------------------------ isolation
    def _isolated(self, kind: _Kind, tokens: dict[int, str], force: bool,
                  build: int | None = None) -> tuple[int, list[int]]:
        """Write `tokens`' entities; (refused as stale, entities that cannot be built).

        A non-transient failure splits the batch in halves until the failing entities stand
        alone: O(k log n) builds for k bad entities, and every good one is written.
        """
        try:
            return self._fenced(kind, tokens, force, build), []
        except Exception as exc:
            if is_transient(exc) or not tokens:
                raise
            if len(tokens) == 1:
                log.error("%s %s cannot be built, quarantined: %r", kind.name, next(iter(tokens)),
                          exc)
                return 0, list(tokens)
            ids = sorted(tokens)
            half = len(ids) // 2
            refused, failed = 0, []
            for part in (ids[:half], ids[half:]):
                r, f = self._isolated(kind, {i: tokens[i] for i in part}, force, build)
                refused += r
                failed += f
            return refused, failed

    # ------------------------------------------------------------------ fencing
    def _fenced(self, kind: _Kind, tokens: Mapping[int, str], force: bool,
                build: int | None = None) -> int:
        """Build until every entity is written or refused as stale; how many were refused.

        Terminates: each refusal either drops at least one stale entity, or counts as a
        conflicted attempt, of which a batch gets `retries` before it goes one entity at a time.
        """
        pending = dict(tokens)
        refused = 0 if force else self._drop_stale(kind, pending)
        conflicts = 0
        while pending:
            fence = Fence(self.script, kind.position_key, pending,
                          entities=list(pending) if kind.fixed else None, force=force,
                          before_write=self.before_write)
            try:
                kind.build(fence, sorted(pending), build)
                return refused
            except FenceRefused as exc:
                # Stale: a newer change's rebuild already wrote these. Conflicted: memberships
                # moved under us; the next attempt re-reads them. Batches written before the
                # refused one are done.
                for entity in fence.written:
                    pending.pop(entity, None)
                for entity in exc.stale:
                    pending.pop(entity, None)
                refused += len(exc.stale)
                self.metrics.fence_refused.labels(kind.name).inc(len(exc.stale))
                log.debug("fenced %s write: %s", kind.name, exc)
                if not exc.conflicted:
                    continue
                conflicts += 1
                self.metrics.fence_conflicts.labels(kind.name).inc()
                if conflicts >= self.retries and len(pending) > 1:
                    return refused + self._one_by_one(kind, pending, force, build)
                if conflicts >= self.retries:
                    raise ContentionPersisted(f"{kind.name} {sorted(pending)} kept conflicting "
                                              f"after {conflicts} attempts") from exc
        return refused

    def _one_by_one(self, kind: _Kind, pending: dict[int, str], force: bool,
                    build: int | None) -> int:
        """Fallback for a batch whose memberships keep moving: the smallest write windows."""
        log.warning("%s batch kept conflicting; writing %d entities one at a time", kind.name,
                    len(pending))
        refused = 0
        for entity, token in sorted(pending.items()):
            refused += self._fenced(kind, {entity: token}, force, build)
        return refused

    def _drop_stale(self, kind: _Kind, pending: dict[int, str]) -> int:
        """Drop entities whose stored token is newer than ours (one round trip, no build)."""
        ids = [0] if kind.fixed else list(pending)
        pipe = self.builder.client.pipeline(transaction=False)
        for entity in ids:
            pipe.get(kind.position_key(entity))
        stored = pipe.execute()
        stale = [e for e, current in zip(ids, stored, strict=True)
                 if current is not None and current.decode() > pending[e]]
        for entity in stale:
            del pending[entity]
        if stale:
            self.metrics.fence_refused.labels(kind.name).inc(len(stale))
        return len(stale)

    # ------------------------------------------------------------------ quarantine
    def repair(self) -> tuple[int, int]:
        """Rebuild the quarantined entities now (forced); (repaired, still failing)."""
        held = self.quarantine.members()
        repaired = failing = 0
        for name, ids in held.items():
            if name not in self.kinds or not ids:
                continue
            _, failed = self._isolated(self.kinds[name], dict.fromkeys(ids, ""), True)
            good = sorted(set(ids) - set(failed))
            self.quarantine.remove(name, good)
            repaired += len(good)
            failing += len(failed)
        if repaired or failing:
            log.info("quarantine repair: %d rebuilt, %d still failing", repaired, failing)
        self.metrics.quarantine_size.set(failing)
        return repaired, failing


class ContentionPersisted(RuntimeError):
    """One entity's memberships kept changing under every attempt: it is quarantined."""
