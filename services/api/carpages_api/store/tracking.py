"""Server-assisted client-side caching: one RESP3 connection hearing which keys changed.

`CLIENT TRACKING on BCAST PREFIX ...` makes Valkey push an `invalidate` message naming every key
under the prefixes that any client writes, expires, evicts or renames (and a null list on
FLUSHALL / FLUSHDB). Valkey queues the push before the writer's own reply, so once a writer has
its reply the push is already in this process's socket buffer: `drain()` reads it synchronously,
and a reader that drains before using its cache never serves a value older than a write whose
reply has arrived anywhere.

Correctness over availability: the tracker is `live` only while the connection is up and
answering; every disconnect, protocol surprise or unanswered heartbeat reports a reset (the cache
must forget everything) and readers bypass the cache until tracking is re-established.

The socket is raw (not an asyncio stream) precisely so that `drain()` can read it without
yielding to the event loop.

Behind Sentinel (`locate` given) the tracker connects to whatever server the sentinels name,
refuses one whose ROLE is not master, and at every heartbeat asks the sentinels again: once they
name another primary (a failover, even one this connection did not notice because the old
primary is still up), the connection is dropped and remade on the new one. Every new connection
resets the cache, so nothing read from the old primary survives a failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import libvalkey
from carpages_shared.dsn import is_sentinel, sentinel_dsn
from carpages_shared.valkey_internals import parse_url
from valkey.exceptions import ValkeyError

log = logging.getLogger(__name__)

Keys = Callable[[Sequence[bytes]], None]
"""Called with the names of keys that changed."""
Reset = Callable[[], None]
"""Called when everything must be forgotten (flush, disconnect, tracking not yet on)."""
Locate = Callable[[], Awaitable[tuple[str, int]]]
"""Where the primary is now (asks the sentinels)."""

READ_CHUNK = 1 << 16
RETRY_S = (0.05, 0.2, 1.0)
"""Back-off between reconnect attempts (the last value repeats)."""


class TrackingError(Exception):
    """The tracking connection said something it should not have."""


class Tracker:
    """One tracking connection to one Valkey server; reconnects by itself until closed."""

    def __init__(self, url: str, prefixes: Sequence[str], on_keys: Keys, on_reset: Reset,
                 timeout_s: float, heartbeat_s: float, locate: Locate | None = None) -> None:
        if is_sentinel(url):
            if locate is None:
                raise ValueError("a Sentinel URL needs `locate` to find the primary")
            dsn = sentinel_dsn(url)
            self.params: dict[str, Any] = {"username": dsn.username, "password": dsn.password}
        else:
            self.params = parse_url(url)
        if "connection_class" in self.params and "path" not in self.params:
            raise ValueError("client tracking supports plain TCP and unix sockets only")
        self.locate = locate
        self.address: tuple[str, int] | None = None
        """The server tracked (or last tracked) behind Sentinel."""
        self.prefixes = list(prefixes)
        self.on_keys, self.on_reset = on_keys, on_reset
        self.timeout_s, self.heartbeat_s = timeout_s, heartbeat_s
        self.live = False
        self._sock: socket.socket | None = None
        self._reader = libvalkey.Reader()
        self._pings_out = 0
        self._poll = select.poll()
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Connect in the background (a Valkey that is down at start-up only delays the cache)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="l1-tracking")

    async def aclose(self) -> None:
        """Stop reconnecting and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._drop("closed")

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._connect()
                attempt = 0
                await self._heartbeat()
            except (OSError, TrackingError, libvalkey.LibvalkeyError) as exc:
                log.warning("L1 tracking connection unavailable (%r); cache bypassed", exc)
            self._drop("reconnecting")
            await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
            attempt += 1

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        if "path" in self.params:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: Any = self.params["path"]
        else:
            if self.locate is not None:
                address = self.address = await self._located()
            else:
                address = (self.params.get("host", "localhost"), self.params.get("port", 6379))
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setblocking(False)
        self._sock, self._reader = sock, libvalkey.Reader()
        hello: list[Any] = ["HELLO", "3"]
        if self.params.get("password"):
            hello += ["AUTH", self.params.get("username") or "default", self.params["password"]]
        tracking: list[Any] = ["CLIENT", "TRACKING", "ON", "BCAST"]
        for prefix in self.prefixes:
            tracking += ["PREFIX", prefix]
        async with asyncio.timeout(self.timeout_s * 4):
            await loop.sock_connect(sock, address)
            await self._call(hello)
            await self._call(["CLIENT", "SETNAME", "carpages-l1-tracking"])
            if self.locate is not None:
                role = await self._call(["ROLE"])
                if not isinstance(role, list) or role[:1] != [b"master"]:
                    raise TrackingError(f"{address} is not a primary ({role!r:.60})")
            reply = await self._call(tracking)
        if reply != b"OK":
            raise TrackingError(f"CLIENT TRACKING answered {reply!r}")
        # Only from here on is every change reported: anything cached before is suspect.
        self.on_reset()
        self._pings_out = 0
        self._lost = asyncio.Event()
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)
        loop.add_reader(sock.fileno(), self.drain)
        self.live = True
        log.info("L1 tracking on %s for prefixes %s", address, self.prefixes)

    async def _located(self) -> tuple[str, int]:
        """The primary the sentinels name now; no answer is a lost link, like a dead socket."""
        assert self.locate is not None
        try:
            async with asyncio.timeout(self.timeout_s * 4):
                return await self.locate()
        except (ValkeyError, TimeoutError) as exc:
            raise TrackingError(f"the sentinels name no primary ({exc!r:.200})") from None

    async def _call(self, command: list[Any]) -> Any:
        """Send one set-up command and wait for its reply (before tracking is on)."""
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(self._sock, libvalkey.pack_command(tuple(command)))
        while (reply := self._reader.gets()) is False:
            data = await loop.sock_recv(self._sock, READ_CHUNK)
            if not data:
                raise TrackingError("connection closed during set-up")
            self._reader.feed(data)
        if isinstance(reply, libvalkey.ReplyError):
            raise TrackingError(str(reply))
        return reply

    async def _heartbeat(self) -> None:
        """PING every heartbeat_s; a PING unanswered by the next beat means the link is dead
        (a frozen server or a partition would otherwise leave the cache trusting silence)."""
        while self.live:
            self.drain()  # a busy loop may not have read the PONG yet
            if self._pings_out:
                raise TrackingError("heartbeat unanswered")
            assert self._sock is not None
            try:
                self._sock.send(libvalkey.pack_command(("PING",)))
            except BlockingIOError:
                raise TrackingError("send buffer full") from None
            self._pings_out += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.heartbeat_s):
                    await self._lost.wait()
            if self.live and self.locate is not None and await self._located() != self.address:
                raise TrackingError(f"the sentinels moved the primary away from {self.address}")
        raise TrackingError("connection lost")

    # ------------------------------------------------------------------ reading
    def drain(self) -> None:
        """Apply every message already received (called by the loop and before cache reads)."""
        sock = self._sock
        if sock is None or not self.live:
            return
        # A zero-timeout poll is the cheap "anything there?" (recv would raise BlockingIOError
        # on every request); a hang-up or error is reported as readable, so recv sees it.
        if not self._poll.poll(0):
            return
        try:
            while True:
                data = sock.recv(READ_CHUNK)
                if not data:
                    self._fail("connection closed by the server")
                    return
                self._reader.feed(data)
                if len(data) < READ_CHUNK:
                    break
        except BlockingIOError:
            pass
        except OSError as exc:
            self._fail(repr(exc))
            return
        try:
            while (message := self._reader.gets()) is not False:
                self._handle(message)
        except (libvalkey.LibvalkeyError, TrackingError) as exc:
            self._fail(repr(exc))

    def _handle(self, message: Any) -> None:
        if message == b"PONG":
            self._pings_out = 0
        elif isinstance(message, list) and message[:1] == [b"invalidate"] and len(message) == 2:
            if message[1] is None:
                self.on_reset()  # FLUSHALL / FLUSHDB
            else:
                self.on_keys(message[1])
        else:
            raise TrackingError(f"unexpected message {message!r:.200}")

    def _fail(self, why: str) -> None:
        log.warning("L1 tracking lost (%s); cache bypassed until it is back", why)
        self._drop(why)
        self._lost.set()

    def _drop(self, why: str) -> None:
        was_live, self.live = self.live, False
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()
        if was_live or why == "closed":
            self.on_reset()
