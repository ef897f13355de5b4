"""The API's Valkey Cluster client: round trips queue for a turn instead of failing in bursts.

valkey-py's asyncio cluster client opens up to `max_connections` connections per node and then
raises MaxConnectionsError. That is a ConnectionError, so it also makes the client re-read the
slot map: a burst of concurrent requests became 503s and topology refreshes. The client cannot
wait for a connection (it has no blocking pool), so this subclass admits at most
`max_connections` round trips at a time. Each one (a command, or a pipeline split over nodes)
holds at most one connection per node, so no node runs out. Extra round trips wait in arrival
order for up to `wait_s`, then fail as the standalone pool's do (store.queueing_pool). While turns
are free, admission costs one counter decrement.

It also fails fast, as a standalone client does when Valkey is away: upstream retries a failed
round trip `cluster_error_retry_attempts` times (3 by default), each after a topology refresh
and a 0.25 s pause, so a frozen node held a request for several socket timeouts (3 s measured in
the cluster chaos run) instead of answering 503 at once. `connect` sets one attempt; the next
request meets the refreshed slot map. And a connection that a node's outage closed under a
round trip surfaces from upstream's internals as AttributeError (its writer is gone) or
RuntimeError (its handler closed) instead of a ConnectionError: both are turned into one, so the
request gets the 503 an outage gets, not a 500.

And one frozen node costs only the round trips that need it. Upstream answers a node's timeout by
re-reading the slot map the hard way: it disconnects every node (failing round trips in flight on
healthy nodes), asks the nodes in slot-map order (the frozen slot-0 owner first, one socket timeout
each time) and runs COMMAND on the first primary (the frozen one again), so with that node frozen
requests for keys on healthy nodes failed or waited seconds (the cluster chaos run: 2 of 40
unanswered in 3 s). Here a re-read keeps every node's connections, asks the nodes that failed
least recently first, makes the default node (keyless commands) a primary that did not just fail,
loads the command table once, and a re-read no node answers is a ConnectionError (a 503).
Nor is a timeout or CLUSTERDOWN retried (NOT_RETRIED): upstream's one retry waited on the
frozen node a second time (1 s instead of 0.5 for a 503), and a failed pipeline slept 0.25 s
before raising.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import valkey.asyncio
from carpages_shared import valkey_internals as internals
from valkey.asyncio.cluster import ClusterPipeline
from valkey.exceptions import ClusterDownError, ValkeyClusterException, ValkeyError
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError


class GatedCluster(valkey.asyncio.ValkeyCluster):  # type: ignore[misc]  # valkey is untyped
    """ValkeyCluster with at most `max_connections` round trips in flight."""

    # Upstream's own state, which initialize() below shares with the methods it does not replace.
    _initialize: bool
    _lock: asyncio.Lock | None
    _closed: bool

    def __init__(self, *args: Any, wait_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wait_s = wait_s
        self._turns = asyncio.Semaphore(kwargs.get("max_connections", 2**31))
        self._failed_at: dict[str, float] = {}
        """When a round trip to each node (by name) last failed to connect or timed out."""
        self._failed_since_read: set[str] = set()
        """Nodes that failed since the slot map was last read: they get fresh objects."""
        self._commands_loaded = False
        internals.keep_connections_on_refresh(self)

    def _failed_recently(self, name: str) -> float:
        return self._failed_at.get(name, 0.0)

    async def initialize(self) -> GatedCluster:
        """Read the slot map when it is due (first use, or after a failure asked for it)."""
        if self._closed:
            raise ValkeyClusterException("ValkeyCluster is closed")
        if self._initialize:
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                if self._initialize:
                    await self._read_slot_map()
                    self._initialize = False
        return self

    async def _read_slot_map(self) -> None:
        internals.order_startup_nodes(self, self._failed_recently)
        failed, self._failed_since_read = self._failed_since_read, set()
        stale = internals.forget_nodes(self, failed)
        try:
            await internals.reload_slot_map(self)
        except ValkeyClusterException as exc:  # no node answered, or none with every slot
            self._failed_since_read |= failed  # still to be renewed by the next read
            raise ValkeyConnectionError(f"no cluster slot map: {exc}") from exc
        # Their round trips in flight fail now rather than at their timeouts.
        await asyncio.gather(*(node.disconnect() for node in stale), return_exceptions=True)
        self.set_default_node(min(self.get_primaries(),
                                  key=lambda node: self._failed_recently(node.name)))
        if not self._commands_loaded:  # the command table does not change while we run
            await internals.load_command_table(self)
            self._commands_loaded = True

    async def _reset_for_reinitialize(self) -> None:
        """Ask for a slot-map re-read before the next round trip (without disconnecting)."""
        self._initialize = True

    def note_failure(self, node_name: str) -> None:
        """A round trip to this node timed out or lost its connection: ask it last, and give
        it a fresh object (connection pool) at the next slot-map read, which is now due."""
        self._failed_at[node_name] = time.monotonic()
        self._failed_since_read.add(node_name)
        self._initialize = True

    async def _execute_command(self, target_node: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super()._execute_command(target_node, *args, **kwargs)
        except ValkeyTimeoutError as exc:
            self.note_failure(target_node.name)
            raise not_retried(exc) from exc
        except ValkeyConnectionError:
            # Refused or reset (or out of connections, which only a failed send leaks past the
            # gate): a retry after the re-read costs little and reaches a promoted replica.
            self.note_failure(target_node.name)
            raise
        except ClusterDownError as exc:  # upstream has asked for a re-read and slept 0.25 s
            raise not_retried(exc) from exc

    async def _take_turn(self) -> None:
        if not self._turns.locked():
            await self._turns.acquire()  # free: returns at once
            return
        try:
            async with asyncio.timeout(self.wait_s):
                await self._turns.acquire()
        except TimeoutError:
            raise ValkeyConnectionError("No connection available.") from None

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """One command (or a fan-out over nodes), in its turn."""
        await self._take_turn()
        try:
            return await super().execute_command(*args, **kwargs)
        except BROKEN_CONNECTION as exc:
            raise _broken(exc) from exc
        finally:
            self._turns.release()

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        """A cluster pipeline whose `execute` waits for a turn (same checks as upstream)."""
        if shard_hint:
            raise ValkeyClusterException("shard_hint is deprecated in cluster mode")
        if transaction:
            raise ValkeyClusterException("transaction is deprecated in cluster mode")
        return _GatedPipeline(self)


class NodeTimedOut(ValkeyTimeoutError):  # type: ignore[misc]  # valkey is untyped
    """A node did not answer within the socket timeout."""


class NodeUnreachable(ValkeyConnectionError):  # type: ignore[misc]
    """A pipeline's node refused or dropped the connection."""


