"""The apply role's wiring: Valkey, builder, topics, consumer, dead-letter producer, liveness.

`cdc_worker apply` -> cli -> `run(settings)`; the loop itself is carpages_cdc.apply.applier.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import valkey
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    TopicPartition,
)
from carpages_shared import heap

from carpages_cdc import liveness
from carpages_cdc.apply.applier import ROLE, Applier
from carpages_cdc.apply.cache_apply import CacheApplier
from carpages_cdc.audit import reconcile
from carpages_cdc.lifecycle import sleep_unless, stop_on_signals
from carpages_cdc.metrics import Metrics
from carpages_cdc.settings import WorkerSettings
from carpages_cdc.topics import TopicMaker, applier_topics
from carpages_cdc.transient import persist
from carpages_cdc.wiring import make_builder

log = logging.getLogger(__name__)


async def run(settings: WorkerSettings) -> int:
    """Entry point of the apply role: consume until SIGTERM, then commit and leave the group."""
    stop = stop_on_signals()
    metrics = Metrics()
    async with AsyncExitStack() as stack:
        stack.enter_context(metrics.serve(settings.metrics_port))
        builder = make_builder(settings, batch_size=settings.apply_build_batch_size)
        stack.callback(builder.close)
        cache = CacheApplier(builder, metrics, settings.fence_retries)
        topics = applier_topics(settings)
        share = settings.partition_share()
        loop = Startup()
        # Beating from here on: the broker may be away, and joining the group can take a
        # session timeout; a starting applier is not a wedged one.
        side = [asyncio.create_task(_liveness(settings, builder.client, lambda: loop.current,
                                              stop))]
        if settings.reconcile_interval_s > 0:
            side.append(asyncio.create_task(_sampled_reconcile(settings, builder, metrics, stop)))
        for task in side:
            stack.callback(task.cancel)

        def episode(exc: BaseException) -> None:
            metrics.fault_episodes.labels(ROLE, type(exc).__name__).inc()

        async def start() -> tuple[AIOKafkaProducer, AIOKafkaConsumer]:
            await TopicMaker(settings).ensure([*topics, settings.dead_letters()])
            dead_letters = await _started(AIOKafkaProducer(
                bootstrap_servers=settings.kafka_bootstrap_servers, acks="all",
                enable_idempotence=False, request_timeout_ms=settings.request_timeout_ms,
                client_id=f"carpages-cdc-dlq-{settings.instance}"))
            consumer = AIOKafkaConsumer(
                bootstrap_servers=settings.kafka_bootstrap_servers,
                group_id=settings.group_id, enable_auto_commit=False,
                group_instance_id=(settings.instance if settings.static_membership and
                                   share is None else None),
                auto_offset_reset="earliest", fetch_max_wait_ms=settings.fetch_max_wait_ms,
                session_timeout_ms=settings.session_timeout_ms,
                heartbeat_interval_ms=settings.heartbeat_interval_ms,
                client_id=f"carpages-cdc-apply-{settings.instance}")
            if share is None:
                consumer.subscribe(topics, listener=_Rebalance())
            try:
                await _started(consumer)
                if share is not None:
                    consumer.assign(await _share(consumer, topics, *share))
            except BaseException:
                await dead_letters.stop()
                await consumer.stop()
                raise
            return dead_letters, consumer

        # A broker that is away at start-up (restarting with us) is waited for, not fatal.
        clients = await persist("applier start-up", start, stop, log, settings.retry_initial_s,
                                settings.apply_backoff_max_s, episode)
        if clients is None:
            return 0
        dead_letters, consumer = clients
        stack.push_async_callback(dead_letters.stop)
        stack.push_async_callback(consumer.stop)
        await asyncio.to_thread(cache.warm)
        applier = Applier(settings, consumer, dead_letters, builder, cache, metrics, stop)
        loop.current = applier
        log.info("applier consuming %d topics as group %r", len(topics), settings.group_id)
        heap.settle()  # start-up is done (heap.py)
        await applier.run()
    log.info("applier stopped")
    return 0


C = TypeVar("C", AIOKafkaProducer, AIOKafkaConsumer)


async def _started(client: C) -> C:
    """Start an aiokafka client; on failure close it (a new one is made for the next try: a
    half-started client keeps connections and tasks)."""
    try:
        await client.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await client.stop()
        raise
    return client


async def _share(consumer: AIOKafkaConsumer, topics: list[str], k: int,
                 n: int) -> list[TopicPartition]:
    """Partitions p % n == k of every topic, from the broker's metadata (topics that do not
    exist yet are skipped: the publisher creates every captured table's topic up front)."""
    await consumer.topics()  # refreshes the metadata of every topic
    share = [TopicPartition(topic, p) for topic in topics
             for p in sorted(consumer.partitions_for_topic(topic) or ()) if p % n == k]
    log.info("applier takes %d partitions (%d/%d) without a group", len(share), k, n)
    return share


class Startup:
    """What the liveness task watches: the applier loop once it exists, start-up before."""

    def __init__(self) -> None:
        self.current: Any = self
        self.state = "starting"
        self.progress = time.monotonic()
        self.build: int | None = None


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Logs partition moves. Nothing to save on revoke: every batch is committed right after
    its writes, and a batch whose commit is refused is simply replayed by the new owner."""

    async def on_partitions_revoked(self, revoked: Any) -> None:
        log.info("partitions revoked: %d", len(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned: %d", len(assigned))


async def _liveness(settings: WorkerSettings, client: Any, current: Callable[[], Any],
                    stop: asyncio.Event) -> None:
    """Refresh the heartbeat key while the loop turns (a full rebuild counts as turning)."""
    while not await sleep_unless(stop, 2.0):
        applier = current()
        if isinstance(applier, Startup):
            applier.progress = time.monotonic()  # waiting for the broker is not being wedged
        wedged = (applier.state != "rebuilding" and
                  time.monotonic() - applier.progress > settings.liveness_stale_s)
        if wedged:
            continue
        try:
            await asyncio.to_thread(liveness.beat, client, ROLE, settings.instance,
                                    applier.state, settings.heartbeat_dir, build=applier.build)
        except valkey.exceptions.ValkeyError as exc:
            log.debug("heartbeat key not written: %s", exc)
        except OSError as exc:  # the probe reads this file: say why it will fail
            log.warning("heartbeat file not written: %s", exc)


async def _sampled_reconcile(settings: WorkerSettings, builder: Any, metrics: Metrics,
                             stop: asyncio.Event) -> None:
    """Polaris-style continuous check: a random sample of cars against MySQL, as a ratio."""
    while not await sleep_unless(stop, settings.reconcile_interval_s):
        try:
            report = await asyncio.to_thread(reconcile.reconcile, builder,
                                             settings.reconcile_sample, False,
                                             settings.reconcile_recheck_s)
        except reconcile.BuildChanging as exc:  # the gauge keeps its last meaningful value
            log.info("sampled reconcile skipped: %s", exc)
            continue
        except Exception as exc:
            log.warning("sampled reconcile failed: %s", exc)
            continue
        metrics.divergence.set(report.divergence_rate)
        log.info("sampled reconcile: %s", report.summary())
