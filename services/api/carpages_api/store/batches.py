"""One round trip of queued commands on a plain client, with their packed bytes remembered.

A warm listing page sends the same few commands again and again (the meta check, the same
page's HMGET of cards). valkey-py's Pipeline.execute re-encodes every argument on each call
and wraps the round trip in retry and reset bookkeeping (the API's clients retry nothing);
`Batches.run` sends the queued commands over a pooled connection itself, with the bytes
valkey-py packed for the same arguments the last time, and reads the replies through the
pipeline's own response parsing, so replies and errors are exactly `pipe.execute()`'s. A
cluster client (its pipeline routes commands by slot) just runs `pipe.execute()`.
"""

from __future__ import annotations

from typing import Any, Final

from carpages_shared import valkey_internals as internals
from valkey.exceptions import ResponseError

from carpages_api.store.clients import Pipeline, ValkeyClient

MAX_PACKED: Final = 4096
"""Remembered argument lists (oldest out first); each holds a few hundred bytes."""
MAX_ARGS: Final = 256
"""Longer batches (a cold ZRANGE of a large result is not one) are packed afresh each time."""


class Batches:
    """Runs pipelines of one client kind; remembers packed commands."""

    def __init__(self) -> None:
        self._packed: dict[tuple[tuple[Any, ...], ...], list[bytes]] = {}
        self._plain_names: dict[Any, bool] = {}

    def _plain(self, pipe: Pipeline, name: Any) -> bool:
        """Whether replies to `name` are returned as read (no response callback)."""
        plain = self._plain_names.get(name)
        if plain is None:
            plain = self._plain_names[name] = not internals.has_reply_callback(pipe, name)
        return plain

    async def run(self, client: ValkeyClient, pipe: Pipeline) -> list[Any]:
        """What `pipe.execute()` returns for the commands queued on `pipe` (a non-transaction
        pipeline of `client`), raising the first error reply like it."""
        pool = internals.pool_of(client)
        if pool is None:
            replies: list[Any] = await pipe.execute()
            return replies
        stack = internals.queued_commands(pipe)
        conn = await pool.get_connection("_")
        try:
            await internals.send_packed(conn, self._pack(conn, stack))
            replies = []
            for args, options in stack:
                try:
                    if options or not self._plain(pipe, args[0]):
                        replies.append(await internals.parse_reply(pipe, conn, args[0], options))
                    else:  # what parse_reply comes down to for these
                        replies.append(await internals.read_raw_reply(conn))
                except ResponseError as exc:  # read on: the later replies are on the wire
                    replies.append(exc)
        except BaseException:
            # Replies may be left unread on the connection: never hand it out again.
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)
        internals.raise_first_error(pipe, stack, replies)
        return replies

    def _pack(self, conn: Any, stack: list[internals.Command]) -> list[bytes]:
        key = tuple(args for args, _ in stack)
        found = self._packed.get(key)
        if found is None:
            found = internals.pack(conn, key)
            if sum(len(args) for args in key) <= MAX_ARGS:
                if len(self._packed) >= MAX_PACKED:
                    del self._packed[next(iter(self._packed))]
                self._packed[key] = found
        return found
