"""The cache builder: reads cars and buyers from MySQL in batches and writes them to Valkey.

Used three ways: `cdc_worker rebuild` (a full build into a new generation, then one switch), the
applier (incremental rebuilds of the cars a change affects) and reconcile (fresh builds to
compare with). A constant number of SQL statements per batch, whatever its size.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import valkey
from carpages_shared import car_rows, keys
from carpages_shared.assembly import IndexEntry
from carpages_shared.progress import ProgressFn

from carpages_cdc.cache import writer as cache_writer
from carpages_cdc.cache.batch_reads import Connect, CountingQuery, chunks
from carpages_cdc.cache.bulk_pipeline import bulk_pipeline
from carpages_cdc.cache.command_list import CommandList
from carpages_cdc.cache.paused_gc import collector_paused
from carpages_cdc.cache.read_ahead import read_ahead
from carpages_cdc.cache.rebuild_lock import RebuildLock, RebuildRunning
from carpages_cdc.cache.valkey_client import is_cluster, run_id, transaction

log = logging.getLogger(__name__)
__all__ = ["BuildStats", "CacheBuilder", "Connect", "CountingQuery", "FencedWrite", "NoBuild",
           "RebuildRunning", "chunks", "current_build"]


FencedWrite = Callable[[Any, Sequence[int], "tuple[str, Sequence[bytes | None]] | None"], None]
"""Runs a filled batch pipeline instead of `pipe.execute()`: (pipe, ids, (memberships key, the
values read before writing) or None). The applier's fenced write: carpages_cdc.apply.fencing."""


