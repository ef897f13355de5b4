"""`cdc_worker publish`: binlog -> Kafka, one message per row change, at least once.

A session reads the binlog from the checkpoint (thread -> bounded queue), sends each row to
`{database}.{table}` keyed by its primary key, keeps up to `max_in_flight` messages unacknowledged
and saves the checkpoint (in MySQL) only at transaction boundaries whose messages are all
acknowledged. Any error ends the session; the next one starts again from the saved checkpoint,
so a broker outage or a lost MySQL connection costs duplicates, never a lost change.

A broken connection to the broker ends the session at once and the producer is closed without
retrying anything: the broker may have restarted empty, and Tansu's dynostore accepts a produce
for a topic it does not know (writing `records/<offset>.batch` objects and a watermark nobody
can read); the CreateTopics that follows resets the watermark to 0 without removing those
objects, so every later produce to the partition collides with them (`AlreadyExists`,
UnknownServerError) until enough failed attempts push the watermark past them. Hence the
order in every session: make sure the topics exist, then start a new producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.conn import CloseReason
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError
from tenacity import AsyncRetrying, retry_if_exception, wait_exponential_jitter

from carpages_cdc import bootstrap, transient
from carpages_cdc.cache.builder import CacheBuilder
from carpages_cdc.lifecycle import first_of, stray_cancel
from carpages_cdc.metrics import Metrics
from carpages_cdc.position import Checkpoint, file_index
from carpages_cdc.publish import binlog_server
from carpages_cdc.publish.binlog_reader import (
    BinlogReader,
    Boundary,
    Changes,
    Outgoing,
    ReaderStopped,
    Tick,
)
from carpages_cdc.publish.cdc_store import CdcStore, LeaseLost
from carpages_cdc.publish.handoff import Handoff
from carpages_cdc.publish.lease import Lease
from carpages_cdc.publish.window import Window
from carpages_cdc.settings import WorkerSettings
from carpages_cdc.topics import TopicMaker

log = logging.getLogger(__name__)

ROLE = "publish"


class PublishFailed(RuntimeError):
    """The broker did not acknowledge a message; the session restarts from the checkpoint."""


class BrokerConnectionLost(KafkaConnectionError):  # type: ignore[misc]
    """The producer's connection to the broker broke: the broker may have restarted empty."""


BROKEN = (CloseReason.CONNECTION_BROKEN, CloseReason.CONNECTION_TIMEOUT)


def on_broken_connection(producer: AIOKafkaProducer, lost: Any) -> None:
    """Call `lost(description)` as soon as one of the producer's broker connections breaks.

    aiokafka reconnects and resends by itself, which is what must not happen here (see the
    module docstring); it has no public hook for this, so the client's own close callback
    (which every connection it opens calls with the reason) is wrapped.
    """
    client = producer.client
    original = client._on_connection_closed

    def closed(conn: Any, reason: Any) -> None:
        original(conn, reason)
        if reason in BROKEN:
            lost(f"{conn.host}:{conn.port} {CloseReason(reason).name}")

    client._on_connection_closed = closed


def halt_producer(producer: AIOKafkaProducer, exc: BaseException) -> None:
    """Stop the producer from sending anything more and fail every batch it still holds."""
    sender = producer._sender.sender_task
    if sender is not None and not sender.done():
        sender.cancel()
    producer._message_accumulator.fail_all(exc)


async def stop_producer(producer: Any, timeout_s: float) -> None:
    """Stop a session's producer whatever state a lost broker left it in."""
    try:
        async with asyncio.timeout(timeout_s):
            await producer.stop()
    except TimeoutError:
        log.debug("producer stop timed out; the session is over anyway")
    except asyncio.CancelledError as exc:
        # A halted producer (halt_producer cancelled its sender) re-raises its cancelled
        # in-flight request from stop(): seen after a broker restart, it used to end the
        # process. The session is over either way; the next one starts a new producer.
        if not stray_cancel(exc):
            raise
        log.debug("producer stop: its halted sender's cancellation, ignored")


