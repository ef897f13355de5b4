"""Which failures are transient (retry forever, with back-off) and the episodes they form.

A transient error is one the same work gets past once a dependency is back: a lost or refused
connection to MySQL, Valkey or the broker, a timeout, a Valkey that is loading its data set or was
demoted to a replica. Everything else is a fault of the work itself (a car that cannot be built),
which must never block the stream: the applier isolates and quarantines it instead.

An *episode* is one stretch of consecutive transient failures: it is logged once when it starts
and once when it ends (with its length), and counted, instead of one line per retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pymysql
import valkey
from aiokafka.errors import KafkaError

from carpages_cdc.cache.builder import NoBuild

T = TypeVar("T")

# MySQL client/server codes that mean "the server went away or is busy", not "bad statement":
# 1040 too many connections, 1053 shutdown in progress, 1205 lock wait timeout, 1213 deadlock,
# 1927 connection killed (server shutting down), 4031 disconnected for inactivity; every client
# code (2000+: can't connect, gone away, lost connection during query) counts too.
MYSQL_TRANSIENT = frozenset({1040, 1053, 1205, 1213, 1927, 4031})

# Valkey replies that a retry gets past: LOADING (restarted with data), READONLY (failed over),
# MASTERDOWN / TRYAGAIN / CLUSTERDOWN (a topology change in progress).
VALKEY_TRANSIENT = ("LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")
CLUSTER_TRANSIENT = (valkey.exceptions.ClusterError, valkey.exceptions.TryAgainError,
                     valkey.exceptions.SlotNotCoveredError)
"""A cluster node down (ClusterDownError, MasterDownError), a slot in migration, a slot no node
serves yet: the cluster's own versions of the replies above."""


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same work later can succeed."""
    if isinstance(exc, pymysql.err.OperationalError | pymysql.err.InternalError):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        return code is None or code in MYSQL_TRANSIENT or code >= 2000
    if isinstance(exc, pymysql.err.InterfaceError):
        return True
    if isinstance(exc, valkey.exceptions.ConnectionError | valkey.exceptions.TimeoutError):
        return True  # BusyLoadingError is a ConnectionError
    if isinstance(exc, CLUSTER_TRANSIENT):
        return True  # matched by type: a cluster pipeline rewrites the message ("Command # 1…")
    if isinstance(exc, valkey.exceptions.ResponseError):
        return str(exc).startswith(VALKEY_TRANSIENT)
    return isinstance(exc, KafkaError | NoBuild | OSError | TimeoutError)


class Episode:
    """Logs and counts one run of transient failures of a loop (`what`)."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log = log
        self.what = what
        self.started: float | None = None
        self.failures = 0

    def failed(self, exc: BaseException) -> bool:
        """Record a failure; True when it starts a new episode (the caller counts it)."""
        self.failures += 1
        if self.started is not None:
            self.log.debug("%s still failing: %r", self.what, exc)
            return False
        self.started = time.monotonic()
        self.log.warning("%s failing, retrying with back-off: %r", self.what, exc)
        return True

    def succeeded(self) -> None:
        """End the episode, if one is running."""
        if self.started is None:
            return
        self.log.warning("%s recovered after %.1fs and %d failures", self.what,
                         time.monotonic() - self.started, self.failures)
        self.started = None
        self.failures = 0

    @property
    def active(self) -> bool:
        """Whether the loop is in the middle of an episode."""
        return self.started is not None


def backoff_s(failures: int, initial_s: float, cap_s: float) -> float:
    """The wait before retry number `failures` (1, 2, ...): exponential from `initial_s`,
    capped at `cap_s`, jittered over its upper half so restarted workers do not retry in step."""
    ceiling = min(cap_s, initial_s * 2 ** min(failures - 1, 10))
    return random.uniform(ceiling / 2, ceiling)


async def persist(what: str, call: Callable[[], Awaitable[T]], stop: asyncio.Event,
                  log: logging.Logger, initial_s: float, cap_s: float,
                  on_episode: Callable[[BaseException], None] | None = None) -> T | None:
    """`await call()` until it succeeds, retrying transient failures with capped exponential
    back-off (one episode logged); None if `stop` is set first. Other errors propagate."""
    episode = Episode(log, what)
    failures = 0
    while not stop.is_set():
        try:
            result = await call()
        except Exception as exc:
            if not is_transient(exc):
                raise
            failures += 1
            if episode.failed(exc) and on_episode is not None:
                on_episode(exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff_s(failures, initial_s, cap_s)):
                    await stop.wait()
            continue
        episode.succeeded()
        return result
    return None
