"""The full-rebuild lock: a short lease in Valkey, renewed by a thread while the rebuild runs.

Two full rebuilds must not overlap (each takes a build number and switches `meta`). A fixed long
expiry would leave a killed builder's lock in place for minutes, during which an applier facing an
empty cache can only wait; a lease of a few seconds that its holder renews lapses soon after the
holder dies, and the next builder takes over.
"""

from __future__ import annotations

import logging
import threading
import uuid
from types import TracebackType
from typing import Any

import valkey
from carpages_shared import keys
from carpages_shared.scripts import COMPARE_AND_DELETE as RELEASE

log = logging.getLogger(__name__)

RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
         "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0")


class RebuildRunning(RuntimeError):
    """Another full rebuild holds the lock."""


class RebuildLock:
    """`with RebuildLock(client):` holds the lock for the block, renewing it meanwhile."""

    def __init__(self, client: Any, ttl_ms: int = keys.REBUILD_LOCK_TTL_MS) -> None:
        self.client = client
        self.ttl_ms = ttl_ms
        self.token = uuid.uuid4().hex
        self._done = threading.Event()
        self._keeper: threading.Thread | None = None

    def __enter__(self) -> RebuildLock:
        if not self.client.set(keys.rebuild_lock(), self.token, nx=True, px=self.ttl_ms):
            raise RebuildRunning("another full rebuild is running")
        self._keeper = threading.Thread(target=self._keep, name="rebuild-lock", daemon=True)
        self._keeper.start()
        return self

    def _keep(self) -> None:
        while not self._done.wait(self.ttl_ms / 3000):
            try:
                if not self.client.eval(RENEW, 1, keys.rebuild_lock(), self.token, self.ttl_ms):
                    log.warning("full-rebuild lock lost (expired during an outage?)")
                    return
            except valkey.ValkeyError as exc:  # the rebuild's own writes fail too; it retries
                log.debug("full-rebuild lock not renewed: %s", exc)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        if self._keeper is not None:
            self._keeper.join(timeout=5)
        try:
            self.client.eval(RELEASE, 1, keys.rebuild_lock(), self.token)
        except valkey.ValkeyError as error:  # it lapses by itself within the TTL
            log.debug("full-rebuild lock not released: %s", error)