async def reachable(servers: str, connect_s: float = 1.0) -> bool:
    """Whether any bootstrap server accepts a TCP connection right now."""
    for server in servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            async with asyncio.timeout(connect_s):
                _, writer = await asyncio.open_connection(host.strip("[]") or "localhost",
                                                          int(port))
        except (OSError, TimeoutError, ValueError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


def is_transient(exc: BaseException) -> bool:
    """Errors a new session (same checkpoint, after a back-off) can get past."""
    if isinstance(exc, LeaseLost | binlog_server.BinlogPurged | binlog_server.BinlogMisconfigured):
        return False
    return isinstance(exc, PublishFailed) or transient.is_transient(exc)


class Publisher:
    """The active publisher of one pipeline (the caller holds the lease)."""

    def __init__(self, settings: WorkerSettings, store: CdcStore, lease: Lease,
                 make_builder: Any, metrics: Metrics, stop: asyncio.Event) -> None:
        self.settings = settings
        self.store = store
        self.lease = lease
        self.make_builder = make_builder
        self.metrics = metrics
        self.stop = stop
        self.topics = TopicMaker(settings)
        self.checkpoint: Checkpoint | None = None
        self.progress = time.monotonic()
        self.state = "starting"
        self.broker_down = False
        """The last session ended on a lost broker: the back-off ends when it answers."""
        self.episode = transient.Episode(log, "publisher")

    # ------------------------------------------------------------------ start position
    async def _snapshot(self) -> Checkpoint:
        builder: CacheBuilder | None = (self.make_builder() if self.settings.bootstrap_build
                                        else None)
        # A full build can outlast the lease: keep renewing it meanwhile (if it is lost anyway,
        # the checkpoint save at the end is refused).
        keeper = asyncio.create_task(self.lease.keep())
        try:
            return await asyncio.to_thread(bootstrap.snapshot, self.store,
                                           self.settings.cdc_url(), builder)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, LeaseLost):
                await keeper
            if builder is not None:
                builder.close()

    async def _start_position(self) -> Checkpoint:
        saved = await asyncio.to_thread(self.store.load)
        if saved is None:
            log.info("no checkpoint: snapshot first")
            return await self._snapshot()
        try:
            await asyncio.to_thread(self._ensure_available, saved)
        except binlog_server.BinlogPurged:
            if not self.settings.resnapshot_when_purged:
                raise
            log.warning("binlog purged past %s: re-snapshot (CDC_RESNAPSHOT_WHEN_PURGED)", saved)
            return await self._snapshot()
        return saved

    def _ensure_available(self, checkpoint: Checkpoint) -> None:
        conn = binlog_server.connect(self.settings.cdc_url())
        try:
            binlog_server.ensure_available(conn, checkpoint)
        finally:
            conn.close()

    async def _create_topics(self) -> None:
        conn = await asyncio.to_thread(binlog_server.connect, self.settings.cdc_url())
        try:
            names = await asyncio.to_thread(binlog_server.tables, conn,
                                            self.settings.capture_database())
        finally:
            conn.close()
        database = self.settings.capture_database()
        await self.topics.ensure([self.settings.topic(database, t) for t in names
                                  if self.settings.captures(t)] +
                                 [self.settings.heartbeat_topic(), self.settings.dead_letters()])

    # ------------------------------------------------------------------ run
    async def run(self) -> None:
        """Publish until stopped; transient failures restart the session after a back-off.

        The start position is read (or the first snapshot built) inside the retries too: a
        MySQL or Valkey outage at that moment is waited out like any other.
        """
        self.checkpoint = None  # another publisher may have moved it while we stood by
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_transient), reraise=True,
            wait=wait_exponential_jitter(self.settings.retry_initial_s, self.settings.retry_max_s),
            before_sleep=self._before_retry, sleep=self._back_off)
        async for attempt in retrying:
            with attempt:
                if self.stop.is_set():
                    return
                if self.checkpoint is None:
                    self.checkpoint = await self._start_position()
                await self._session()

    def _before_retry(self, state: Any) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self.state = "retrying"
        down = (KafkaConnectionError, NodeNotReadyError)
        self.broker_down = isinstance(exc, down) or (isinstance(exc, PublishFailed) and
                                                     isinstance(exc.__cause__, down))
        self.metrics.publish_errors.labels(type(exc).__name__).inc()
        # One warning per outage (the episode), not one per session retried during it.
        if exc is not None and self.episode.failed(exc):
            self.metrics.fault_episodes.labels(ROLE, type(exc).__name__).inc()
        log.debug("publish session failed (%s: %s); resuming from %s", type(exc).__name__,
                  exc, self.checkpoint)

    async def _back_off(self, seconds: float) -> None:
        """Sleep between sessions; cut short by a stop, or by a lost broker answering again
        (a broker back after a restart is published to within a second, whatever the back-off
        has grown to)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.25)):
                    await self.stop.wait()
            if self.broker_down and await reachable(self.settings.kafka_bootstrap_servers):
                return

    async def _session(self) -> None:
        assert self.checkpoint is not None
        await asyncio.to_thread(self._ensure_available, self.checkpoint)
        # A restarted broker may have lost its topics: create them before any producer exists
        # (a producer would write into the unknown topics, see the module docstring).
        self.topics = TopicMaker(self.settings)
        await self._create_topics()
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, acks="all",
            enable_idempotence=False, linger_ms=self.settings.producer_linger_ms,
            max_batch_size=self.settings.producer_batch_bytes,
            request_timeout_ms=self.settings.request_timeout_ms,
            client_id=f"carpages-cdc-{self.settings.name}")
        window = Window(self.settings.max_in_flight)
        queue = Handoff(asyncio.get_running_loop(), self.settings.queue_size)
        reader = BinlogReader(self.settings, self.checkpoint,
                              lambda item: queue.deliver(item, reader.stop))
        thread = threading.Thread(target=reader.run, name="binlog-reader", daemon=True)
        lost = asyncio.Event()

        def broken(what: str) -> None:
            if lost.is_set():
                return
            exc = BrokerConnectionLost(f"connection to the broker lost ({what})")
            window.failed(exc)
            halt_producer(producer, exc)
            lost.set()

        on_broken_connection(producer, broken)
        try:
            await producer.start()
            thread.start()
            self.state = "active"
            await first_of(self._pump(queue, producer, window), self._checkpointer(window),
                           self._heartbeat_rows(), self.lease.keep(),
                           self._watch(lost, window))
            await self._drain(producer, window)
        finally:
            reader.stop.set()
            # Bounded: with the broker down, pending batches fail after request_timeout_ms.
            await stop_producer(producer, self.settings.request_timeout_ms / 1000 + 5)
            if thread.is_alive():
                await asyncio.to_thread(thread.join, 10)

    @staticmethod
    async def _watch(lost: asyncio.Event, window: Window) -> None:
        await lost.wait()
        raise PublishFailed(f"broker did not acknowledge: {window.failure!r}") from window.failure

    async def _pump(self, queue: Handoff, producer: AIOKafkaProducer,
                    window: Window) -> None:
        acked = asyncio.Event()
        while not self.stop.is_set():
            if window.failure is not None:
                raise PublishFailed(f"broker did not acknowledge: {window.failure!r}") \
                    from window.failure
            item = await queue.take()
            if item is None:
                continue
            self.progress = time.monotonic()
            if isinstance(item, Changes):
                self.metrics.binlog_lag.set(max(0.0, time.time() - item.committed_at))
                for message in item.messages:
                    await self._send(message, producer, window, acked)
            elif isinstance(item, Boundary):
                window.boundary(item.position)
            elif isinstance(item, Tick):  # a master heartbeat: nothing left to read
                self.metrics.binlog_lag.set(0)
            elif isinstance(item, ReaderStopped):
                if item.error is not None:
                    raise item.error
                return

    async def _send(self, item: Outgoing, producer: AIOKafkaProducer, window: Window,
                    acked: asyncio.Event) -> None:
        while window.full and window.failure is None:
            acked.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1):
                    await acked.wait()
        if item.topic not in self.topics.known:
            await self.topics.ensure([item.topic])
        seq = window.sent()
        future = await producer.send(item.topic, item.value, key=item.key)

        def done(fut: asyncio.Future[Any]) -> None:
            if fut.cancelled():
                window.failed(asyncio.CancelledError())
            elif fut.exception() is not None:
                window.failed(fut.exception())  # type: ignore[arg-type]
            else:
                window.acked(seq)
                self.metrics.published.labels(item.table).inc()
            self.metrics.in_flight.set(window.in_flight)
            acked.set()

        future.add_done_callback(done)

    async def _checkpointer(self, window: Window) -> None:
        while True:
            await asyncio.sleep(self.settings.checkpoint_interval_s)
            await self._save(window.take_checkpoint())

    async def _save(self, checkpoint: Checkpoint | None) -> None:
        if checkpoint is None or not checkpoint.is_after(self.checkpoint):
            return
        await asyncio.to_thread(self.store.save, checkpoint)
        self.checkpoint = checkpoint
        self.episode.succeeded()  # changes flow end to end again
        self.metrics.checkpoint_file.set(file_index(checkpoint.file))
        self.metrics.checkpoint_pos.set(checkpoint.pos)

    async def _heartbeat_rows(self) -> None:
        while True:
            await asyncio.to_thread(self.store.beat)
            await asyncio.sleep(self.settings.heartbeat_interval_s)

    async def _drain(self, producer: AIOKafkaProducer, window: Window) -> None:
        """Clean stop: wait for in-flight acknowledgements, then save the final checkpoint."""
        self.state = "draining"
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.shutdown_timeout_s):
                await producer.flush()
        await self._save(window.committable if window.failure is None else None)
        log.info("publisher drained at %s", self.checkpoint)
