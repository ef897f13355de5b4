"""The publish role's wiring: preflight, lease (standby until it is ours), liveness, SIGTERM.

`cdc_worker publish` -> cli -> `run(settings)`; the publishing itself is
carpages_cdc.publish.publisher.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from contextlib import AsyncExitStack
from typing import Any

import valkey
from carpages_shared import heap

from carpages_cdc import liveness, wiring
from carpages_cdc.lifecycle import sleep_unless, stop_on_signals, stray_cancel
from carpages_cdc.metrics import Metrics
from carpages_cdc.publish import binlog_server
from carpages_cdc.publish.cdc_store import CdcStore, LeaseLost
from carpages_cdc.publish.lease import Lease
from carpages_cdc.publish.publisher import ROLE, Publisher
from carpages_cdc.settings import WorkerSettings
from carpages_cdc.transient import backoff_s, persist
from carpages_cdc.wiring import make_builder

log = logging.getLogger(__name__)


async def run(settings: WorkerSettings) -> int:
    """Entry point of the publish role: lease, then publish until SIGTERM."""
    stop = stop_on_signals()
    metrics = Metrics()
    owner = f"{settings.instance}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    async with AsyncExitStack() as stack:
        stack.enter_context(metrics.serve(settings.metrics_port))
        store = CdcStore(settings.cdc_url(), settings.name, owner)
        stack.callback(store.close)
        client = wiring.valkey(settings, timeout_s=5)
        stack.callback(client.close)
        lease = Lease(store, settings.lease_ttl_s)
        stack.push_async_callback(lease.release)
        publisher = Publisher(settings, store, lease, lambda: make_builder(settings), metrics,
                              stop)
        beats = asyncio.create_task(_liveness(settings, client, publisher, stop))
        stack.callback(beats.cancel)
        try:
            if not await _prepare(settings, store, metrics, stop):
                return 0
        except binlog_server.BinlogMisconfigured as exc:
            log.error("%s", exc)
            return 2
        heap.settle()  # start-up is done (heap.py)
        failures = 0
        while not stop.is_set():
            publisher.state = "standby"
            if not await lease.acquire(stop, lambda owner: None):
                break
            metrics.lease_held.set(1)
            try:
                await publisher.run()
                failures = 0
            except LeaseLost as exc:
                log.warning("%s: back to standby", exc)
            except binlog_server.BinlogPurged as exc:
                log.error("%s", exc)
                return 3
            except BaseException as exc:
                if not (isinstance(exc, Exception) or stray_cancel(exc)):
                    raise  # SIGINT in a debugger, or the task really being cancelled
                # Not a known transient error (those are retried inside run): a bug or an
                # unforeseen failure. Stand by, back off and start over from the checkpoint
                # rather than exit: a crash loop would publish nothing either.
                failures += 1
                metrics.fault_episodes.labels(ROLE, "unexpected").inc()
                log.exception("publisher failed unexpectedly; starting over from the checkpoint")
                await lease.release()
                await sleep_unless(stop, backoff_s(failures, settings.retry_initial_s,
                                                   settings.retry_max_s))
            finally:
                metrics.lease_held.set(0)
    log.info("publisher stopped")
    return 0


async def _prepare(settings: WorkerSettings, store: CdcStore, metrics: Metrics,
                   stop: asyncio.Event) -> bool:
    """Preflight the binlog settings and create our tables, waiting out a MySQL that is away
    (a publisher started during a MySQL restart must not exit); False if stopped first."""
    async def prepare() -> bool:
        conn = await asyncio.to_thread(binlog_server.connect, settings.cdc_url())
        try:
            await asyncio.to_thread(binlog_server.preflight, conn)
        finally:
            conn.close()
        await asyncio.to_thread(store.create_tables)
        return True

    def episode(exc: BaseException) -> None:
        metrics.fault_episodes.labels(ROLE, type(exc).__name__).inc()

    done = await persist("publisher start-up", prepare, stop, log, settings.retry_initial_s,
                         settings.retry_max_s, episode)
    return bool(done)


async def _liveness(settings: WorkerSettings, client: Any, publisher: Publisher,
                    stop: asyncio.Event) -> None:
    """Refresh the heartbeat key while the publisher is not wedged."""
    stale_after = max(5.0, settings.binlog_heartbeat_s * 5)
    while not await sleep_unless(stop, 2.0):
        wedged = (publisher.state == "active" and
                  time.monotonic() - publisher.progress > stale_after)
        if wedged:
            continue
        try:
            await asyncio.to_thread(liveness.beat, client, ROLE, settings.instance,
                                    publisher.state, settings.heartbeat_dir,
                                    checkpoint=str(publisher.checkpoint or ""))
        except valkey.exceptions.ValkeyError as exc:
            log.debug("heartbeat key not written: %s", exc)
        except OSError as exc:  # the probe reads this file: say why it will fail
            log.warning("heartbeat file not written: %s", exc)
