"""The listing's current (build, version), kept in process memory.

Readers use the remembered value to name the keys they read and put `HMGET meta build version`
in the same pipeline; if the answer differs they retry once with it (listing.reader). Pub/sub on
`keys.invalidations()` only refreshes the value early, saving that retry: correctness never
depends on a message arriving.

The watcher also notices when its server's (build, version) moves backwards, which only happens
when Valkey lost its data and build numbers restart: `on_reset` then drops whatever the process
keeps by those numbers (listing.cache), since the names are about to mean other contents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Final

from carpages_shared import keys

from carpages_api.store.clients import ValkeyClient

log = logging.getLogger(__name__)

META_FIELDS: Final = ("build", "version", "slugs")
"""`slugs`: the token of the current slug map (listing.cache, `slugs`)."""
POLL_S: Final = 5.0
"""How long one pub/sub read waits (the client's short socket timeout must not apply)."""
RECONNECT_S: Final = 1.0
STOP_POLL_S: Final = 0.05


def parse_meta(raw: Sequence[bytes | str | None]) -> tuple[int, int] | None:
    """HMGET meta build version ... -> (build, version), or None before the first build."""
    build, version = raw[0], raw[1]
    if build is None:
        return None
    return int(build), int(version or 0)


class Generation:
    """The last (build, version) seen; updated by readers and by the watcher."""

    def __init__(self) -> None:
        self.current: tuple[int, int] | None = None
        self.slugs: bytes | None = None
        """The slug map's token in the last meta seen (None: not written by this builder)."""
        self.on_reset: Callable[[], None] | None = None
        self._raw: list[bytes | str | None] | None = None
        self._watched: tuple[int, int] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def observe(self, raw: Sequence[bytes | str | None]) -> tuple[int, int] | None:
        """Remember the meta a pipeline returned; return it parsed."""
        if raw == self._raw and self.current is not None:
            return self.current  # the same bytes as last time (almost always)
        seen = parse_meta(raw)
        if seen is not None:
            self.current = seen
            self._raw = list(raw)
            token = raw[2] if len(raw) > 2 else None
            self.slugs = token.encode() if isinstance(token, str) else token
        return seen

    def watched(self, raw: Sequence[bytes | str | None]) -> None:
        """Observe the meta as the watcher read it (one server's stream, never backwards
        unless its data was lost)."""
        seen = self.observe(raw)
        if seen is None:
            return
        if self._watched is not None and seen < self._watched and self.on_reset is not None:
            log.warning("listing build went back from %s to %s: dropping kept copies",
                        self._watched, seen)
            self.on_reset()
        self._watched = seen

    def start(self, client: ValkeyClient, subscriber: ValkeyClient = None) -> None:
        """Start listening for invalidations on `subscriber` (default `client`) and re-reading
        the meta through `client` (valkey.asyncio; a cluster client has no pub/sub of its own)."""
        self._task = asyncio.create_task(self._watch(client, subscriber or client),
                                         name="listing-generation")

    async def stop(self) -> None:
        """Stop the listener."""
        self._stopping = True
        task, self._task = self._task, None
        # valkey-py's pub/sub read can swallow a cancellation that lands inside its own read
        # timeout; the flag ends the loop then, and the cancel is repeated until it has.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=STOP_POLL_S)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self, client: ValkeyClient, subscriber: ValkeyClient) -> None:
        # A dropped connection is retried after a pause: the readers' own meta check keeps
        # results correct meanwhile, so there is nothing to escalate.
        while not self._stopping:
            try:
                await self._listen(client, subscriber)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("listing invalidation listener: %s; reconnecting", exc)
                await asyncio.sleep(RECONNECT_S)

    async def _listen(self, client: ValkeyClient, subscriber: ValkeyClient) -> None:
        pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(keys.invalidations())
            # Read once after subscribing, so a switch made before the subscription is seen.
            self.watched(await client.hmget(keys.meta(), list(META_FIELDS)))
            while not self._stopping:
                message = await pubsub.get_message(timeout=POLL_S)
                if message is not None:
                    self.watched(await client.hmget(keys.meta(), list(META_FIELDS)))
        finally:
            await pubsub.aclose()
