"""The apply role's wiring: Valkey, builder, topics, consumer, dead-letter producer, liveness.

`cdc_worker apply` -> cli -> `run(settings)`; the loop itself is carpages_cdc.applier.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack
from typing import Any

import valkey
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from carpages_shared import heap

from carpages_cdc import liveness, reconcile
from carpages_cdc.applier import ROLE, Applier
from carpages_cdc.cache_apply import CacheApplier
from carpages_cdc.lifecycle import sleep_unless, stop_on_signals
from carpages_cdc.metrics import Metrics
from carpages_cdc.settings import WorkerSettings
from carpages_cdc.topics import TopicMaker, applier_topics

log = logging.getLogger(__name__)


async def run(settings: WorkerSettings) -> int:
    """Entry point of the apply role: consume until SIGTERM, then commit and leave the group."""
    from carpages_cdc.cli import make_builder

    stop = stop_on_signals()
    metrics = Metrics()
    async with AsyncExitStack() as stack:
        stack.enter_context(metrics.serve(settings.metrics_port))
        builder = make_builder(settings, batch_size=settings.apply_build_batch_size)
        stack.callback(builder.close)
        cache = CacheApplier(builder, metrics, settings.fence_retries)
        topics = applier_topics(settings)
        await TopicMaker(settings).ensure([*topics, settings.dead_letters()])
        dead_letters = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers, acks="all",
            enable_idempotence=False, request_timeout_ms=settings.request_timeout_ms,
            client_id=f"carpages-cdc-dlq-{settings.instance}")
        await dead_letters.start()
        stack.push_async_callback(dead_letters.stop)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.group_id, enable_auto_commit=False,
            auto_offset_reset="earliest", fetch_max_wait_ms=settings.fetch_max_wait_ms,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            client_id=f"carpages-cdc-apply-{settings.instance}")
        consumer.subscribe(topics, listener=_Rebalance())
        await consumer.start()
        stack.push_async_callback(consumer.stop)
        applier = Applier(settings, consumer, dead_letters, builder, cache, metrics, stop)
        side = [asyncio.create_task(_liveness(settings, builder.client, applier, stop))]
        if settings.reconcile_interval_s > 0:
            side.append(asyncio.create_task(_sampled_reconcile(settings, builder, metrics, stop)))
        for task in side:
            stack.callback(task.cancel)
        log.info("applier consuming %d topics as group %r", len(topics), settings.group_id)
        heap.settle()  # start-up is done (heap.py)
        await applier.run()
    log.info("applier stopped")
    return 0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Logs partition moves. Nothing to save on revoke: every batch is committed right after
    its writes, and a batch whose commit is refused is simply replayed by the new owner."""

    async def on_partitions_revoked(self, revoked: Any) -> None:
        log.info("partitions revoked: %d", len(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned: %d", len(assigned))


async def _liveness(settings: WorkerSettings, client: Any, applier: Applier,
                    stop: asyncio.Event) -> None:
    """Refresh the heartbeat key while the loop turns (a full rebuild counts as turning)."""
    while not await sleep_unless(stop, 2.0):
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
        except Exception as exc:
            log.warning("sampled reconcile failed: %s", exc)
            continue
        metrics.divergence.set(report.divergence_rate)
        log.info("sampled reconcile: %s", report.summary())