NEXT_BUILD = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[1])
"""
"""The next build number: past both the counter and the clock (keys.build_counter)."""


class NoBuild(RuntimeError):
    """The listing has no current build yet: run a full rebuild first."""


@dataclass
class BuildStats:
    """What a build did."""

    build: int
    cars_written: int
    cars_removed: int
    buyers_written: int
    statements: int
    seconds: float
    index_changed: bool


def current_build(client: valkey.Valkey) -> tuple[int, int] | None:
    """(build, version) of the live listing generation, or None before the first build."""
    build, version = client.hmget(keys.meta(), ["build", "version"])
    if build is None:
        return None
    return int(build), int(version or 0)


class CacheBuilder:
    """Builds cache entries for cars and buyers from MySQL."""

    def __init__(self, connect: Connect, client: valkey.Valkey, batch_size: int = 2000) -> None:
        self.connect = connect
        self.client = client
        self.batch_size = batch_size

    def close(self) -> None:
        """Close the Valkey client and, when `connect` is a pool, its idle connections."""
        self.client.close()
        close_pool = getattr(self.connect, "close", None)
        if close_pool is not None:
            close_pool()

    # ------------------------------------------------------------------ incremental
    def build_cars(self, car_ids: Iterable[int], fence: FencedWrite | None = None,
                   build: int | None = None) -> BuildStats:
        """Rebuild the given cars in the current generation (removing any no longer live).

        `build`: the generation the caller just read (the applier reads it every loop turn);
        None = read it here. A generation switched in between is the caller's to notice: the
        applier re-applies its recent cars when it sees the switch.
        """
        started = time.monotonic()
        if build is None:
            current = current_build(self.client)
            if current is None:
                raise NoBuild("no listing build yet; run `cdc_worker rebuild`")
            build = current[0]
        ids = sorted(set(car_ids))
        conn = self.connect()
        query = CountingQuery(conn)
        written = removed = 0
        changed = False
        try:
            with read_ahead(lambda batch: car_rows.load_cars(query, batch),
                            list(chunks(ids, self.batch_size))) as loaded:
                for batch, cars in loaded:
                    changed |= self._write_cars(build, batch, cars, fence)
                    live = sum(1 for c in batch if c in cars and cars[c].status == car_rows.LIVE)
                    written += live
                    removed += len(batch) - live
        finally:
            conn.close()
        return BuildStats(build, written, removed, 0, query.statements,
                          time.monotonic() - started, changed)

    def _write_cars(self, build: int, batch: Sequence[int], cars: dict[int, car_rows.CarRecord],
                    fence: FencedWrite | None) -> bool:
        """One batch: read the recorded memberships, write (fenced), return whether the index
        changed."""
        raw = self.client.hmget(keys.memberships(build), [str(c) for c in batch])
        old = {c: IndexEntry.from_json(r) if r else None for c, r in zip(batch, raw, strict=True)}
        # A fenced batch goes to the fence's script as a list of commands, never as a pipeline.
        pipe: Any = CommandList() if fence is not None else self.client.pipeline(transaction=False)
        changed = cache_writer.write_cars(pipe, build, batch, cars, old)
        if changed:
            # Once per batch that changed, not for every batch after the first change.
            pipe.hincrby(keys.meta(), "version", 1)
            # Raw command: valkey-py's cluster pipeline blocks its publish() helper.
            pipe.execute_command("PUBLISH", keys.invalidations(), build)
        if fence is None:
            pipe.execute()
        else:
            fence(pipe, batch, (keys.memberships(build), raw))
        return changed

    def build_buyers(self, buyer_ids: Iterable[int], fence: FencedWrite | None = None,
                     build: int | None = None) -> BuildStats:
        """Rebuild the dynamic keys of the given buyers (`build`, when known, only labels the
        stats: buyers' keys belong to no generation)."""
        started = time.monotonic()
        ids = sorted(set(buyer_ids))
        conn = self.connect()
        query = CountingQuery(conn)
        try:
            self._write_buyers(query, ids, fence)
        finally:
            conn.close()
        if build is None:
            current = current_build(self.client)
            build = current[0] if current else 0
        return BuildStats(build, 0, 0, len(ids), query.statements,
                          time.monotonic() - started, False)

    def _write_buyers(self, query: CountingQuery, ids: list[int], fence: FencedWrite | None) -> int:
        """Read and write the buyers in batches (reads on `query`'s connection); how many."""
        with read_ahead(lambda batch: car_rows.load_buyers(query, batch),
                        list(chunks(ids, self.batch_size))) as loaded:
            for batch, buyers in loaded:
                pipe: Any = bulk_pipeline(self.client) if fence is None else CommandList()
                for buyer in buyers.values():
                    cache_writer.write_buyer(pipe, buyer)
                if fence is None:
                    pipe.execute()
                else:
                    fence(pipe, batch, None)
        return len(ids)

    def build_slugs(self, fence: FencedWrite | None = None) -> int:
        """Replace the slug map atomically (write a scratch hash, then RENAME over)."""
        conn = self.connect()
        try:
            rows = CountingQuery(conn)(car_rows.SLUGS_SQL, ())
        finally:
            conn.close()
        scratch = keys.slugs_scratch()
        pipe = transaction(self.client, keys.slugs())
        pipe.delete(scratch)
        mapping = cache_writer.slug_map(rows)
        if mapping:
            pipe.hset(scratch, mapping=mapping)
            pipe.rename(scratch, keys.slugs())
        else:
            pipe.delete(keys.slugs())
        # A new token names this map's contents: API processes keep resolved slugs by it and
        # see it move in the meta they read with every listing page (random, not a counter,
        # so a token never comes back after Valkey lost its data).
        pipe.hset(keys.meta(), "slugs", uuid.uuid4().hex)
        if fence is None:
            pipe.execute()
        else:
            fence(pipe, (), None)
        return len(mapping)

    # ------------------------------------------------------------------ full rebuild
    def full_rebuild(self, position: dict[str, Any] | None = None,
                     progress: ProgressFn | None = None) -> BuildStats:
        """Build every live car into a new generation, then switch readers to it at once.

        `position` (the binlog position read before the snapshot) is stored with the build so
        the applier knows where replaying makes the new build current. `progress` is told
        (cars done, live cars) after every batch.
        """
        started = time.monotonic()
        with RebuildLock(self.client), collector_paused():
            return self._full_rebuild(started, position, progress)

    def _full_rebuild(self, started: float, position: dict[str, Any] | None,
                      progress: ProgressFn | None = None) -> BuildStats:
        # Read first: if Valkey fails over mid-build, the mark names the run the first batches
        # went to, and the applier rebuilds again on the promoted replica (valkey_restarts).
        run = run_id(self.client)
        now_ms = time.time_ns() // 1_000_000
        build = int(self.client.eval(NEXT_BUILD, 1, keys.build_counter(), now_ms))
        previous = current_build(self.client)
        conn = self.connect()
        query = CountingQuery(conn)
        written = buyers_written = done = 0
        try:
            # One consistent snapshot across all batches, so the build is a single moment.
            with conn.cursor() as cur:
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            live_ids = [r[0] for r in query(car_rows.LIVE_IDS_SQL, ())]
            # On a cluster a listing without a build may sit beside other nodes' older pages
            # (the node holding the listing came back empty): the retiring step cannot list
            # them from an old build, so the snapshot names every car that is not live.
            unlisted = ([r[0] for r in query(car_rows.NOT_LIVE_SQL, ())]
                        if previous is None and is_cluster(self.client) else [])
            with read_ahead(lambda batch: car_rows.load_cars(query, batch),
                            list(chunks(live_ids, self.batch_size))) as loaded:
                for batch, cars in loaded:
                    pipe = bulk_pipeline(self.client)
                    written += cache_writer.write_new_generation(pipe, build, cars.values())
                    pipe.execute()
                    if progress is not None:
                        progress(done := done + len(batch), len(live_ids))
            buyer_ids = [r[0] for r in query(car_rows.ALL_BUYER_IDS_SQL, ())]
            buyers_written = self._write_buyers(query, buyer_ids, None)
            conn.commit()
            self.build_slugs()
            if position is not None:
                # Stored before the switch, so whoever sees the new build also finds it.
                self.client.set(keys.build_position(build), orjson.dumps(position))
        except BaseException:
            # Readers never switch to a half-written generation; let its keys go.
            with contextlib.suppress(valkey.ValkeyError):
                self._expire_build(build)
            raise
        finally:
            conn.close()
        # Before the switch: a replica holding the switch holds the mark.
        self.client.set(keys.valkey_run(), run)
        removed = self._retire(previous, build, set(live_ids)) + self._drop_pages(unlisted)
        log.info("full rebuild %d: %d cars, %d buyers, %d removed in %.2fs", build, written,
                 buyers_written, removed, time.monotonic() - started)
        return BuildStats(build, written, removed, buyers_written, query.statements,
                          time.monotonic() - started, True)

    def _retire(self, previous: tuple[int, int] | None, build: int, live: set[int]) -> int:
        """Switch readers to `build`, drop pages of cars no longer live, expire the old build."""
        pipe = transaction(self.client, keys.meta())
        pipe.hset(keys.meta(), mapping={"build": build, "version": 0})
        pipe.publish(keys.invalidations(), build)
        pipe.execute()
        if previous is None:
            return 0
        old = previous[0]
        old_ids = {int(m) for m in self.client.zrange(keys.live_cars(old), 0, -1)}
        gone = self._drop_pages(sorted(old_ids - live))
        # Readers that fetched the old build a moment ago finish within the grace period.
        self._expire_build(old)
        return gone

    def _drop_pages(self, car_ids: Sequence[int]) -> int:
        """Delete the own keys of cars that are not live; how many cars."""
        for batch in chunks(list(car_ids), self.batch_size):
            pipe = self.client.pipeline(transaction=False)
            for car_id in batch:
                for key in (keys.dedicated_page(car_id), keys.car_private(car_id),
                            keys.car_interested(car_id)):
                    pipe.delete(key)  # one key per DEL: cluster pipelines refuse multi-key DEL
            pipe.execute()
        return len(car_ids)

    def _expire_build(self, build: int) -> None:
        """Give every key of a generation the grace-period TTL (found via its registry)."""
        registry = [k.decode() for k in self.client.smembers(keys.build_registry(build))]
        fixed = [keys.cards(build), keys.live_cars(build), keys.memberships(build),
                 keys.popularity(build), keys.build_registry(build), keys.build_position(build),
                 *(keys.numeric_index(build, f) for f in keys.NUMERIC_FIELDS)]
        pipe = self.client.pipeline(transaction=False)
        for key in registry + fixed:
            pipe.expire(key, keys.OLD_BUILD_TTL)
        pipe.execute()