class ClusterDown(ClusterDownError):  # type: ignore[misc]
    """The cluster refuses queries (CLUSTERDOWN: a primary with no replica is out)."""


NOT_RETRIED: dict[type[BaseException], type[BaseException]] = {
    ValkeyTimeoutError: NodeTimedOut, ValkeyConnectionError: NodeUnreachable,
    ClusterDownError: ClusterDown}
"""Upstream retries (and, for pipelines, sleeps 0.25 s before raising) only its exact error
types, so these subclasses are raised at once: a retry would wait on a frozen node again, and a
cluster that is down stays down for longer than a request may wait."""


def not_retried(exc: BaseException) -> BaseException:
    """`exc` as the subclass upstream does not retry (itself if it is not one of those)."""
    fresh = NOT_RETRIED.get(type(exc))
    return exc if fresh is None else fresh(*exc.args)


class _GatedPipeline(ClusterPipeline):  # type: ignore[misc]
    async def _execute(self, client: GatedCluster, stack: Any, raise_on_error: bool = True,
                       allow_redirections: bool = True) -> Any:
        # A failed node's error is raised as a subclass, so upstream's execute() neither sleeps
        # nor retries; the slot map is re-read before the next round trip all the same.
        try:
            return await super()._execute(client, stack, raise_on_error=raise_on_error,
                                          allow_redirections=allow_redirections)
        except (ValkeyConnectionError, ValkeyTimeoutError, ClusterDownError) as exc:
            if type(exc) not in NOT_RETRIED:
                raise
            for key in internals.failed_command_keys(stack, (ValkeyConnectionError,
                                                             ValkeyTimeoutError)):
                with contextlib.suppress(ValkeyError, ValkeyClusterException):
                    client.note_failure(client.get_node_from_key(key).name)
            await client._reset_for_reinitialize()
            raise not_retried(exc) from exc

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        client: GatedCluster = internals.pipeline_client(self)
        await client._take_turn()
        try:
            return await super().execute(*args, **kwargs)
        except BROKEN_CONNECTION as exc:
            raise _broken(exc) from exc
        finally:
            client._turns.release()


BROKEN_CONNECTION = (AttributeError, RuntimeError)
"""What upstream's cluster internals raise when a node's connection closed mid round trip."""


def _broken(exc: BaseException) -> ValkeyConnectionError:
    return ValkeyConnectionError(f"a cluster node's connection closed: {exc!r}")
