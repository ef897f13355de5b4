"""`cdc_worker apply`: Kafka -> cache, at least once.

One consumer group over the cache's topics: `getmany` a batch, plan it (decode, dependency map,
coalesce), send what cannot be used to the dead-letter topic, rebuild the affected cars, buyers
and slug map with fenced writes, and only then commit the offsets. A crash anywhere before the
commit replays the batch, which is harmless: every write is idempotent and fenced.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

import valkey
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from carpages_cdc import bootstrap
from carpages_cdc.apply.broker_watch import BrokerWatch
from carpages_cdc.apply.cache_apply import CacheApplier
from carpages_cdc.apply.plan import DeadLetter, plan
from carpages_cdc.apply.valkey_restarts import ValkeyRestarts
from carpages_cdc.apply.work import Work
from carpages_cdc.cache.builder import CacheBuilder, current_build
from carpages_cdc.lifecycle import sleep_unless, stray_cancel
from carpages_cdc.metrics import Metrics
from carpages_cdc.settings import WorkerSettings
from carpages_cdc.transient import Episode, backoff_s, is_transient

log = logging.getLogger(__name__)

ROLE = "apply"
SLOW_BATCH_S = 1.0
VALKEY_POLL_S = 0.2
"""While Valkey refuses connections, how often the back-off looks whether it is back."""

Records = dict[TopicPartition, Sequence[Any]]


class Applier:
    """The consume -> rebuild -> commit loop of one group member."""

    def __init__(self, settings: WorkerSettings, consumer: AIOKafkaConsumer,
                 dead_letters: AIOKafkaProducer, builder: CacheBuilder, cache: CacheApplier,
                 metrics: Metrics, stop: asyncio.Event) -> None:
        self.settings = settings
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.builder = builder
        self.cache = cache
        self.metrics = metrics
        self.stop = stop
        self.database = settings.capture_database()
        self.build: int | None = None
        self.recent_cars: dict[int, float] = {}
        self.recent_buyers: dict[int, float] = {}
        self.progress = time.monotonic()
        self.state = "starting"
        self.committing: asyncio.Task[None] | None = None
        self.episode = Episode(log, "applier")
        self.broker = BrokerWatch(consumer, builder.client, settings.group_id)
        self.next_repair = time.monotonic() + settings.quarantine_repair_s
        self.valkey_restarts = ValkeyRestarts(builder.client)

    async def run(self) -> None:
        """Consume until SIGTERM; the batch in hand is finished and committed first.

        Nothing but SIGTERM ends the loop: a failure keeps the batch in hand (its offsets are
        not committed) and retries it after a back-off, forever. A transient failure (MySQL,
        Valkey or the broker away) is one logged episode; anything else is logged with its
        traceback at every retry, since it means a bug. Only the liveness probe decides the
        process is wedged (a loop stuck inside one call stops beating).
        """
        records: Records | None = None
        failures = 0
        try:
            while not self.stop.is_set():
                self.progress = time.monotonic()
                try:
                    if records is None:
                        self.state = "consuming"
                        records = await self.consumer.getmany(
                            timeout_ms=self.settings.poll_timeout_ms,
                            max_records=self.settings.apply_batch_max)
                    if await self.broker.lost_data():
                        records = None  # the new log is replayed from its start
                        await self._rebuild_after_broker_reset()
                        continue
                    if (self.valkey_restarts.due() and
                            await asyncio.to_thread(self.valkey_restarts.restarted_with_data)):
                        await self._full_rebuild("valkey_restart")
                    await self._watch_build()
                    if records:
                        await self._process(records)
                    records = None
                    await self._repair_when_due()
                    failures = 0
                    self.episode.succeeded()
                except BaseException as exc:  # the loop never exits on an error: see the docstring
                    if not (isinstance(exc, Exception) or stray_cancel(exc)):
                        raise
                    failures += 1
                    self._failed(exc)
                    # Capped low: a dependency that is back must be used within seconds.
                    await self._back_off(exc, backoff_s(failures, self.settings.retry_initial_s,
                                                        self.settings.apply_backoff_max_s))
        finally:
            await self._committed()

    def _failed(self, exc: BaseException) -> None:
        self.state = "retrying"
        if isinstance(exc, valkey.exceptions.ConnectionError):
            self.valkey_restarts.suspect()
        if is_transient(exc):
            if self.episode.failed(exc):
                self.metrics.fault_episodes.labels(ROLE, type(exc).__name__).inc()
        else:
            self.metrics.fault_episodes.labels(ROLE, "unexpected").inc()
            log.exception("apply failed unexpectedly; retrying the batch")

    async def _back_off(self, exc: BaseException, seconds: float) -> None:
        """Sleep before retrying; cut short once a Valkey that refused us answers again (an
        empty cache is rebuilt the moment Valkey is back, whatever the back-off had grown to)."""
        if not isinstance(exc, valkey.exceptions.ConnectionError):
            await sleep_unless(self.stop, seconds)
            return
        deadline = time.monotonic() + seconds
        while not await sleep_unless(self.stop, min(VALKEY_POLL_S, seconds)):
            if time.monotonic() >= deadline or await asyncio.to_thread(self._valkey_answers):
                return

    def _valkey_answers(self) -> bool:
        try:
            return bool(self.builder.client.ping())
        except valkey.exceptions.ValkeyError:
            return False

    async def _full_rebuild(self, reason: str) -> None:
        """Rebuild everything from MySQL now (changes this applier will never see again)."""
        self.state = "rebuilding"
        self.metrics.full_rebuilds.labels(reason).inc()
        position = await asyncio.to_thread(bootstrap.position_if_readable,
                                           self.settings.cdc_url())
        await asyncio.to_thread(bootstrap.full_rebuild, self.builder, position)
        current = await asyncio.to_thread(current_build, self.builder.client)
        self.build = current[0] if current else None

    async def _rebuild_after_broker_reset(self) -> None:
        """The broker lost messages we never saw: rebuild, then replay its new log."""
        self.metrics.broker_resets.inc()
        await self._full_rebuild("broker_reset")
        await self.broker.rebuilt()
        log.warning("cache rebuilt after the broker lost data; consuming its new log from the "
                    "start")

    async def _repair_when_due(self) -> None:
        if time.monotonic() < self.next_repair:
            return
        self.next_repair = time.monotonic() + self.settings.quarantine_repair_s
        await asyncio.to_thread(self.cache.repair)

    # ------------------------------------------------------------------ the cache's generation
    async def _watch_build(self) -> None:
        """Rebuild an empty cache; re-apply recent work after someone else's full rebuild."""
        current = await asyncio.to_thread(current_build, self.builder.client)
        if current is None:
            self.state = "rebuilding"
            self.metrics.full_rebuilds.labels("empty").inc()
            stats = await asyncio.to_thread(bootstrap.ensure_cache, self.builder,
                                            self.settings.cdc_url())
            current = await asyncio.to_thread(current_build, self.builder.client)
            self.build = current[0] if current else None
            if stats is not None:
                return  # our own build: nothing applied while it ran
        assert current is not None
        if self.build is not None and current[0] != self.build:
            # A full rebuild that ran beside us wrote its snapshot over what we applied
            # meanwhile: rebuild that again from MySQL now.
            await self._reapply_recent()
        self.build = current[0]

    async def _reapply_recent(self) -> None:
        horizon = time.monotonic() - self.settings.rebuild_overlap_s
        work = Work(cars={c: "" for c, t in self.recent_cars.items() if t >= horizon},
                    buyers={b: "" for b, t in self.recent_buyers.items() if t >= horizon})
        if work.is_empty():
            return
        log.info("new build: re-applying %d recent cars, %d buyers", len(work.cars),
                 len(work.buyers))
        await asyncio.to_thread(self.cache.apply, work, True)

    # ------------------------------------------------------------------ one batch
    async def _process(self, records: Records) -> None:
        self.state = "applying"
        messages = [m for batch in records.values() for m in batch]
        batch = plan(messages, self.database, self.settings.name)
        for dead in batch.dead:
            await self._dead_letter(dead)
        work = batch.work
        if not work.is_empty():
            started = time.monotonic()
            # In the generation _watch_build just read: the builder need not read it again.
            applied = await asyncio.to_thread(self.cache.apply, work, False, self.build,
                                              batch.newest)
            took = time.monotonic() - started
            if took > SLOW_BATCH_S:  # lag is a metric; a slow batch says what it was made of
                log.info("slow batch: %d messages -> %d cars, %d buyers in %.2fs (%d stale)",
                         len(messages), applied.cars, applied.buyers, took, applied.refused)
            if applied.quarantined:
                log.error("%d entities quarantined in this batch; the repair pass retries them",
                          applied.quarantined)
            self._remember(work)
        now = time.time()
        for table, count in batch.tables.items():
            self.metrics.applied.labels(table).inc(count)
        for ts_ms in batch.commit_ts_ms:
            self.metrics.lag.observe(max(0.0, now - ts_ms / 1000))
        if batch.heartbeat is not None:
            self.metrics.heartbeat_lag.set(
                max(0.0, (dt.datetime.now(dt.UTC) - batch.heartbeat).total_seconds()))
        await self._commit(records)

    def _remember(self, work: Work) -> None:
        now = time.monotonic()
        horizon = now - self.settings.rebuild_overlap_s
        for recent, ids in ((self.recent_cars, work.cars), (self.recent_buyers, work.buyers)):
            recent.update(dict.fromkeys(ids, now))
            if len(recent) > 2 * len(ids) + 10_000:
                for key in [k for k, t in recent.items() if t < horizon]:
                    del recent[key]

    async def _dead_letter(self, dead: DeadLetter) -> None:
        message = dead.message
        headers = [("error", dead.error.encode()[:2000]), ("reason", dead.reason.encode()),
                   ("topic", message.topic.encode()),
                   ("partition", str(message.partition).encode()),
                   ("offset", str(message.offset).encode())]
        await self.dead_letters.send_and_wait(self.settings.dead_letters(), message.value,
                                              key=message.key, headers=headers)
        self.metrics.dead_letters.labels(dead.reason).inc()
        log.warning("dead letter %s[%d]@%d: %s: %s", message.topic, message.partition,
                    message.offset, dead.reason, dead.error)

    async def _commit(self, records: Records) -> None:
        """Commit the batch's offsets (its writes are done) while the next batch is fetched
        and applied: the broker round trip is off the path of the next change. Commits stay
        in order, each waiting for the one before."""
        offsets = {tp: batch[-1].offset + 1 for tp, batch in records.items() if batch}
        previous = self.committing

        async def commit() -> None:
            if previous is not None:
                await previous  # never raises: each commit handles its own failure
            try:
                await self.consumer.commit(offsets)
                await self.broker.committed(offsets)
            except KafkaError as exc:
                # Partitions moved to another member mid-batch: it replays them (fenced).
                log.warning("commit refused (%s); the new owner replays the batch", exc)
            except Exception:  # a later commit covers these offsets; replaying is harmless
                log.exception("offset commit failed")

        self.committing = asyncio.create_task(commit())

    async def _committed(self) -> None:
        """Wait for the last commit (before leaving the group, so no batch is replayed)."""
        if self.committing is not None:
            await self.committing
